"""The packed-weight format: every field of the header is what pack_pw_weight
was given, the ops run a packed tensor on the kernel its header names, and a
tensor whose header lies (forged, corrupted, truncated, from another kernel
or format) is a RuntimeError that says what was expected, never a crash.
(That a packing runs on its kernel after set_cpu_isa: test_shared_ops.py.)"""
import struct
import threading
import time

import pytest
import torch

import sqbert_kernels as sk
from cases import make, reference

FIELDS = ("magic", "version", "header_bytes", "dtype", "kernel", "mr", "groups", "out_channels", "in_channels",
          "panels", "has_bias")
KERNEL_IDS = {"scalar": 1, "avx2": 2, "neon": 3, "avx512f": 4}
TILES = {"scalar": 4, "avx2": 6, "neon": 8, "avx512f": 8}


def header(packed, row=0):
    return dict(zip(FIELDS, struct.unpack("<11I", packed[row, :44].numpy().tobytes())))


def fnv1a(data: bytes) -> int:
    h = 2166136261
    for byte in data:
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    return h


def forge(packed, **fields):
    """packed with header fields replaced in every row and the checksum made
    to match: a header that lies consistently."""
    forged = packed.clone()
    head = bytearray(forged[0, :64].numpy().tobytes())
    for name, value in fields.items():
        struct.pack_into("<I", head, 4 * FIELDS.index(name), value)
    struct.pack_into("<I", head, 60, fnv1a(bytes(head[:60])))
    forged[:, :64] = torch.frombuffer(head, dtype=torch.uint8)
    return forged


def test_header_describes_the_weights(isa):
    _, w, b = make(1, 24, 30, 3, 5)
    packed = sk.pack_pw_weight(w, b, 3)
    mr = TILES[isa]
    panels = -(-10 // mr)
    assert packed.dtype == torch.uint8 and packed.shape == (3, 64 + panels * 9 * mr * 4)
    assert header(packed) == {"magic": 0x50425153, "version": 1, "header_bytes": 64, "dtype": 1,
                              "kernel": KERNEL_IDS[isa], "mr": mr, "groups": 3, "out_channels": 30,
                              "in_channels": 8, "panels": panels, "has_bias": 1}
    assert all(torch.equal(packed[g, :64], packed[0, :64]) for g in range(3))
    assert header(sk.pack_pw_weight(w, None, 3))["has_bias"] == 0
    assert fnv1a(packed[0, :60].numpy().tobytes()) == struct.unpack("<I", packed[0, 60:64].numpy().tobytes())[0]


def test_pack_for_a_named_kernel(isa):
    # Whatever kernel is selected, weights packed for `isa` run on it.
    x, w, b = make(2, 12, 20, 4, 19)
    assert sk.cpu_gemm_tile(isa)[0] == TILES[isa]
    for selected in sk.cpu_isas():
        previous = sk.set_cpu_isa(selected)
        try:
            packed = sk.pack_pw_weight(w, b, 4, isa)
        finally:
            sk.set_cpu_isa(previous)
        assert header(packed)["kernel"] == KERNEL_IDS[isa]
        y = sk.grouped_pw_conv_packed(x, packed, 20)
        torch.testing.assert_close(y.double(), reference(x, w, b, 4), rtol=1e-5, atol=1e-5)
    with pytest.raises(RuntimeError, match=r"pack_pw_weight: expected one of the ISAs this build and CPU support "
                                           r"\(.*\), got 'sse9'"):
        sk.pack_pw_weight(w, b, 4, "sse9")
    with pytest.raises(RuntimeError, match=r"cpu_gemm_tile: expected one of the ISAs .* got 'sse9'"):
        sk.cpu_gemm_tile("sse9")


def lies():
    """(name, forge(packed) -> tensor, message) for a packing of 8 x 2 x 4."""
    missing = "neon" if "neon" not in sk.cpu_isas() else "avx2"
    return [
        ("other kernel", lambda p: forge(p, kernel=KERNEL_IDS[missing]),
         rf"weights packed for the {missing} kernel .* \(pack them again here\)"),
        ("unknown kernel", lambda p: forge(p, kernel=99), r"weights packed for an unknown kernel"),
        ("newer format", lambda p: forge(p, version=2), r"format version 1, got version 2"),
        ("other header size", lambda p: forge(p, header_bytes=128), r"format version 1, got version 1"),
        ("int8 dtype", lambda p: forge(p, dtype=2),
         r"float32 packed weights \(from pack_pw_weight\), got int8 packed weights \(from quantize_pw_weight\)"),
        ("unknown dtype", lambda p: forge(p, dtype=7),
         r"float32 packed weights \(from pack_pw_weight\), got packed weights of an unknown data type \(data type 7\)"),
        ("mr", lambda p: forge(p, mr=header(p)["mr"] + 1), r"consistent packed-weight header"),
        ("groups", lambda p: forge(p, groups=2), r"consistent packed-weight header, got one of 2 groups"),
        ("zero groups", lambda p: forge(p, groups=0), r"consistent packed-weight header, got one of 0 groups"),
        ("out_channels not divisible", lambda p: forge(p, out_channels=9), r"consistent packed-weight header"),
        ("more channels, same bytes", lambda p: forge(p, out_channels=8 * 40, panels=-(-80 // header(p)["mr"])),
         r"bytes per group .* got \d+ \(truncated or padded\)"),
        ("deeper, same bytes", lambda p: forge(p, in_channels=4000), r"truncated or padded"),
        ("huge depth", lambda p: forge(p, in_channels=0xFFFFFFFF), r"truncated or padded"),
        ("truncated", lambda p: p[:, :-4], r"truncated or padded"),
        ("padded", lambda p: torch.cat([p, p[:, :4]], 1), r"truncated or padded"),
        ("header only", lambda p: p[:, :64].contiguous(), r"truncated or padded"),
        ("shorter than a header", lambda p: p[:, :63].contiguous(), r"with a packed-weight header, got one of \[4, 63\]"),
        ("a group dropped", lambda p: p[:3].contiguous(), r"consistent packed-weight header, got one of 4 groups"),
        ("no groups", lambda p: p[:0], r"got one of \[0, \d+\] bytes"),
        ("row headers differ", lambda p: torch.cat([p[:2], forge(p, has_bias=0)[2:]]),
         r"the same header at the start of every group's row, got a different one in row 2"),
        ("not packed", lambda p: torch.zeros_like(p), r"packed weights, got bytes without a packed-weight header"),
        ("float tensor", lambda p: p.float(), r"uint8 of shape \[groups, bytes per group\]\), got float32"),
        ("flattened", lambda p: p.flatten(), r"uint8 of shape \[groups, bytes per group\]\), got uint8 of shape \[\d+\]"),
    ]


@pytest.mark.parametrize("name, lie, message", lies(), ids=[case[0] for case in lies()])
def test_lying_packed_weights_are_refused(name, lie, message):
    x = torch.randn(2, 8, 5)
    packed = sk.pack_pw_weight(torch.randn(8, 2, 1), torch.randn(8), 4)
    bad = lie(packed)
    with pytest.raises(RuntimeError, match=r"grouped_pw_conv_packed: expected packed_weight .*" + message):
        sk.grouped_pw_conv_packed(x, bad, 8)
    second = sk.pack_pw_weight(torch.randn(8, 2, 1), None, 4)
    with pytest.raises(RuntimeError, match=r"grouped_pw_ffn_packed: expected packed_w1 .*" + message):
        sk.grouped_pw_ffn_packed(x, bad, second, 8, 8)
    w1 = sk.pack_pw_weight(torch.randn(8, 2, 1), None, 4)
    bad2 = lie(sk.pack_pw_weight(torch.randn(8, 2, 1), torch.randn(8), 4))
    with pytest.raises(RuntimeError, match=r"grouped_pw_ffn_packed: expected packed_w2 .*" + message):
        sk.grouped_pw_ffn_packed(x, w1, bad2, 8, 8)


def test_every_corrupted_header_byte_is_refused():
    x = torch.randn(1, 8, 5)
    packed = sk.pack_pw_weight(torch.randn(8, 2, 1), torch.randn(8), 4)
    for row in (0, 3):
        for byte in range(64):
            bad = packed.clone()
            bad[row, byte] ^= 0x10
            with pytest.raises(RuntimeError, match=r"expected packed_weight to be"):
                sk.grouped_pw_conv_packed(x, bad, 8)


@pytest.mark.parametrize("packed", [torch.empty(0, 1, 3, 6), torch.empty(0, 100, dtype=torch.uint8),
                                    torch.empty(0, 0, dtype=torch.uint8)], ids=["float", "bytes", "empty"])
def test_zero_groups_are_refused(packed):
    # Once a division by zero (SIGFPE) that killed the process.
    x = torch.randn(1, 8, 5)
    with pytest.raises(RuntimeError, match=r"expected packed_weight"):
        sk.grouped_pw_conv_packed(x, packed, 8)
    good = sk.pack_pw_weight(torch.randn(8, 2, 1), None, 4)
    with pytest.raises(RuntimeError, match=r"expected packed_w1"):
        sk.grouped_pw_ffn_packed(x, packed, good, 8, 8)
    with pytest.raises(RuntimeError, match=r"expected packed_w2"):
        sk.grouped_pw_ffn_packed(x, good, packed, 8, 8)


def test_views_at_any_offset_run():
    x, w, b = make(2, 12, 20, 4, 9)
    packed = sk.pack_pw_weight(w, b, 4)
    want = sk.grouped_pw_conv_packed(x, packed, 20)
    shifted = torch.cat([torch.zeros(3, dtype=torch.uint8), packed.flatten()])[3:].view(packed.shape)
    assert shifted.data_ptr() % 4 != 0
    assert torch.equal(sk.grouped_pw_conv_packed(x, shifted, 20), want)
    strided = torch.stack([packed, packed], 2)[:, :, 0]
    assert not strided.is_contiguous()
    assert torch.equal(sk.grouped_pw_conv_packed(x, strided, 20), want)


def test_pack_refuses_sizes_past_the_format():
    with pytest.raises(RuntimeError, match=r"pack_pw_weight: sizes past the packed format's 32-bit fields"):
        sk.pack_pw_weight(torch.empty(2**32 + 4, 0, 1), None, 4)


@pytest.mark.skipif(len(sk.cpu_isas()) < 2, reason="one CPU kernel on this machine")
def test_ops_and_model_are_right_while_another_thread_switches_isa():
    # Packed ops once validated one read of the selected kernel and ran with a
    # second: a switch in between walked a 4-row packing with 6-row panels
    # (segfaults, wrong results). Now a packed tensor runs on its own kernel,
    # and the unpacked ops and the model read the selection once per call.
    x, w, b = make(2, 24, 48, 4, 37)
    packed = sk.pack_pw_weight(w, b, 4)
    second = sk.pack_pw_weight(torch.randn(24, 12, 1), None, 4)
    want_packed = sk.grouped_pw_conv_packed(x, packed, 48)
    want_ffn = sk.grouped_pw_ffn_packed(x, packed, second, 48, 24)
    want = reference(x, w, b, 4)
    model = sk.SqueezeBertModel(sk.SqueezeBertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2,
                                                     num_attention_heads=4, intermediate_size=64, embedding_size=32,
                                                     max_position_embeddings=40)).eval()
    ids = torch.randint(0, 50, (2, 23))
    with torch.no_grad():
        want_model = model(ids).last_hidden_state
    stop = threading.Event()
    isas = sk.cpu_isas()

    def switch():
        i = 0
        while not stop.is_set():
            sk.set_cpu_isa(isas[i % len(isas)])
            i += 1

    previous = sk.cpu_isa()
    thread = threading.Thread(target=switch)
    thread.start()
    try:
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            assert torch.equal(sk.grouped_pw_conv_packed(x, packed, 48), want_packed)
            torch.testing.assert_close(sk.grouped_pw_conv(x, w, b, 4).double(), want, rtol=1e-5, atol=1e-5)
            assert torch.equal(sk.grouped_pw_ffn_packed(x, packed, second, 48, 24), want_ffn)
            with torch.no_grad():
                torch.testing.assert_close(model(ids).last_hidden_state, want_model, rtol=1e-4, atol=1e-4)
    finally:
        stop.set()
        thread.join()
        sk.set_cpu_isa(previous)
