"""Memory: what a module allocates, estimated at generation, and the refusal of a spec
that would not fit in this machine's memory or its cgroup's limit."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from derive import machine
from derive.codegen.naming import OPTIMIZER_PREFIXES
from derive.errors import input_error
from derive.spec import Spec

# --- memory -------------------------------------------------------------------------------


def memory_estimate(spec: Spec) -> tuple[int, int]:
    """Bytes the module allocates: (for the parameters with their gradients, optimizer
    state and initialisation, per sample of a training batch's buffers). An upper estimate
    of `init_params` + `init_optimizer` + `train_step`'s workspace, not an exact count."""
    itemsize = np.dtype(spec.dtype).itemsize
    arrays = 3 + len(OPTIMIZER_PREFIXES[spec.optimizer.kind])  # params, gradient, temporary
    weights = sum(
        (spec.layers[layer - 1] + spec.bias) * (spec.layers[layer] + spec.bias)
        for layer in range(1, spec.depth + 1)
    )
    init = 16  # per weight: the float64 draw and its scaled copy in _he and _glorot
    per_sample = (spec.n_in + 1) * itemsize + sum(
        (width + 1) * (4 * itemsize + 1)
        for width in spec.layers[1:]  # a, d, s, spare; mask
    )
    return weights * (arrays * itemsize + init), per_sample


def machine_memory() -> int | None:
    """Physical memory, or the cgroup's limit when smaller (derive.machine); None: unknown."""
    return machine.memory_limit()


def _gib(nbytes: int) -> str:
    return f"{nbytes / 2**30:.1f} GiB"


def check_memory(spec: Spec, source: str | Path) -> None:
    """Refuse a spec whose parameters and one batch of `training.batch_size` would need more
    memory than the machine has, or than the process's cgroup allows when that is less: a
    clear error, naming which limit, instead of an allocation of tens of GB."""
    bound = machine.binding_limit()
    if bound is None:
        return
    total, limit = bound
    params, per_sample = memory_estimate(spec)
    batch = spec.training.batch_size
    need = params + batch * per_sample
    if need > total:
        key = "layers" if params > total else "training.batch_size"
        expected = f"a network that trains in the {_gib(total)} {limit}"
        found = f"one that needs about {_gib(need)} (a batch of {batch} included)"
        raise input_error(source, key, expected, found)
