"""Where a second BLAS thread starts to pay: float32 products at one thread and at two.

Usage: `.venv/bin/python bench/threads.py` (best on a quiet machine; the load average is
printed with every run). For products of m*k*n multiply-adds from 0.5 M to 100 M, shaped
as a training step's (batch x width by width x width), it times numpy.dot on one BLAS
thread and on the library's own count in alternating blocks and prints the median ratio.
`derive.codegen.MEASURED_FROM` is the size from which the generated step times both
counts instead of fixing one thread: where two threads begin to beat one here.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import timeit

import numpy as np
from threadpoolctl import threadpool_limits

SHAPES = [  # (batch, width): m*k*n = batch * width * width
    (64, 96),
    (64, 128),
    (64, 192),
    (128, 160),
    (64, 256),
    (256, 128),
    (128, 256),
    (256, 192),
    (256, 256),
    (256, 384),
    (256, 512),
    (512, 512),
]


def per_call(dot, number: int) -> float:
    return timeit.timeit(dot, number=number) / number


def measure(batch: int, width: int, rounds: int) -> tuple[float, float, float]:
    """Median seconds per product on one thread and on the library's count, and the
    median over rounds of (two threads / one)."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((batch, width), dtype=np.float32)
    B = rng.standard_normal((width, width), dtype=np.float32)
    C = np.empty((batch, width), np.float32)

    def dot() -> None:
        np.dot(A, B, out=C)

    number = max(1, int(2e7 / (batch * width * width)))
    one, many = [], []
    for _ in range(rounds):
        with threadpool_limits(1, user_api="blas"):
            time.sleep(0.02)
            one.append(per_call(dot, number))
        time.sleep(0.02)  # after a limit: the library's own count
        many.append(per_call(dot, number))
    ratio = statistics.median(b / a for a, b in zip(one, many, strict=True))
    return statistics.median(one), statistics.median(many), ratio


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
    print(f"  {'batch x width^2':>16}{'m*k*n':>12}{'1 thread us':>13}{'own us':>10}{'own/1':>8}")
    for batch, width in SHAPES:
        one, many, ratio = measure(batch, width, rounds)
        size = batch * width * width
        print(
            f"  {f'{batch} x {width}^2':>16}{size:>12,}{one * 1e6:>13.1f}{many * 1e6:>10.1f}"
            f"{ratio:>8.2f}"
        )
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
