"""BLAS threads: chosen per matrix product of a step from its shape (see bench/README.md)."""

from __future__ import annotations

from dataclasses import dataclass

from derive.codegen.naming import block_shape
from derive.spec import Spec

# --- BLAS threads: chosen per product from its shape ----------------------------------------

# OpenBLAS puts a product of m*k*n multiply-adds on one thread per 65536 * 4 of them
# (interface/gemm.c: SMP_THRESHOLD_MIN * GEMM_MULTITHREAD_THRESHOLD), so below twice that
# it runs on one thread whatever its count: nothing to set.
ONE_THREAD_FROM = 2 * 65536 * 4
# From here a second thread can pay on a quiet machine, and costs a collapse on a busy one:
# the step times both counts. An estimate between two quiet measurements (0.54 M: one
# thread faster; 34 M and up: two), see bench/README.md; bench/threads.py measures it.
MEASURED_FROM = 4_000_000


@dataclass(frozen=True)
class Product:
    """One matrix product of a training step: `per_sample` multiply-adds for each sample of
    the batch (m*k*n = batch * per_sample), layer `layer`, `what` it computes."""

    layer: int
    what: str
    per_sample: int


def products(spec: Spec) -> list[Product]:
    """Every matrix product of the generated train_step, with its size per sample."""
    found = []
    for layer in range(1, spec.depth + 1):
        rows, cols = block_shape(spec, layer)
        found.append(Product(layer, "forward", rows * cols))
        found.append(Product(layer, "weight gradient", rows * cols))
        if layer > 1:
            below = spec.layers[layer] * spec.layers[layer - 1]  # d<l> W<l>: W alone
            found.append(Product(layer, "error to the layer below", below))
    return found


def largest(spec: Spec) -> int:
    """The multiply-adds per sample of the step's largest product."""
    return max(product.per_sample for product in products(spec))


def threads(product: Product, batch: int) -> str:
    """The BLAS threads for `product` at `batch` samples: "library" (OpenBLAS keeps it on
    one thread itself), "one", or "measured" (the faster of one and the library's count).

    A step runs on the choice of its largest product.
    """
    size = product.per_sample * batch
    return "library" if size < ONE_THREAD_FROM else "one" if size < MEASURED_FROM else "measured"


def thread_batches(spec: Spec) -> tuple[int, int]:
    """The batch sizes from which a step's largest product is "one", and "measured"."""
    most = largest(spec)
    return -(-ONE_THREAD_FROM // most), -(-MEASURED_FROM // most)
