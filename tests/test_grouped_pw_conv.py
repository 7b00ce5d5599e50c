"""torch.ops.sqbert.grouped_pw_conv against torch.nn.functional.conv1d: what
only the x86 suite checks (the ISAs agreeing, torch.compile, export, opcheck,
threads, FLOPs). Sizes around the tiles, bad input, autograd and the packed
op on every backend: test_shared_ops.py."""
import threading

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

import sqbert_kernels as sk
from cases import make, reference

op = torch.ops.sqbert.grouped_pw_conv


def assert_matches(y, x, w, b, groups):
    ref = reference(x, w, b, groups)
    assert y.dtype == torch.float32 and y.shape == ref.shape and y.is_contiguous()
    torch.testing.assert_close(y.double(), ref, rtol=1e-5, atol=1e-5)


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


def test_mixed_devices():
    x, w, b = make(1, 8, 8, 4, 5)
    with pytest.raises(RuntimeError, match=r"on one device, got \[device\(type='cpu'\), device\(type='meta'\)"):
        op(x, w.to("meta"), b, 4)


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
    # Inference only, but registered at the Autograd key (a kernel that
    # refuses inputs that require grad): what opcheck asks of an op.
    torch.library.opcheck(torch.ops.sqbert.grouped_pw_conv_packed, (x.requires_grad_(True), packed, 9),
                          test_utils="test_autograd_registration")


def test_packed_op_under_torch_compile():
    x, w, b = make(2, 16, 8, 4, 9)
    packed = sk.pack_pw_weight(w, b, 4)

    @torch.compile(fullgraph=True, backend="inductor")
    def f(x):
        return torch.relu(sk.grouped_pw_conv_packed(x, packed, 8)) * 2

    want = torch.relu(F.conv1d(x, w, b, groups=4)) * 2
    torch.testing.assert_close(f(x), want, rtol=1e-5, atol=1e-5)
    x.requires_grad_(True)
    with torch.no_grad():
        torch.testing.assert_close(f(x), want, rtol=1e-5, atol=1e-5)
    # Traced with an x that requires grad: the same error as in eager mode.
    with pytest.raises(RuntimeError, match=r"grouped_pw_conv_packed: inference only .* x requires grad"):
        f(x)


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


def cpu_flags():
    """The CPU's feature flags as Linux lists them (empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((set(line.split(":", 1)[1].split()) for line in f if line.startswith("flags")), set())
    except OSError:
        return set()


def test_selected_isa_is_the_best_available():
    assert sk.cpu_isa() == sk.cpu_isas()[0]
    assert sk.cpu_isas()[-1] == "scalar"
    flags = cpu_flags()
    if {"avx512f", "avx2", "fma"} <= flags:
        assert sk.cpu_isa() == "avx512f"
    elif {"avx2", "fma"} <= flags:
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
