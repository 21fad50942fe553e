"""The benchmark's workloads: a spec from bench/specs/, one batch of data, initial parameters.

Every implementation of a workload starts from the same `Workload.params` and trains on the
same `X`, `Y`, so their one-step updates can be compared before any of them is timed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from derive.spec import Spec, load

SPEC_DIR = Path(__file__).resolve().parent / "specs"
KEYS = ("w1", "w2", "w3", "w4")


@dataclass(frozen=True)
class Workload:
    """One network, one batch of data and the initial parameters every implementation copies."""

    key: str
    spec: Spec
    X: np.ndarray  # (batch, n_in), C-contiguous, the spec's dtype
    Y: np.ndarray  # (batch, n_out) targets: 0/1 values for mse, one-hot rows for cross-entropy
    params: dict[str, np.ndarray]  # "W1", "b1", ...: the initial values (never modified)

    @property
    def batch(self) -> int:
        return self.X.shape[0]

    @property
    def labels(self) -> np.ndarray:
        """Class indices (argmax of the one-hot targets), or the 0/1 targets for mse."""
        if self.spec.loss == "cross_entropy":
            return self.Y.argmax(axis=1)
        return self.Y[:, 0].astype(np.int64)

    @property
    def gemm_flops(self) -> int:
        """The matrix-multiply FLOPs one training step needs (elementwise work not counted).

        Per layer: the forward product and the weight gradient; every layer but the first
        also propagates the error to its input.
        """
        n, sizes = self.batch, self.spec.layers
        total = 0
        for layer in range(1, len(sizes)):
            products = 2 if layer == 1 else 3
            total += products * 2 * n * sizes[layer] * sizes[layer - 1]
        return total


def load_workload(key: str, batch: int | None = None) -> Workload:
    """The workload `key` ("w1".."w4"); `batch` overrides the spec's batch size."""
    spec = load(SPEC_DIR / f"{key}.toml")
    n = batch or spec.training.batch_size
    rng = np.random.default_rng(spec.training.seed)
    params = init_params(spec, rng)
    X, Y = make_data(spec, n, rng)
    return Workload(key, spec, X, Y, params)


def init_params(spec: Spec, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """He normal weights before a ReLU, Glorot uniform otherwise; zero biases."""
    params: dict[str, np.ndarray] = {}
    for layer, act in enumerate(spec.activations, start=1):
        fan_in, fan_out = spec.layers[layer - 1], spec.layers[layer]
        shape = (fan_out, fan_in)
        if act == "relu":
            W = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
        else:
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            W = rng.uniform(-limit, limit, shape)
        params[f"W{layer}"] = W.astype(spec.dtype)
        params[f"b{layer}"] = np.zeros(fan_out, dtype=spec.dtype)
    return params


def make_data(spec: Spec, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One batch: the digits for a digits spec, else standard normal inputs with rule labels."""
    n_in, n_out = spec.n_in, spec.n_out
    if spec.training.dataset == "digits":
        X, labels = _digits(n, rng)
    else:
        X = rng.standard_normal((n, n_in))
        if n_out <= 2 and n_in >= 2:  # XOR of the first two inputs' signs: something to learn
            labels = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
        else:
            labels = rng.integers(0, max(n_out, 2), n)
    if spec.loss == "cross_entropy":
        Y = np.eye(n_out)[labels]
    else:
        Y = labels.reshape(n, 1).astype(float) * np.ones((1, n_out))
    return np.ascontiguousarray(X, spec.dtype), np.ascontiguousarray(Y, spec.dtype)


def _digits(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`n` of scikit-learn's 8x8 digits, scaled to [0, 1] (random pixels without scikit-learn)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        return rng.uniform(0, 1, (n, 64)), rng.integers(0, 10, n)
    digits = load_digits()
    rows = rng.choice(len(digits.target), size=n, replace=n > len(digits.target))
    return digits.data[rows] / 16.0, digits.target[rows]
