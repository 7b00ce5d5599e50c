"""What the test suites share (the x86 CPU suite, the Triton interpreter
tests, and tests/aarch64 under qemu): convolution and feed-forward inputs,
the float64 references, and bad-input cases (every backend raises the same
RuntimeError messages). Plain helpers: no fixtures, no conftest (the
backends and their fixture: backends.py; the tests every suite runs:
test_shared_ops.py)."""
import torch
import torch.nn.functional as F


def make(batch, cin, cout, groups, length, bias=True):
    """Random x [batch, cin, length], weight [cout, cin/groups, 1] scaled to
    keep outputs near 1, and bias [cout] (or None)."""
    x = torch.randn(batch, cin, length)
    w = torch.randn(cout, cin // groups, 1) / max(1, cin // groups) ** 0.5
    b = torch.randn(cout) if bias else None
    return x, w, b


def reference(x, w, b, groups):
    """conv1d(x, w, b, groups=groups) in float64, so the float32 result is
    judged against exact math: one batched matmul over the groups (the same
    sums as conv1d, whose float64 path is some 50x slower at these sizes, and
    emulated 100x slower again under qemu)."""
    batch, cin, length = x.shape
    cout = w.shape[0]
    k = cin // groups
    y = torch.matmul(w.double().reshape(groups, cout // groups, k),
                     x.double().reshape(batch, groups, k, length)).reshape(batch, cout, length)
    return y if b is None else y + b.double()[:, None]


def ffn_inputs(batch, groups, k, hidden, m, length):
    """x and the (weight, bias) of a feed-forward block's two convolutions:
    k -> hidden -> m channels per group."""
    x, w1, b1 = make(batch, groups * k, groups * hidden, groups, length)
    _, w2, b2 = make(1, groups * hidden, groups * m, groups, 1)
    return x, (w1, b1), (w2, b2)


def ffn_reference(x, first, second, groups, activation):
    """The two convolutions in float64, through the activation between them."""
    h = reference(x, *first, groups)
    return reference(F.gelu(h) if activation == "gelu" else h, *second, groups)


# x shape, weight shape, bias shape or None, groups, message (a regex).
CONV_BAD_SHAPES = [
    ((1, 8, 5), (8, 2, 1), None, 0, r"groups > 0, got 0"),
    ((1, 8, 5), (8, 2, 1), None, -4, r"groups > 0, got -4"),
    ((1, 8, 5), (9, 2, 1), None, 3, r"in_channels \(8\) divisible by groups \(3\)"),
    ((1, 8, 5), (6, 2, 1), None, 4, r"out_channels \(6\) divisible by groups \(4\)"),
    ((1, 8, 5), (8, 4, 1), None, 4, r"weight of shape \[out_channels, 2\].*got \[8, 4, 1\]"),
    ((1, 8, 5), (8, 2, 3), None, 4, r"got \[8, 2, 3\]"),
    ((1, 8, 5), (8,), None, 4, r"got \[8\]"),
    ((1, 8, 5), (8, 2, 1), (7,), 4, r"bias of shape \[8\], got \[7\]"),
    ((1, 8, 5), (8, 2, 1), (8, 1), 4, r"bias of shape \[8\], got \[8, 1\]"),
    ((8, 5), (8, 2, 1), None, 4, r"x of shape \[batch, in_channels, length\], got \[8, 5\]"),
    ((1, 1, 8, 5), (8, 2, 1), None, 4, r"got \[1, 1, 8, 5\]"),
]

# q, k, v shapes, mask shape or None, num_heads, message (a regex).
ATTENTION_BAD_INPUT = [
    (((1, 8, 5),) * 3, None, 0, r"num_heads > 0, got 0"),
    (((1, 8, 5),) * 3, None, 3, r"channels \(8\) divisible by num_heads \(3\)"),
    (((1, 8, 5), (1, 8, 6), (1, 8, 5)), None, 2, r"k of the same shape as q \[1, 8, 5\], got \[1, 8, 6\]"),
    (((1, 8, 5), (1, 8, 5), (2, 8, 5)), None, 2, r"v of the same shape as q"),
    (((8, 5),) * 3, None, 2, r"q of shape \[batch, channels, length\], got \[8, 5\]"),
    (((1, 8, 5),) * 3, (1, 1, 1, 4), 2, r"mask broadcastable to .*\[1, 2, 5, 5\], got \[1, 1, 1, 4\]"),
    (((1, 8, 5),) * 3, (3, 1, 1, 5), 2, r"got \[3, 1, 1, 5\]"),
    (((1, 8, 5),) * 3, (1, 1, 1, 1, 5), 2, r"got \[1, 1, 1, 1, 5\]"),
]

# fused_attention_varlen: q, k, v shape, seq_offsets (a list, or a tensor's
# values and dtype), num_heads, message (a regex). T = 5 positions unless said.
VARLEN_BAD_INPUT = [
    ((1, 8, 5), [0, 3, 2, 5], 2, r"non-decreasing seq_offsets, got seq_offsets\[2\] = 2 < seq_offsets\[1\] = 3"),
    ((1, 8, 5), [0, 5, 5, 4, 5], 2, r"non-decreasing .* seq_offsets\[3\] = 4 < seq_offsets\[2\] = 5"),
    ((1, 8, 5), [0, 7], 2, r"seq_offsets in \[0, 5\] \(q's length\), got seq_offsets\[1\] = 7"),
    ((1, 8, 5), [0, -1, 5], 2, r"seq_offsets in \[0, 5\] .* got seq_offsets\[1\] = -1"),
    ((1, 8, 5), [0, 2**40], 2, r"got seq_offsets\[1\] = 1099511627776"),
    ((1, 8, 5), [2, 5], 2, r"seq_offsets\[0\] == 0 \(the first sequence starts at position 0\), got 2"),
    ((1, 8, 5), [0, 3], 2, r"seq_offsets\[-1\] == q's length \(5\): the sequences cover every position, got 3"),
    ((1, 8, 0), [0, 0, 1], 2, r"seq_offsets in \[0, 0\]"),
    ((1, 8, 5), ([0.0, 5.0], "float32"), 2, r"seq_offsets of dtype int32 or int64, got float32"),
    ((1, 8, 5), ([0, 5], "int16"), 2, r"seq_offsets of dtype int32 or int64, got int16"),
    ((1, 8, 5), ([0, 5], "bool"), 2, r"seq_offsets of dtype int32 or int64, got bool"),
    ((1, 8, 5), ([[0, 5]], "int64"), 2, r"seq_offsets of shape \[num_sequences \+ 1\], got \[1, 2\]"),
    ((1, 8, 5), ([], "int64"), 2, r"seq_offsets of shape \[num_sequences \+ 1\], got \[0\]"),
    ((1, 8, 5), (0, "int64"), 2, r"seq_offsets of shape \[num_sequences \+ 1\], got \[\]"),
    ((2, 8, 5), [0, 5], 2, r"q of shape \[1, channels, total_length\] \(the sequences one after another in a "
                           r"batch of 1\), got \[2, 8, 5\]"),
    ((8, 5), [0, 5], 2, r"q of shape \[batch, channels, length\], got \[8, 5\]"),
    ((1, 8, 5), [0, 5], 3, r"channels \(8\) divisible by num_heads \(3\)"),
    ((1, 8, 5), [0, 5], 0, r"num_heads > 0, got 0"),
]


def varlen_offsets(spec):
    """seq_offsets of a VARLEN_BAD_INPUT case: int64 from a list, or the
    values and dtype named."""
    if isinstance(spec, list):
        return torch.tensor(spec, dtype=torch.int64)
    values, dtype = spec
    return torch.tensor(values, dtype=getattr(torch, dtype))


def assert_close_where_real(got, want, mask, **tolerances):
    """assert_close, but for a per-position output (leading dims those of
    the [batch, length] attention mask, or of a multiple-choice mask
    [batch, choices, length] flattened) only at the real positions: a padded
    batch runs on its real tokens, and the model holds 0 at padded positions
    where Hugging Face holds what it computed there."""
    if mask is not None and mask.dim() >= 2 and got.dim() >= 2:
        keep = mask.reshape(-1, mask.shape[-1]) != 0
        if tuple(got.shape[:2]) == tuple(keep.shape):
            got, want = got[keep], want[keep]
    torch.testing.assert_close(got, want, **tolerances)
