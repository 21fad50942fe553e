"""BLAS threads in generated train_steps (issue 15): chosen per product from its shape, the
user's count respected, nothing looked up or set at import, results unchanged.

Counts are observed in subprocesses (tests/blas_threads_probe.py) with a clean environment:
`make test` pins OPENBLAS_NUM_THREADS=1 for pytest, a count the modules must leave alone,
so in-process there is nothing to observe. Nothing here times anything.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from derive import codegen
from derive import spec as specs

ROOT = Path(__file__).resolve().parents[1]
PROBE = Path(__file__).with_name("blas_threads_probe.py")
DIGITS = ROOT / "generated" / "digits.py"  # 64-128-10, adam, float32, batch 64
BENCH_SPECS = sorted((ROOT / "bench" / "specs").glob("*.toml"))
USER_VARIABLES = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")


@pytest.fixture(scope="module")
def digits64(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The digits module built in float64, written to a temporary folder."""
    spec = specs.load(ROOT / "generated" / "specs" / "digits.toml")
    path = tmp_path_factory.mktemp("float64") / "digits64.py"
    path.write_text(codegen.render_module(dataclasses.replace(spec, dtype="float64")))
    return path


def probe(module: Path, start: int, limit: int | None = None, **env: str) -> dict:
    """What tests/blas_threads_probe.py saw, run without the user's thread variables but
    those given in `env` (the machine's other OpenBLAS variables are kept)."""
    clean = {k: v for k, v in os.environ.items() if k not in USER_VARIABLES}
    args = [sys.executable, str(PROBE), str(module), str(start)]
    args += [] if limit is None else [str(limit)]
    done = subprocess.run(
        args, env={**clean, **env}, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _recorded_products(spec: specs.Spec, batch: int) -> list[int]:
    """m*k*n of every dot/matmul one train_step of `spec`'s module makes, in order."""
    net = codegen.build_module(spec)
    sizes: list[int] = []
    for name in ("dot", "matmul"):
        if not hasattr(net, name):
            continue
        product = getattr(net, name)

        def recording(a, b, out, product=product):
            sizes.append(a.shape[0] * a.shape[1] * b.shape[-1])
            return product(a, b, out=out)

        setattr(net, name, recording)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, spec.n_in))
    Y = np.eye(spec.n_out)[rng.integers(0, spec.n_out, batch)]
    params = net.init_params()
    net.train_step(params, X, Y, net.init_optimizer(params))
    return sizes


@pytest.mark.parametrize("path", BENCH_SPECS, ids=lambda p: p.stem)
def test_the_products_the_choice_reads_are_the_steps_products(path: Path) -> None:
    spec = specs.load(path)
    batch = 5
    want = sorted(product.per_sample * batch for product in codegen.products(spec))
    assert sorted(_recorded_products(spec, batch)) == want


def test_the_choice_per_product_on_the_bench_workloads() -> None:
    """W1 and W2 stay below what OpenBLAS puts on two threads, W3's products are all small
    enough for one thread, W4 has large ones: its steps time both counts."""
    chosen = {}
    for path in BENCH_SPECS:
        spec = specs.load(path)
        batch = spec.training.batch_size
        chosen[path.stem] = {codegen.threads(p, batch) for p in codegen.products(spec)}
    assert chosen["w1"] == chosen["w2"] == {"library"}
    assert chosen["w3"] == {"library", "one"}  # layer 2's products are OpenBLAS's alone
    assert "measured" in chosen["w4"] and "one" in chosen["w4"]


@pytest.mark.parametrize("path", BENCH_SPECS, ids=lambda p: p.stem)
def test_a_step_runs_on_the_choice_of_its_largest_product(path: Path) -> None:
    spec = specs.load(path)
    one, measured = codegen.thread_batches(spec)
    largest = max(codegen.products(spec), key=lambda p: p.per_sample)
    assert codegen.threads(largest, one - 1) == "library"
    assert codegen.threads(largest, one) == "one"
    assert codegen.threads(largest, measured - 1) == "one"
    assert codegen.threads(largest, measured) == "measured"
    for product in codegen.products(spec):  # no product asks for more than the largest
        assert codegen.threads(product, one - 1) == "library"


@pytest.mark.parametrize("path", sorted((ROOT / "generated").glob("*.py")), ids=lambda p: p.stem)
def test_the_modules_batch_sizes_are_the_generators(path: Path) -> None:
    if path.stem == "__init__":
        return
    net = codegen.load_module(path.stem)
    spec = specs.load(ROOT / "generated" / "specs" / f"{path.stem}.toml")
    assert codegen.thread_batches(spec) == (net.THREADS_ONE, net.THREADS_MEASURED)


def test_nothing_is_set_at_import_and_every_step_restores_the_count() -> None:
    """The library's count is set to 3 before the first step, so that it is above 1 on any
    machine; a caller's threadpoolctl limit of 2 then wins over the module's choice."""
    seen = probe(DIGITS, start=3, limit=2)
    assert seen["after_import"] == seen["before_import"]
    assert not seen["found_at_import"]
    assert seen["small"] == {"inside": [1], "after": 3}
    assert seen["forward"] == {"inside": [1], "after": 3}  # the readable path too
    assert seen["fit"] == {"inside": [1], "after": 3}
    assert set(seen["large"]["inside"]) <= {1, 3} and seen["large"]["after"] == 3
    assert seen["limited"] == {"inside": [2], "after": 2}
    assert seen["after_limit"] == 3
    assert seen["after_error"] == 3  # restored when the step raised


@pytest.mark.parametrize("variable", USER_VARIABLES)
def test_a_count_chosen_in_the_environment_is_left_alone(variable: str) -> None:
    seen = probe(DIGITS, start=0, **{variable: "2"})
    count = seen["before_import"]  # 2, or fewer on a machine with fewer CPUs
    for record in ("small", "large", "fit"):
        assert seen[record] == {"inside": [count], "after": count}
    assert seen["after_error"] == count


def test_float64_results_are_bit_identical_with_and_without_the_thread_control(
    digits64: Path,
) -> None:
    held = probe(digits64, start=3)  # the module's choice: one thread, or timed
    assert held["small"]["inside"] == [1]
    library = probe(digits64, start=0, OPENBLAS_NUM_THREADS="3")  # the library's threads
    one = probe(digits64, start=0, OPENBLAS_NUM_THREADS="1")
    assert held["params_sha256"] == library["params_sha256"] == one["params_sha256"]


class _Clock:
    """A perf_counter that moves only when told: the measured plan's decisions, not speed."""

    def __init__(self) -> None:
        self.now = 1000.0

    def perf_counter(self) -> float:
        return self.now


def test_a_measured_plan_keeps_the_faster_count_and_tries_the_other_less_often(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The controller of generated modules, driven with given step times: the library's
    count is a Python int here (a stand-in for OpenBLAS), the clock a counter."""
    net = codegen.load_module("digits")
    clock = _Clock()
    monkeypatch.setattr(net, "time", clock)
    count = [2]
    blas = net._Blas()
    blas.get, blas.set, blas.own = (lambda: count[0]), (lambda n: count.__setitem__(0, n)), 2
    plan = net._Plan(net.THREADS_MEASURED)
    assert plan.measured and not net._Plan(net.THREADS_MEASURED - 1).measured

    def run(seconds: dict[int, float], steps: int) -> list[int]:
        ran = []
        for _ in range(steps):
            threads = blas.enter(plan)
            ran.append(count[0])
            clock.now += seconds[count[0]]
            blas.leave(plan, threads)
            assert count[0] == 2  # restored after every step
        return ran

    quiet = {2: 0.004, 1: 0.007}
    ran = run(quiet, 300)
    assert ran[:3] == [2, 1, 2]  # its own count, one try of one thread, back to the faster
    assert ran.count(1) <= 3  # tried again after 100 steps' time, then 4 and 16 times that
    loaded = {2: 0.2, 1: 0.007}  # a busy core: two threads wait for each other
    ran = run(loaded, 20000)  # 140 s
    assert ran[:2] == [2, 1]  # the slow step is noticed at once
    assert ran.count(2) * loaded[2] < 0.01 * sum(loaded[c] for c in ran)  # tries cost < 1%
    ran = run(quiet, 20000)  # quiet again (80 s): back to two threads at the next try
    assert ran[-5000:].count(2) >= 4990


def test_without_proc_the_library_is_found_through_threadpoolctl(tmp_path: Path) -> None:
    """macOS and Windows have no /proc/self/maps; there the module asks threadpoolctl which
    libraries are loaded. On Linux both ways must find NumPy's OpenBLAS, the same library:
    a count set through one is read through the other."""
    net = codegen.load_module("digits")
    by_maps = net._loaded_openblas("/proc/self/maps")
    by_threadpoolctl = net._loaded_openblas(str(tmp_path / "no-maps"))
    assert by_threadpoolctl == by_maps and by_maps  # NumPy's copy, found both ways
    get, set_ = net._openblas_threads("/proc/self/maps")
    other_get, other_set = net._openblas_threads(str(tmp_path / "no-maps"))
    start = get()
    try:
        other_set(start + 1)
        assert get() == start + 1
        set_(start)
        assert other_get() == start
    finally:
        set_(start)
