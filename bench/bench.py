"""Time one training step (forward, backward, SGD update) of a generated module and its rivals.

Usage: `make bench`, or `.venv/bin/python bench/bench.py [--quick] [--load] [--workloads w1,w3]`.

For each workload of bench/specs/ (W1-W4, issue 5) it builds every implementation from the
same initial parameters, checks that one step of each gives the float64 oracle's update,
then times them in alternating blocks in this one process (each round runs every
implementation for about `--block` seconds, in a rotated order) and reports the median
per-step time over the rounds. Also printed: the float32 GEMM peak, each implementation's
GFLOP/s (matrix-multiply FLOPs only), the NumPy per-call floor, the steady-state allocation
of the NumPy steps, the time of `derive generate --all` and `derive verify`, and a PASS/MISS
line per target of the issue, for the generated module and for the hand-optimized NumPy.

With --load (`make bench-load`) the rounds are run again with a busy process (Python
spinning on one core, pinned to the last CPU where the system allows), and the loaded
times, their ratio to the quiet ones and issue 15's targets are shown too.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import baselines
from workloads import KEYS, Workload, load_workload

ROOT = Path(__file__).resolve().parents[1]
GENERATED, FAST, LIBRARY_THREADS = "generated", "numpy-fast", baselines.LIBRARY_THREADS
NUMPY_STEPS = (GENERATED, FAST, "numpy-plain")  # tracemalloc sees their allocations
PAUSE = 0.05  # seconds before each block: OpenMP and BLAS threads spin a while after work
ALLOC_LIMIT = 4096  # bytes per steady step: iterator bookkeeping and scalars, no array
ALLOC_GROWTH = 64  # bytes more at twice the batch: a Python int above 256 is 32 B, data KBs


@dataclass
class Result:
    """What one workload measured: per-step medians and the facts beside them."""

    work: Workload
    seconds: dict[str, float] = field(default_factory=dict)  # median per step
    spread: dict[str, float] = field(default_factory=dict)  # (max - min) / median over rounds
    best: dict[str, float] = field(default_factory=dict)  # the fastest round, per step
    samples: dict[str, list[float]] = field(default_factory=dict)  # per step, one per round
    loaded: dict[str, list[float]] = field(default_factory=dict)  # the same, a core kept busy
    calls: dict[str, int] = field(default_factory=dict)  # NumPy calls per step, as written
    alloc: dict[str, tuple[int, int]] = field(default_factory=dict)  # steady step, n and 2n
    error: dict[str, str] = field(default_factory=dict)  # one-step check, as shown


# --- the machine -------------------------------------------------------------------------


def blas_threads() -> int:
    """NumPy's BLAS thread count, as threadpoolctl reports it (else the CPU count)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return os.cpu_count() or 1
    for pool in threadpool_info():
        if pool.get("user_api") == "blas" and "numpy" in pool.get("filepath", ""):
            return int(pool["num_threads"])
    return os.cpu_count() or 1


def describe_machine() -> list[str]:
    """Versions, thread counts, the BLAS kernel and the OpenBLAS environment variables."""
    lines = [
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}"
    ]
    for package in ("torch", "sklearn", "jax"):
        if importlib.util.find_spec(package) is None:
            lines.append(f"{package}: not installed")
        else:
            version = __import__(package).__version__
            lines.append(f"{package} {version}")
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                lines.append(
                    f"BLAS {pool.get('internal_api')} {pool.get('version')} "
                    f"kernel {pool.get('architecture', '?')}, {pool.get('num_threads')} threads "
                    f"({Path(pool.get('filepath', '')).name})"
                )
    except ImportError:
        lines.append("threadpoolctl: not installed (BLAS kernel unknown)")
    lines.append(load_note())
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        lines.append(f"{var}={os.environ.get(var, '(unset)')}")
    return lines


def load_note(warn_above: float = 0.5) -> str:
    """The 1-minute load average, with a warning when other work shares the CPUs."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return "load average: unknown"
    busy = load > warn_above
    warning = " (other processes are running: timings will be noisy)" if busy else ""
    return f"load average {load:.2f}{warning}"


def gemm_peak(n: int, repeats: int = 5, threads: int | None = None) -> float:
    """The float32 GEMM rate, GFLOP/s: the best of `repeats` n x n x n numpy.matmul, on
    the BLAS's own thread count or on `threads`."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    A, B = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    C = np.empty((n, n), np.float32)
    with threadpool_limits(threads, user_api="blas"):
        np.matmul(A, B, out=C)
        best = min(timeit.repeat(lambda: np.matmul(A, B, out=C), number=1, repeat=repeats))
    return 2 * n**3 / best / 1e9


def numpy_call_cost() -> float:
    """Seconds per call of the cheapest useful NumPy call: a (4, 16) np.add with out=."""
    a, b, c = np.ones((4, 16)), np.ones((4, 16)), np.empty((4, 16))
    add = np.add
    number = 20000
    best = min(timeit.repeat(lambda: add(a, b, out=c), number=number, repeat=7))
    empty = min(timeit.repeat(lambda: None, number=number, repeat=7))  # the lambda's own cost
    return (best - empty) / number


# --- one workload ------------------------------------------------------------------------


def build(
    work: Workload, directory: Path, threads: int, only: Sequence[str] = ()
) -> tuple[list[baselines.Impl], dict[str, str]]:
    """Every implementation that can be built (or those named in `only`), and why not."""
    factories: list[tuple[str, Callable[[], baselines.Impl]]] = [
        (
            GENERATED,
            lambda: baselines.make_generated(work, baselines.load_generated(work, directory)),
        ),
        (
            LIBRARY_THREADS,
            lambda: baselines.make_library_threads(work, baselines.load_generated(work, directory)),
        ),
        (FAST, lambda: baselines.make_fast(work)),
        ("numpy-plain", lambda: baselines.make_plain(work)),
        ("torch-eager", lambda: baselines.make_torch(work, threads)),
        ("sklearn", lambda: baselines.make_sklearn(work)),
        ("jax-jit", lambda: baselines.make_jax(work)),
    ]
    impls, missing = [], {}
    for name, factory in factories:
        if only and name not in only:
            continue
        package = {"torch-eager": "torch", "sklearn": "sklearn", "jax-jit": "jax"}.get(name)
        if package and importlib.util.find_spec(package) is None:
            missing[name] = "not installed"
            continue
        try:
            impls.append(factory())
        except Exception as exc:  # a baseline that cannot be built is reported, not fatal
            missing[name] = f"unavailable: {type(exc).__name__}: {exc}"
    return impls, missing


def check(work: Workload, impls: list[baselines.Impl], result: Result) -> list[baselines.Impl]:
    """One step of each against the float64 oracle; those that disagree are not timed."""
    want_loss, want = baselines.reference_update(work)
    tol = baselines.tolerance(work.spec.dtype)
    kept = []
    for impl in impls:
        loss = impl.step(*impl.args)
        err = baselines.update_error(work, impl.params(), want)
        err = max(err, abs(loss - want_loss) / max(abs(want_loss), 1.0))
        if not impl.checked:
            result.error[impl.name] = "not compared"
            kept.append(impl)
        elif err <= tol:
            result.error[impl.name] = f"ok {err:.0e}"
            kept.append(impl)
        else:
            result.error[impl.name] = f"MISMATCH {err:.1e}"
    return kept


class Load:
    """A busy process for the loaded rounds: Python spinning on one core (pinned to the
    last CPU where os.sched_setaffinity exists), stopped (SIGSTOP) outside them; it ends
    when this process does."""

    CODE = (
        "import os\n"
        "if hasattr(os, 'sched_setaffinity'):\n"
        "    os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})\n"
        "parent = os.getppid()\n"
        "while os.getppid() == parent:\n"
        "    pass\n"
    )

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", self.CODE])
        self.quiet()

    def busy(self) -> None:
        self.process.send_signal(signal.SIGCONT)
        time.sleep(PAUSE)  # it is running when the block starts

    def quiet(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def time_blocks(
    impls: list[baselines.Impl], rounds: int, block: float, load: Load | None = None
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per-step seconds of each implementation, one sample per round, rounds interleaved;
    with `load`, the same again with the busy process running throughout (its own
    calibration first: a step that adapts to the load, as the generated one does, is timed
    once it has, the steady state of a lasting neighbour)."""
    samples = _rounds(impls, rounds, block)
    loaded: dict[str, list[float]] = {}
    if load is not None:
        load.busy()
        try:
            loaded = _rounds(impls, rounds, block)
        finally:
            load.quiet()
    return samples, loaded


def _rounds(impls: list[baselines.Impl], rounds: int, block: float) -> dict[str, list[float]]:
    counts = {impl.name: _steps_per_block(impl, block) for impl in impls}
    samples: dict[str, list[float]] = {impl.name: [] for impl in impls}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            shift = r % len(impls)
            for impl in impls[shift:] + impls[:shift]:
                time.sleep(PAUSE)  # the previous library's worker threads stop spinning
                samples[impl.name].append(_block(impl, counts[impl.name]))
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


def _steps_per_block(impl: baselines.Impl, block: float) -> int:
    """How many steps take about `block` seconds (the calibration doubles as warm-up)."""
    steps, elapsed = 1, 0.0
    while elapsed < block / 5:
        elapsed = _block(impl, steps) * steps
        steps *= 2
    return max(1, round(block / (elapsed / (steps // 2))))


def _block(impl: baselines.Impl, steps: int) -> float:
    step, args = impl.step, impl.args
    start = time.perf_counter()
    for _ in range(steps):
        step(*args)
    return (time.perf_counter() - start) / steps


def steady_allocation(impl: baselines.Impl, steps: int = 3) -> int:
    """Peak bytes traced by tracemalloc over a few warm steps, above what was live before."""
    impl.step(*impl.args)
    tracemalloc.start()
    try:
        impl.step(*impl.args)  # allocations tracemalloc must see once (its own bookkeeping)
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        for _ in range(steps):
            impl.step(*impl.args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before


def run_workload(
    key: str, args: argparse.Namespace, directory: Path, threads: int, load: Load | None
) -> Result:
    """Build, check, time and measure one workload; print its table."""
    work = load_workload(key)
    result = Result(work)
    impls, missing = build(work, directory, threads, args.impls)
    impls = check(work, impls, result)
    doubled, _ = build(load_workload(key, 2 * work.batch), directory, threads, NUMPY_STEPS)
    for impl in impls:
        if impl.source is not None:
            result.calls[impl.name] = baselines.count_calls(impl)
    for impl, twice in zip([i for i in impls if i.name in NUMPY_STEPS], doubled, strict=False):
        if impl.name == twice.name:
            result.alloc[impl.name] = (steady_allocation(impl), steady_allocation(twice))
    samples, result.loaded = time_blocks(impls, args.rounds, args.block, load)
    result.samples = samples
    for name, values in samples.items():
        median = statistics.median(values)
        result.seconds[name] = median
        result.spread[name] = (max(values) - min(values)) / median
        result.best[name] = min(values)
    for impl in impls:
        finite = all(np.isfinite(v).all() for v in impl.params().values())
        if not finite:
            result.error[impl.name] += " (NaN after timing)"
    print_workload(result, missing)
    return result


def ratio(result: Result, name: str, other: str, loaded: bool = False) -> float:
    """The time of `name` over that of `other`: the median of the ratios within a round.

    Both ran in the same round, seconds apart, so a machine that slows down for a while
    (a busy neighbour, a descheduled BLAS thread) slows both alike and the ratio holds.
    `loaded`: the same from the loaded blocks.
    """
    samples = result.loaded if loaded else result.samples
    pairs = zip(samples[name], samples[other], strict=True)
    return statistics.median(mine / theirs for mine, theirs in pairs)


def load_ratio(result: Result, name: str) -> float:
    """Loaded time over quiet time of `name`: the ratio of their medians (the loaded rounds
    ran after the quiet ones, a minute apart at most)."""
    return statistics.median(result.loaded[name]) / statistics.median(result.samples[name])


# --- output ------------------------------------------------------------------------------


def print_workload(result: Result, missing: dict[str, str]) -> None:
    """The workload's table: median time, ratio to the generated step, GFLOP/s, and so on."""
    work, spec = result.work, result.work.spec
    base = GENERATED if GENERATED in result.seconds else FAST
    print()
    print(
        f"{work.key.upper()}  {'-'.join(map(str, spec.layers))}  {', '.join(spec.activations)}"
        f"  {spec.loss}  {spec.dtype}  batch {work.batch}"
        f"  ({work.gemm_flops / 1e6:.3g} MFLOP of matmul per step)"
    )
    head = f"  {'implementation':<14}{'us/step':>10}{'best':>10}{'spread':>8}{f'/{base}':>13}"
    head += f"{'GFLOP/s':>9}"
    if result.loaded:
        head += f"{'loaded us':>11}{'load/quiet':>11}"
    print(head + f"{'calls':>7}{'alloc B n/2n':>14}  check")
    for name, seconds in sorted(result.seconds.items(), key=lambda item: item[1]):
        relative = ratio(result, name, base)
        gflops = work.gemm_flops / seconds / 1e9
        calls = result.calls.get(name, "")
        alloc = "/".join(map(str, result.alloc.get(name, ())))
        loaded = ""
        if result.loaded:
            median = statistics.median(result.loaded[name])
            loaded = f"{median * 1e6:>11.1f}{load_ratio(result, name):>11.2f}"
        print(
            f"  {name:<14}{seconds * 1e6:>10.1f}{result.best.get(name, seconds) * 1e6:>10.1f}"
            f"{result.spread[name]:>7.0%} {relative:>12.2f}"
            f"{gflops:>9.2f}{loaded}{calls!s:>7}{alloc:>14}  {result.error.get(name, '')}"
        )
    for name, error in result.error.items():
        if name not in result.seconds:
            print(f"  {name:<14}{'-':>10}  not timed: {error}")
    for name, reason in missing.items():
        print(f"  {name:<14}{'-':>10}  {reason}")


def time_command(command: Sequence[str], ok_codes: tuple[int, ...] = (0,)) -> str:
    """Wall time of a subprocess run in the repository, or why it is unavailable."""
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({type(exc).__name__})"
    elapsed = time.perf_counter() - start
    if done.returncode not in ok_codes or "Traceback" in done.stderr:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1][:100]
        return f"unavailable (exit {done.returncode}: {last})"
    return f"{elapsed:.2f} s"


def cli_timings() -> dict[str, str]:
    """`derive generate --all` (into a temporary folder) and `derive verify`, timed."""
    derive = [sys.executable, "-m", "derive"]
    with tempfile.TemporaryDirectory() as out:
        generate = time_command([*derive, "generate", "--all", "--out", out])
    verify = time_command([*derive, "verify"], ok_codes=(0, 1))  # 1: some claims fail
    return {"derive generate --all": generate, "derive verify": verify}


def targets(
    results: list[Result], name: str, peak: float, per_call: float, cli: dict[str, str]
) -> list[tuple[str, str]]:
    """Each target of issue 5 as (description, PASS/MISS/n/a with the measured value)."""
    by_key = {r.work.key: r for r in results}
    rows: list[tuple[str, str]] = []

    def ratio_row(label: str, key: str, other: str, bound: float, at_least: bool) -> None:
        r = by_key.get(key)
        if r is None or name not in r.seconds or other not in r.seconds:
            rows.append((label, "n/a"))
            return
        value = ratio(r, other, name) if at_least else ratio(r, name, other)
        ok = value >= bound if at_least else value <= bound
        rows.append((label, f"{'PASS' if ok else 'MISS'} {value:.2f}"))

    for key in KEYS:  # issue 15: W1's bound allows the generated step's input checks
        bound = 1.15 if key == "w1" else 1.05
        if name != FAST:
            ratio_row(f"{key.upper()} time / numpy-fast <= {bound:g}", key, FAST, bound, False)
    for key in KEYS:
        bound = 1.0 if key == "w4" else 4.0
        ratio_row(f"{key.upper()} torch-eager / it >= {bound:g}", key, "torch-eager", bound, True)
    for key in KEYS:
        bound = 1.8 if key == "w4" else 10.0
        ratio_row(f"{key.upper()} sklearn / it >= {bound:g}", key, "sklearn", bound, True)
    for key in ("w1", "w2", "w3"):
        ratio_row(f"{key.upper()} jax-jit / it >= 1", key, "jax-jit", 1.0, True)
    w4 = by_key.get("w4")
    if w4 is not None and name in w4.seconds:
        share = w4.work.gemm_flops / w4.seconds[name] / 1e9 / peak
        rows.append(("W4 GFLOP/s >= 75% of GEMM peak", f"{_verdict(share >= 0.75)} {share:.0%}"))
    else:
        rows.append(("W4 GFLOP/s >= 75% of GEMM peak", "n/a"))
    w1 = by_key.get("w1")
    if w1 is not None and name in w1.seconds and name in w1.calls:
        floor = w1.calls[name] * per_call
        value = w1.seconds[name] / floor
        rows.append(("W1 time <= 1.5 x call floor", f"{_verdict(value <= 1.5)} {value:.2f}"))
    else:
        rows.append(("W1 time <= 1.5 x call floor", "n/a"))
    allocs = [r.alloc[name] for r in results if name in r.alloc]
    if allocs:
        ok = all(twice <= once + ALLOC_GROWTH and once <= ALLOC_LIMIT for once, twice in allocs)
        worst = max(max(pair) for pair in allocs)
        label = f"alloc/step <= {ALLOC_LIMIT} B, not growing with batch"
        rows.append((label, f"{_verdict(ok)} max {worst} B"))
    for command, limit in (("derive generate --all", 5.0), ("derive verify", 30.0)):
        shown = cli.get(command, "not run")
        if shown.endswith(" s"):
            rows.append(
                (f"{command} < {limit:g} s", f"{_verdict(float(shown[:-2]) < limit)} {shown}")
            )
        else:
            rows.append(
                (
                    f"{command} < {limit:g} s",
                    "n/a (not run)" if shown == "not run" else "n/a (failed)",
                )
            )
    return rows


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def load_targets(results: list[Result], name: str, peak: float) -> list[tuple[str, str]]:
    """Each target of issue 15 (threads under load) as (description, PASS/MISS/n/a value)."""
    by_key = {r.work.key: r for r in results}
    rows: list[tuple[str, str]] = []

    def row(
        label: str,
        key: str,
        value: Callable[[Result], float],
        ok: Callable[[float], bool],
        needs: tuple[str, ...] = (),
        loaded: bool = False,
        shown: str = "{:.2f}",
    ) -> None:
        r = by_key.get(key)
        have = r is not None and all(n in r.seconds for n in (name, *needs))
        if r is None or not have or (loaded and not r.loaded):
            rows.append((label, "n/a"))
            return
        measured = value(r)
        rows.append((label, f"{_verdict(ok(measured))} {shown.format(measured)}"))

    for key in ("w1", "w2", "w3"):
        row(
            f"{key.upper()} loaded / quiet <= 1.3",
            key,
            lambda r: load_ratio(r, name),
            lambda v: v <= 1.3,
            loaded=True,
        )
    row(
        "W4 loaded GFLOP/s >= 45% of quiet GEMM peak",
        "w4",
        lambda r: r.work.gemm_flops / statistics.median(r.loaded[name]) / 1e9 / peak,
        lambda v: v >= 0.45,
        loaded=True,
        shown="{:.0%}",
    )
    if name != LIBRARY_THREADS:
        row(
            f"W3 {LIBRARY_THREADS} / it >= 1.5 (quiet)",
            "w3",
            lambda r: ratio(r, LIBRARY_THREADS, name),
            lambda v: v >= 1.5,
            (LIBRARY_THREADS,),
        )
    for key in ("w1", "w2", "w3"):
        row(
            f"{key.upper()} jax-jit / it >= 2 (quiet)",
            key,
            lambda r: ratio(r, "jax-jit", name),
            lambda v: v >= 2,
            ("jax-jit",),
        )
        row(
            f"{key.upper()} jax-jit / it >= 2 (loaded)",
            key,
            lambda r: ratio(r, "jax-jit", name, loaded=True),
            lambda v: v >= 2,
            ("jax-jit",),
            loaded=True,
        )
    return rows


def print_targets(results: list[Result], peak: float, per_call: float, cli: dict) -> None:
    """The targets table: the generated module's verdicts, and numpy-fast's beside them."""
    mine = targets(results, GENERATED, peak, per_call, cli)
    bar = dict(targets(results, FAST, peak, per_call, cli))
    print()
    print(f"  {'target (issue 5)':<48}{'generated':<22}{'numpy-fast':<22}")
    for label, verdict in mine:
        print(f"  {label:<48}{verdict:<22}{bar.get(label, '-'):<22}")
    names = (GENERATED, LIBRARY_THREADS, FAST)
    tables = [load_targets(results, impl, peak) for impl in names]
    print()
    print(f"  {'target (issue 15)':<48}" + "".join(f"{impl:<22}" for impl in names))
    for label, _ in tables[0]:
        cells = [dict(table).get(label, "-") for table in tables]
        print(f"  {label:<48}" + "".join(f"{cell:<22}" for cell in cells))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """--quick: a smoke run (fewer, shorter rounds; a smaller GEMM; no CLI timing)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run")
    parser.add_argument("--workloads", default=",".join(KEYS), help="e.g. w1,w3")
    parser.add_argument("--rounds", type=int, default=None, help="blocks per implementation")
    parser.add_argument("--block", type=float, default=None, help="seconds per block")
    parser.add_argument("--no-cli", action="store_true", help="skip timing the derive CLI")
    parser.add_argument(
        "--load", action="store_true", help="also time every block with a core kept busy"
    )
    parser.add_argument(
        "--only", default="", help="implementations to run, e.g. generated,numpy-fast"
    )
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (3 if args.quick else 9)
    args.block = args.block or (0.02 if args.quick else 0.25)
    args.keys = [k.strip().lower() for k in args.workloads.split(",") if k.strip()]
    args.impls = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(args.keys) - set(KEYS))
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {', '.join(KEYS)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print everything; the exit code is 0 unless it could not run."""
    args = parse_args(argv)
    shown = " ".join(sys.argv[1:]) if argv is None else " ".join(argv)
    print(f"command: .venv/bin/python bench/bench.py {shown}".rstrip())
    for line in describe_machine():
        print(f"  {line}")
    threads = blas_threads()
    peak = gemm_peak(1024 if args.quick else 2048)
    one_thread_peak = gemm_peak(1024 if args.quick else 2048, threads=1)
    per_call = numpy_call_cost()
    print(
        f"float32 GEMM peak: {peak:.1f} GFLOP/s on {threads} BLAS threads, {one_thread_peak:.1f}"
        f" ({one_thread_peak / peak:.0%}) on one (numpy.matmul, best of 5)"
    )
    print(f"NumPy per-call cost: {per_call * 1e6:.3f} us (np.add on (4, 16) float64, out=)")
    results = []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # the busy process is ended too
    load = Load() if args.load else None
    try:
        with tempfile.TemporaryDirectory() as directory:
            for key in args.keys:
                results.append(run_workload(key, args, Path(directory), threads, load))
    finally:
        if load is not None:
            load.close()
    print()
    print("NumPy call floor (calls per step x per-call cost):")
    for r in results:
        for name in (GENERATED, FAST):
            if name in r.calls and name in r.seconds:
                floor = r.calls[name] * per_call
                print(
                    f"  {r.work.key.upper()} {name:<10} {r.calls[name]:>3} calls x "
                    f"{per_call * 1e6:.3f} us = {floor * 1e6:6.1f} us; "
                    f"step / floor = {r.seconds[name] / floor:.2f}"
                )
    cli = {} if args.quick or args.no_cli else cli_timings()
    for command, shown in cli.items():
        print(f"{command}: {shown}")
    print_targets(results, peak, per_call, cli)
    if load is not None:
        print(
            f"\n  W4 loaded: 45% of the quiet GEMM peak is {0.45 * peak / one_thread_peak:.0%}"
            " of one BLAS thread's peak (one thread: what runs on the one free core)."
        )
    print(f"\nat the end: {load_note(warn_above=os.cpu_count() or 1)}")  # includes ours
    return 0


if __name__ == "__main__":
    sys.exit(main())
