"""The benchmark's baselines compute the update they claim to (no timing is asserted, ever).

Each workload of bench/specs/ runs at a small batch: the plain and hand-optimized NumPy
steps and PyTorch's eager step must give the float64 oracle's one-step update, and the
oracle's gradients must equal torch autograd's. The bench script's pieces run in --quick
sizes so a broken import or table shows up here rather than in `make bench`.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
baselines = importlib.import_module("baselines")
workloads = importlib.import_module("workloads")
KEYS, load_workload = workloads.KEYS, workloads.load_workload


def _load_script():
    """bench/bench.py under a name of its own (`bench` alone would be the folder)."""
    spec = importlib.util.spec_from_file_location("bench_script", BENCH / "bench.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


bench = _load_script()
SMALL_BATCH = 8


@pytest.fixture(params=KEYS)
def work(request: pytest.FixtureRequest):
    return load_workload(request.param, batch=SMALL_BATCH)


def _one_step(impl: baselines.Impl) -> tuple[float, dict[str, np.ndarray]]:
    loss = impl.step(*impl.args)
    return loss, impl.params()


@pytest.mark.parametrize("make", [baselines.make_plain, baselines.make_fast])
def test_numpy_baselines_match_the_oracle(work, make) -> None:
    want_loss, want = baselines.reference_update(work)
    loss, after = _one_step(make(work))
    assert baselines.update_error(work, after, want) <= baselines.tolerance(work.spec.dtype)
    assert loss == pytest.approx(want_loss, rel=1e-5)


def test_fast_and_plain_agree_over_several_steps(work) -> None:
    fast, plain = baselines.make_fast(work), baselines.make_plain(work)
    for _ in range(5):
        expected = plain.step(*plain.args)
        assert fast.step(*fast.args) == pytest.approx(expected, rel=1e-4, abs=1e-5)
    got, want = fast.params(), plain.params()
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-5)


def test_fast_baseline_keeps_the_bias_unit_row(work) -> None:
    """The [0 ... 0 1] rows under hidden weights must survive training unchanged."""
    fast = baselines.make_fast(work)
    for _ in range(3):
        fast.step(*fast.args)
    assert set(fast.params()) == set(work.params)
    for name, value in fast.params().items():
        assert value.shape == work.params[name].shape
        assert value.dtype == work.params[name].dtype


def test_oracle_gradients_equal_torch_autograd(work) -> None:
    torch = pytest.importorskip("torch")
    params64 = {
        k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in work.params.items()
    }
    X, Y = torch.tensor(work.X, dtype=torch.float64), torch.tensor(work.Y, dtype=torch.float64)
    A = X
    for layer, act in enumerate(work.spec.activations, start=1):
        Z = A @ params64[f"W{layer}"].T + params64[f"b{layer}"]
        A = {"relu": torch.relu, "sigmoid": torch.sigmoid}.get(act, lambda z: z)(Z)
    if work.spec.loss == "cross_entropy":
        loss = -(Y * torch.log_softmax(A, dim=1)).sum(dim=1).mean()
    else:
        loss = ((A - Y) ** 2).mean()
    loss.backward()
    p64 = {k: v.astype(np.float64) for k, v in work.params.items()}
    X64, Y64 = work.X.astype(np.float64), work.Y.astype(np.float64)
    value, grads = baselines.plain_loss_and_grads(
        work.spec.activations, work.spec.loss, p64, X64, Y64
    )
    assert value == pytest.approx(loss.item(), rel=1e-12)
    for name, grad in grads.items():
        np.testing.assert_allclose(grad, params64[name].grad.numpy(), rtol=1e-10, atol=1e-12)


def test_torch_eager_matches_the_oracle(work) -> None:
    pytest.importorskip("torch")
    want_loss, want = baselines.reference_update(work)
    loss, after = _one_step(baselines.make_torch(work))
    assert baselines.update_error(work, after, want) <= baselines.tolerance(work.spec.dtype)
    assert loss == pytest.approx(want_loss, rel=1e-5)


def test_sklearn_matches_the_oracle_on_cross_entropy(work) -> None:
    pytest.importorskip("sklearn")
    impl = baselines.make_sklearn(work)
    if not impl.checked:
        assert impl.note  # a different loss is said, not hidden
        return
    want_loss, want = baselines.reference_update(work)
    loss, after = _one_step(impl)
    assert baselines.update_error(work, after, want) <= baselines.tolerance(work.spec.dtype)
    assert loss == pytest.approx(want_loss, rel=1e-5)


def test_update_error_sees_a_wrong_gradient(work) -> None:
    _, want = baselines.reference_update(work)
    doubled = {k: 2 * want[k] - work.params[k] for k in want}  # twice the update
    assert baselines.update_error(work, doubled, want) == pytest.approx(1.0)


def test_fast_step_does_not_allocate_with_the_batch() -> None:
    small = baselines.make_fast(load_workload("w2", batch=16))
    large = baselines.make_fast(load_workload("w2", batch=64))
    once, twice = bench.steady_allocation(small), bench.steady_allocation(large)
    assert twice <= once <= bench.ALLOC_LIMIT


def test_call_counting() -> None:
    work = load_workload("w1")
    assert baselines.count_calls(baselines.make_fast(work)) > 10


def test_check_keeps_agreeing_implementations() -> None:
    work = load_workload("w3", batch=SMALL_BATCH)
    result = bench.Result(work)
    impls = [baselines.make_fast(work), baselines.make_plain(work)]
    assert bench.check(work, impls, result) == impls
    assert all(text.startswith("ok") for text in result.error.values())


def test_quick_pieces_run(capsys: pytest.CaptureFixture[str]) -> None:
    args = bench.parse_args(["--quick", "--workloads", "w1", "--rounds", "1", "--block", "0.001"])
    assert args.keys == ["w1"] and args.quick
    assert bench.gemm_peak(64, repeats=1) > 0
    before = bench.blas_threads()
    assert bench.gemm_peak(64, repeats=1, threads=1) > 0
    assert bench.blas_threads() == before  # the one-thread peak leaves the count as it was
    assert bench.numpy_call_cost() > 0
    work = load_workload("w1")
    impls = [baselines.make_fast(work), baselines.make_plain(work)]
    samples, loaded = bench.time_blocks(impls, rounds=2, block=0.001)
    assert {name: len(values) for name, values in samples.items()} == {
        "numpy-fast": 2,
        "numpy-plain": 2,
    }
    assert loaded == {}
    result = bench.Result(work, seconds={"numpy-fast": 1e-5, "numpy-plain": 2e-5})
    result.spread = {"numpy-fast": 0.1, "numpy-plain": 0.1}
    result.samples = {"numpy-fast": [1e-5, 2e-5, 1e-5], "numpy-plain": [2e-5, 2e-5, 3e-5]}
    assert bench.ratio(result, "numpy-plain", "numpy-fast") == 2.0  # per round: 2, 1, 3
    bench.print_workload(result, {"jax-jit": "not installed"})
    rows = dict(bench.targets([result], bench.FAST, peak=100.0, per_call=1e-6, cli={}))
    assert rows["W4 GFLOP/s >= 75% of GEMM peak"] == "n/a"
    assert "W1" in capsys.readouterr().out


def test_loaded_rounds_follow_the_quiet_ones(capsys: pytest.CaptureFixture[str]) -> None:
    work = load_workload("w1")
    impls = [baselines.make_fast(work)]
    load = bench.Load()
    try:
        samples, loaded = bench.time_blocks(impls, rounds=2, block=0.001, load=load)
    finally:
        load.close()
    assert load.process.returncode is not None  # the busy process is gone
    assert len(samples["numpy-fast"]) == len(loaded["numpy-fast"]) == 2
    result = bench.Result(work, seconds={"numpy-fast": 1e-5}, spread={"numpy-fast": 0.1})
    result.samples = {"numpy-fast": [1e-5, 2e-5, 1e-5]}
    result.loaded = {"numpy-fast": [2e-5, 2e-5, 4e-5]}
    assert bench.load_ratio(result, "numpy-fast") == 2.0  # medians: 2e-5 / 1e-5
    bench.print_workload(result, {})
    assert "load/quiet" in capsys.readouterr().out
    rows = dict(bench.load_targets([result], bench.FAST, peak=100.0))
    assert rows["W1 loaded / quiet <= 1.3"] == "MISS 2.00"
    assert rows["W4 loaded GFLOP/s >= 45% of quiet GEMM peak"] == "n/a"


def test_unknown_workload_is_refused() -> None:
    with pytest.raises(SystemExit):
        bench.parse_args(["--workloads", "w9"])
