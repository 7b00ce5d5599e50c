"""torch.ops.sqbert.grouped_pw_conv against torch.nn.functional.conv1d."""
import threading

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

import sqbert_kernels as sk
from cases import CONV_BAD_SHAPES, make, reference

op = torch.ops.sqbert.grouped_pw_conv


def assert_matches(y, x, w, b, groups):
    ref = reference(x, w, b, groups)
    assert y.dtype == torch.float32 and y.shape == ref.shape and y.is_contiguous()
    torch.testing.assert_close(y.double(), ref, rtol=1e-5, atol=1e-5)


# Per-group output channels, input channels and lengths around the tiles
# (mr 4/6/8, nr 4/8/16): below, at, and past one and two tiles.
@pytest.mark.parametrize("m", [1, 3, 4, 5, 6, 7, 8, 9, 13, 17])
@pytest.mark.parametrize("length", [1, 3, 4, 7, 8, 15, 16, 17, 33])
def test_remainders_m_and_n(isa, m, length):
    x, w, b = make(2, 2 * 5, 2 * m, 2, length)
    assert_matches(op(x, w, b, 2), x, w, b, 2)


@pytest.mark.parametrize("k", [1, 2, 3, 7, 16, 31, 64])
@pytest.mark.parametrize("groups", [1, 2, 3, 4])
def test_remainders_k_and_groups(isa, k, groups):
    x, w, b = make(3, groups * k, groups * 7, groups, 19)
    assert_matches(op(x, w, b, groups), x, w, b, groups)


@pytest.mark.parametrize("k", [1024, 1025, 2100])
def test_deep_groups_accumulate_across_slices(isa, k):
    # Past 1024 input channels a group runs in depth slices that accumulate
    # into the output tile: one, two and three slices, in place and packed.
    x, w, b = make(2, 2 * k, 2 * 7, 2, 19)
    assert_matches(op(x, w, b, 2), x, w, b, 2)
    assert_matches(sk.grouped_pw_conv_packed(x, sk.pack_pw_weight(w, b, 2), 14), x, w, b, 2)


@pytest.mark.parametrize("cin,cout", [(768, 768), (768, 3072), (3072, 768)])
def test_squeezebert_shapes(isa, cin, cout):
    x, w, b = make(1, cin, cout, 4, 128)
    assert_matches(op(x, w, b, 4), x, w, b, 4)


def test_isa_backends_agree():
    x, w, b = make(2, 96, 120, 4, 37)
    results = []
    previous = sk.cpu_isa()
    try:
        for isa in sk.cpu_isas():
            sk.set_cpu_isa(isa)
            results.append(op(x, w, b, 4))
    finally:
        sk.set_cpu_isa(previous)
    for y in results[1:]:
        torch.testing.assert_close(y, results[0], rtol=1e-5, atol=1e-5)


def test_two_dimensional_weight_and_no_bias(isa):
    x, w, _ = make(2, 12, 9, 3, 10, bias=False)
    y = op(x, w.squeeze(-1), None, 3)
    assert_matches(y, x, w, None, 3)
    torch.testing.assert_close(y, F.conv1d(x, w, None, groups=3), rtol=1e-5, atol=1e-5)


def test_non_contiguous_inputs(isa):
    # x stored [B, L, C] and viewed as [B, C, L]: positions are strided.
    x = torch.randn(2, 21, 16).transpose(1, 2)
    # x with gaps between batches and channels, positions contiguous.
    x_sliced = torch.randn(4, 40, 30)[::2, 3:19, 5:26]
    w = torch.randn(8, 12, 3)[:, ::3, 1:2]  # strided weight, [8, 4, 1]
    b = torch.randn(16)[::2]
    for xi in (x, x_sliced):
        assert not xi.is_contiguous()
        assert_matches(op(xi, w, b, 4), xi, w, b, 4)


@pytest.mark.parametrize("shape", [(0, 8, 5), (3, 8, 0), (0, 8, 0)])
def test_empty(isa, shape):
    x = torch.randn(shape)
    w = torch.randn(6, 4, 1)
    y = op(x, w, torch.randn(6), 2)
    assert y.shape == (shape[0], 6, shape[2])


@pytest.mark.parametrize("x_shape,w_shape,b_shape,groups,message", CONV_BAD_SHAPES)
def test_bad_shapes(x_shape, w_shape, b_shape, groups, message):
    x, w = torch.randn(x_shape), torch.randn(w_shape)
    b = None if b_shape is None else torch.randn(b_shape)
    with pytest.raises(RuntimeError, match=message):
        op(x, w, b, groups)


@pytest.mark.parametrize("which", ["x", "weight", "bias"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.int32])
def test_bad_dtypes(which, dtype):
    args = dict(zip(["x", "weight", "bias"], make(1, 8, 8, 4, 5)))
    args[which] = args[which].to(dtype)
    with pytest.raises(RuntimeError, match=f"{which} of dtype float32, got {str(dtype).split('.')[-1]}"):
        op(args["x"], args["weight"], args["bias"], 4)


def test_mixed_devices():
    x, w, b = make(1, 8, 8, 4, 5)
    with pytest.raises(RuntimeError, match=r"on one device, got \[device\(type='cpu'\), device\(type='meta'\)"):
        op(x, w.to("meta"), b, 4)


def test_autograd_matches_conv1d(isa):
    x, w, b = make(2, 12, 15, 3, 11)
    for t in (x, w, b):
        t.requires_grad_(True)
    grad = torch.randn(2, 15, 11)
    ours = torch.autograd.grad(op(x, w, b, 3), (x, w, b), grad)
    ref = torch.autograd.grad(F.conv1d(x, w, b, groups=3), (x, w, b), grad)
    for a, r in zip(ours, ref):
        torch.testing.assert_close(a, r, rtol=1e-5, atol=1e-5)


def test_autograd_two_dimensional_weight_without_bias():
    x = torch.randn(2, 8, 6, requires_grad=True)
    w = torch.randn(4, 4, requires_grad=True)
    grad = torch.randn(2, 4, 6)
    ours = torch.autograd.grad(op(x, w, None, 2), (x, w), grad)
    ref = torch.autograd.grad(F.conv1d(x, w.unsqueeze(-1), None, groups=2), (x, w), grad)
    for a, r in zip(ours, ref):
        torch.testing.assert_close(a, r, rtol=1e-5, atol=1e-5)


def test_fine_tuning_step_lowers_loss():
    torch.manual_seed(1)
    x = torch.randn(16, 8, 10)
    target = F.conv1d(x, torch.randn(8, 2, 1), groups=4)
    w = torch.zeros(8, 2, 1, requires_grad=True)
    b = torch.zeros(8, requires_grad=True)
    opt = torch.optim.SGD([w, b], lr=0.5)
    losses = []
    for _ in range(50):
        loss = F.mse_loss(op(x, w, b, 4), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.01 * losses[0]


@pytest.mark.parametrize("bias", [True, False])
def test_opcheck(bias):
    x, w, b = make(2, 12, 9, 3, 7, bias=bias)
    x.requires_grad_(True)
    w.requires_grad_(True)
    torch.library.opcheck(op, (x, w, b, 3))
    torch.library.opcheck(op, (x.detach(), w.detach().squeeze(-1), b, 3))


def test_opcheck_packed():
    x, w, b = make(2, 12, 9, 3, 7)
    packed = sk.pack_pw_weight(w, b, 3)
    torch.library.opcheck(torch.ops.sqbert.pack_pw_weight, (w, b, 3))
    torch.library.opcheck(torch.ops.sqbert.grouped_pw_conv_packed, (x, packed, 9))


def test_torch_compile_fullgraph():
    x, w, b = make(2, 16, 8, 4, 9)

    @torch.compile(fullgraph=True, backend="inductor")
    def f(x, w, b):
        return torch.relu(op(x, w, b, 4)) * 2

    torch.testing.assert_close(f(x, w, b), torch.relu(F.conv1d(x, w, b, groups=4)) * 2,
                               rtol=1e-5, atol=1e-5)


def test_torch_export():
    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv1d(16, 8, 1, groups=4)

        def forward(self, x):
            return op(x, self.conv.weight, self.conv.bias, 4)

    m = M()
    x = torch.randn(2, 16, 9)
    ep = torch.export.export(m, (x,))
    assert any(n.target is torch.ops.sqbert.grouped_pw_conv.default for n in ep.graph.nodes)
    torch.testing.assert_close(ep.module()(x), m.conv(x), rtol=1e-5, atol=1e-5)


def test_packed_matches_unpacked(isa):
    x, w, b = make(3, 24, 30, 3, 21)
    packed = sk.pack_pw_weight(w, b, 3)
    mr = sk.cpu_gemm_tile()[0]
    assert packed.dtype == torch.uint8 and packed.shape == (3, 64 + -(-10 // mr) * 9 * mr * 4)
    assert_matches(sk.grouped_pw_conv_packed(x, packed, 30), x, w, b, 3)
    assert_matches(sk.grouped_pw_conv_packed(x, sk.pack_pw_weight(w, None, 3), 30), x, w, None, 3)


def test_packed_bad_input():
    x, w, b = make(1, 8, 8, 4, 5)
    packed = sk.pack_pw_weight(w, b, 4)
    with pytest.raises(RuntimeError, match=r"x with 8 channels .* got 12"):
        sk.grouped_pw_conv_packed(torch.randn(1, 12, 5), packed, 8)
    for wrong in (40, 6, 4, 0, -8):
        with pytest.raises(RuntimeError, match=rf"expected out_channels 8 \(packed_weight holds 8 .* got {wrong}$"):
            sk.grouped_pw_conv_packed(x, packed, wrong)
    with pytest.raises(RuntimeError, match=r"packed_weight from pack_pw_weight \(uint8 .* got float32 of shape \[4, 2, 3\]"):
        sk.grouped_pw_conv_packed(x, torch.randn(4, 2, 3), 8)


def test_set_cpu_isa_rejects_unknown():
    with pytest.raises(RuntimeError, match=r"expected one of the ISAs .* got 'sse9'"):
        sk.set_cpu_isa("sse9")


def test_python_cpu_isa_follows_set_cpu_isa():
    previous = sk.set_cpu_isa("scalar")
    try:
        assert sk.cpu_isa() == torch.ops.sqbert.cpu_isa() == "scalar"
        torch.ops.sqbert.set_cpu_isa(previous)
        assert sk.cpu_isa() == torch.ops.sqbert.cpu_isa() == previous
    finally:
        sk.set_cpu_isa(previous)


def test_selected_isa_is_the_best_available():
    assert sk.cpu_isa() == sk.cpu_isas()[0]
    assert sk.cpu_isas()[-1] == "scalar"
    if torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512"):
        assert sk.cpu_isa() == "avx2"


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_thread_counts_give_same_result(threads):
    x, w, b = make(2, 768, 768, 4, 130)
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        y = op(x, w, b, 4)
    finally:
        torch.set_num_threads(previous)
    assert_matches(y, x, w, b, 4)


def test_concurrent_python_threads():
    cases = [make(1 + i % 3, 8 * (i + 1), 4 * (i + 2), 4, 17 + i) for i in range(6)]
    expected = [reference(x, w, b, 4) for x, w, b in cases]
    errors = []

    def worker(i):
        try:
            for _ in range(20):
                x, w, b = cases[i]
                torch.testing.assert_close(op(x, w, b, 4).double(), expected[i], rtol=1e-5, atol=1e-5)
        except Exception as e:  # noqa: BLE001  (reported below, in the main thread)
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(cases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_flop_counter():
    x, w, b = make(2, 768, 3072, 4, 128)
    with FlopCounterMode(display=False) as counter:
        op(x, w, b, 4)
    assert counter.get_total_flops() == 2 * 2 * 128 * 768 * 3072 // 4
    packed = sk.pack_pw_weight(w, b, 4)
    with FlopCounterMode(display=False) as counter:
        sk.grouped_pw_conv_packed(x, packed, 3072)
    assert counter.get_total_flops() == 2 * 2 * 128 * 768 * 3072 // 4
