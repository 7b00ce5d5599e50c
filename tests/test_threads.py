"""The ops' thread pool (csrc/operators/thread_pool.h): every op gives the
same bits on 1, 2 and 3 threads, on the pool and on at::parallel_for, with
a simulated slow thread, from concurrent Python threads and in a forked
child; the runtime switch."""
import multiprocessing
import os
import threading
import time

import pytest
import torch

import sqbert_kernels as sk


@pytest.fixture
def threads_restored():
    previous = torch.get_num_threads(), sk.cpu_threading()
    yield
    torch.set_num_threads(previous[0])
    sk.set_cpu_threading(previous[1])
    sk.ops._set_slow_thread(1, 1.0)


def op_cases():
    """{name: fn()}: each op on sizes with many tasks (two batch entries,
    ragged lengths)."""
    g = torch.Generator().manual_seed(0)

    def rand(*shape):
        return torch.randn(*shape, generator=g)

    out = {}
    x = rand(2, 256, 200)
    w = rand(512, 64, 1) / 8
    b = rand(512)
    packed = sk.pack_pw_weight(w, b, 4)
    out["conv"] = lambda: sk.grouped_pw_conv(x, w, b, 4)
    out["conv packed gelu"] = lambda: sk.grouped_pw_conv_packed(x, packed, 512, "gelu")
    w2 = rand(256, 128, 1) / 11
    packed2 = sk.pack_pw_weight(w2, None, 4)
    out["ffn packed"] = lambda: sk.grouped_pw_ffn_packed(x, packed, packed2, 512, 256, "gelu")
    q8 = sk.quantize_pw_weight(w, b, 4)
    out["conv q8"] = lambda: sk.grouped_pw_conv_q8(x, q8, 512, "gelu")
    q, k, v = (rand(2, 192, 300) for _ in range(3))
    mask = rand(2, 1, 1, 300)
    out["attention"] = lambda: sk.fused_attention(q, k, v, mask, 6)
    qv, kv, vv = (rand(1, 192, 500) for _ in range(3))
    offsets = torch.tensor([0, 37, 37, 300, 500])
    out["attention varlen"] = lambda: sk.fused_attention_varlen(qv, kv, vv, offsets, 6)
    xl, gamma, beta = rand(3, 192, 700), rand(192), rand(192)
    residual = xl.flip(2)
    out["add_layernorm"] = lambda: sk.add_layernorm(xl, residual, gamma, beta, 1e-12)
    return out


CASES = op_cases()


def one_thread(fn):
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn()
    finally:
        torch.set_num_threads(previous)


EXPECTED = {name: one_thread(fn) for name, fn in CASES.items()}


@pytest.mark.parametrize("runtime", ["pool", "openmp"])
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("slow", [1.0, 3.0])
def test_same_bits_on_any_thread_count(threads_restored, runtime, threads, slow):
    sk.set_cpu_threading(runtime)
    torch.set_num_threads(threads)
    sk.ops._set_slow_thread(1, slow)
    for name, fn in CASES.items():
        for _ in range(3):
            assert torch.equal(fn(), EXPECTED[name]), (name, runtime, threads, slow)


@pytest.mark.parametrize("runtime", ["pool", "openmp"])
def test_scratch_left_by_larger_calls(threads_restored, runtime):
    # Each thread keeps its scratch buffers (csrc/operators/scratch.h): what
    # larger calls of other shapes leave in them must not reach a result.
    sk.set_cpu_threading(runtime)
    torch.set_num_threads(2)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 2200, 300, generator=g) * 1e30
    w = torch.randn(1024, 1100, 1, generator=g)
    packed = sk.pack_pw_weight(w, None, 2)
    q = torch.randn(1, 128, 1000, generator=g).fill_(float("nan"))
    for _ in range(2):
        sk.grouped_pw_conv_packed(x, packed, 1024, "gelu")
        sk.grouped_pw_ffn_packed(x, packed, sk.pack_pw_weight(w[:, :512], None, 2), 1024, 1024, "gelu")
        sk.grouped_pw_conv_q8(x, sk.quantize_pw_weight(w, None, 2), 1024)
        sk.fused_attention(q, q, q, torch.zeros(1, 1, 1000, 1000), 2)
        sk.fused_attention_varlen(q, q, q, torch.tensor([0, 999, 1000]), 2)
        for name, fn in CASES.items():
            assert torch.equal(fn(), EXPECTED[name]), (name, runtime)


def test_runtime_switch(threads_restored):
    assert sk.cpu_threading() == "pool"  # the default (SQBERT_THREADS=openmp picks OpenMP)
    assert sk.set_cpu_threading("openmp") == "pool"
    assert sk.cpu_threading() == "openmp"
    assert sk.set_cpu_threading("pool") == "openmp"
    with pytest.raises(RuntimeError, match="set_cpu_threading"):
        sk.set_cpu_threading("tbb")


def test_workers_take_tasks(threads_restored):
    sk.set_cpu_threading("pool")
    torch.set_num_threads(2)
    sk.ops._thread_pool_stats(reset=True)
    for _ in range(20):
        CASES["conv packed gelu"]()
    stats = sk.ops._thread_pool_stats(reset=True)
    assert stats["calls"] == 20
    assert stats["tasks"] > 0 and stats["worker_tasks"] <= stats["tasks"]
    torch.set_num_threads(1)
    CASES["conv packed gelu"]()
    assert sk.ops._thread_pool_stats()["calls"] == 0  # one thread: inline, no pool


@pytest.mark.parametrize("runtime", ["pool", "openmp"])
def test_pool_scope(threads_restored, runtime):
    sk.set_cpu_threading(runtime)
    torch.set_num_threads(2)
    sk.ops._thread_pool_stats(reset=True)
    with sk.pool_scope():
        # On the pool torch's own ops run on this thread alone, the
        # package's on the pool with the two threads.
        assert torch.get_num_threads() == (1 if runtime == "pool" else 2)
        with sk.pool_scope():  # nested: unchanged
            assert torch.get_num_threads() == (1 if runtime == "pool" else 2)
        # Only this thread's count changes: a thread started meanwhile
        # takes torch's process-wide setting.
        other = []
        thread = threading.Thread(target=lambda: other.append(torch.get_num_threads()))
        thread.start()
        thread.join()
        assert other == [2]
        for name, fn in CASES.items():
            assert torch.equal(fn(), EXPECTED[name]), name
    assert torch.get_num_threads() == 2
    stats = sk.ops._thread_pool_stats(reset=True)
    assert stats["calls"] == (len(CASES) if runtime == "pool" else 0)
    with pytest.raises(ValueError, match="raised inside"):
        with sk.pool_scope():
            raise ValueError("raised inside")
    assert torch.get_num_threads() == 2
    torch.set_num_threads(1)
    with sk.pool_scope():  # one thread: nothing to share
        CASES["conv packed gelu"]()
    assert sk.ops._thread_pool_stats()["calls"] == 0


def mkl_max_threads():
    """MKL's thread count for this thread (what its vector math, such as the
    pooler's tanh, runs on), or None where torch has no MKL."""
    import ctypes
    path = os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so")
    try:
        get = ctypes.CDLL(path).MKL_Get_Max_Threads
    except (OSError, AttributeError):
        return None
    return get()


def test_pool_scope_holds_mkl_at_one_thread(threads_restored):
    if not torch.backends.mkl.is_available() or mkl_max_threads() is None:
        pytest.skip("torch has no MKL here")
    sk.set_cpu_threading("pool")
    torch.set_num_threads(2)
    assert mkl_max_threads() == 2
    with sk.pool_scope():
        assert mkl_max_threads() == 1
    assert mkl_max_threads() == 2
    torch.set_num_threads(3)  # the process-wide count again, not one left on this thread
    assert mkl_max_threads() == 3


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_pool_scope_releases_openmp_threads(threads_restored):
    # OpenMP's threads, spinning after torch's parallel regions, would take
    # the cores the pool's workers need: entering the scope ends the team.
    sk.set_cpu_threading("pool")
    torch.set_num_threads(2)
    big = torch.ones(1 << 22)

    def threads():
        return len(os.listdir("/proc/self/task"))

    big.add_(1)
    with_team = threads()
    with sk.pool_scope():
        deadline = time.monotonic() + 2
        while threads() >= with_team and time.monotonic() < deadline:
            time.sleep(0.01)  # exiting threads leave /proc a moment later
        assert threads() == with_team - 1
    big.add_(1)
    assert threads() == with_team  # torch's next parallel region starts it again
    assert torch.equal(big, torch.full_like(big, 3))


def test_set_op_threads_refuses_bad_counts():
    for threads, torch_threads in ((-1, 1), (2**40, 1), (0, 0)):
        with pytest.raises(RuntimeError, match="_set_op_threads: expected"):
            torch.ops.sqbert._set_op_threads(threads, torch_threads)


def test_model_forward_in_pool_scope(threads_restored):
    sk.set_cpu_threading("pool")
    torch.set_num_threads(2)
    model = sk.SqueezeBertModel(sk.SqueezeBertConfig(vocab_size=100, hidden_size=64, embedding_size=64, num_hidden_layers=2,
                                                     num_attention_heads=4, intermediate_size=128)).eval()
    seen = []
    model.embeddings.register_forward_hook(lambda *_: seen.append(torch.get_num_threads()))
    model.encoder.layers[0].register_forward_hook(lambda *_: seen.append(torch.get_num_threads()))
    ids = torch.randint(0, 100, (2, 40))
    with torch.no_grad():
        pooled = model(ids).pooler_output
        assert seen == [1, 1] and torch.get_num_threads() == 2
        sk.set_cpu_threading("openmp")
        assert torch.equal(model(ids).pooler_output, pooled)
    assert seen[2:] == [2, 2]


@pytest.mark.parametrize("runtime", ["pool", "openmp"])
@pytest.mark.parametrize("slow", [1.0, 2.0])
def test_concurrent_python_callers(threads_restored, runtime, slow):
    sk.set_cpu_threading(runtime)
    torch.set_num_threads(2)
    sk.ops._set_slow_thread(1, slow)
    names = list(CASES)
    errors = []

    def worker(i):
        try:
            for j in range(15):
                name = names[(i + j) % len(names)]
                assert torch.equal(CASES[name](), EXPECTED[name]), name
        except Exception as e:  # noqa: BLE001  (reported below, in the main thread)
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def _child(queue):
    # torch's own OpenMP regions hang in a child forked after the parent used
    # them (libgomp): the ops run on two threads, the comparison on one.
    torch.set_num_threads(2)
    outputs = {name: fn() for name, fn in CASES.items()}
    torch.set_num_threads(1)
    queue.put(all(torch.equal(y, EXPECTED[name]) for name, y in outputs.items()))


def test_forked_child_runs_the_ops(threads_restored):
    sk.set_cpu_threading("pool")
    torch.set_num_threads(2)
    CASES["attention"]()  # the parent's pool has its workers
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child, args=(queue,))
    child.start()
    child.join(timeout=120)
    if child.exitcode is None:
        child.kill()
        child.join()
    assert child.exitcode == 0
    assert queue.get(timeout=5)
