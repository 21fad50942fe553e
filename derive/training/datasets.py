"""Data sets to train generated modules on: seeded toy generators and scikit-learn's digits.

Every generator takes a `seed` and returns a `Dataset` with a train and a test split. The toy
sets are drawn with NumPy alone; the same seed gives the same arrays, bit for bit. Classes are
balanced exactly in both splits. `digits` reads the 8x8 scans that scikit-learn ships inside
its package (no download). Generated modules never import this module: they stay NumPy-only.

Labels: 1-D int64 class indices for classification, (n, 1) float64 targets for regression.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from derive.errors import DeriveError

TEST_FRACTION = 0.25


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split: X rows are samples; y is class indices or (n, 1) targets."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    task: str  # "classification" | "regression"
    n_classes: int  # 0 for regression
    n_features: int
    classes: tuple[object, ...] = ()  # a data file's labels, class k first; () for the toy sets
    target: str = ""  # where a data file's targets come from, for messages

    @property
    def n_outputs(self) -> int:
        """Classes for classification, target columns for regression."""
        return self.n_classes if self.task == "classification" else self.y_train.shape[1]


def _classification(
    name: str, parts: list[np.ndarray], rng: np.random.Generator, test_size: float = TEST_FRACTION
) -> Dataset:
    """Split each class's i.i.d. samples: the first `test_size` to test; shuffle each split."""
    train: list[tuple[np.ndarray, np.ndarray]] = []
    test: list[tuple[np.ndarray, np.ndarray]] = []
    for label, X in enumerate(parts):
        n_test = round(len(X) * test_size)
        y = np.full(len(X), label, dtype=np.int64)
        test.append((X[:n_test], y[:n_test]))
        train.append((X[n_test:], y[n_test:]))
    X_train, y_train = _shuffled(train, rng)
    X_test, y_test = _shuffled(test, rng)
    n_features = parts[0].shape[1]
    return Dataset(name, X_train, y_train, X_test, y_test, "classification", len(parts), n_features)


def _shuffled(
    pieces: list[tuple[np.ndarray, np.ndarray]], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    X = np.concatenate([X for X, _ in pieces])
    y = np.concatenate([y for _, y in pieces])
    order = rng.permutation(len(y))
    return X[order], y[order]


def _regression(
    name: str, X: np.ndarray, y: np.ndarray, test_size: float = TEST_FRACTION
) -> Dataset:
    """Split i.i.d. samples: the first `test_size` of them is the test split."""
    n_test = round(len(X) * test_size)
    y = y.reshape(len(y), -1)
    X_train, y_train, X_test, y_test = X[n_test:], y[n_test:], X[:n_test], y[:n_test]
    return Dataset(name, X_train, y_train, X_test, y_test, "regression", 0, X.shape[1])


def split(
    name: str,
    X: np.ndarray,
    y: np.ndarray,
    classes: tuple[object, ...],
    test_size: float,
    seed: int,
    target: str = "",
) -> Dataset:
    """A data file's samples split at random by `seed`: `test_size` of each class (or of all
    samples, for regression with `classes` empty) to test. DeriveError if a split is empty."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(X))
    X, y = X[order], y[order]
    if classes:
        data = _classification(name, [X[y == k] for k in range(len(classes))], rng, test_size)
    else:
        data = _regression(name, X, y, test_size)
    if not len(data.y_train) or not len(data.y_test):
        raise DeriveError(
            f"--test-size: {test_size:g} of {len(X)} samples leaves the train or the test split"
            " empty; expected a fraction that leaves samples on both sides"
        )
    return replace(data, classes=classes, target=target)


def xor(n_per_class: int = 200, noise: float = 0.15, seed: int = 0) -> Dataset:
    """Points around the corners (+-1, +-1); class 1 where the signs of x and y differ."""
    rng = np.random.default_rng(seed)
    parts = []
    for corners in (((1, 1), (-1, -1)), ((1, -1), (-1, 1))):
        centre = np.array(corners)[rng.integers(0, 2, n_per_class)]
        parts.append(centre + noise * rng.standard_normal((n_per_class, 2)))
    return _classification("xor", parts, rng)


def moons(n_per_class: int = 500, noise: float = 0.1, seed: int = 0) -> Dataset:
    """Two interleaving half circles (the shape of scikit-learn's make_moons), centred."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0.0, np.pi, (2, n_per_class))
    upper = np.stack([np.cos(angle[0]), np.sin(angle[0])], axis=1)
    lower = np.stack([1.0 - np.cos(angle[1]), 0.5 - np.sin(angle[1])], axis=1)
    parts = [p - (0.5, 0.25) + noise * rng.standard_normal(p.shape) for p in (upper, lower)]
    return _classification("moons", parts, rng)


def circles(
    n_per_class: int = 500, factor: float = 0.5, noise: float = 0.05, seed: int = 0
) -> Dataset:
    """A circle of radius 1 (class 0) around one of radius `factor` (class 1)."""
    rng = np.random.default_rng(seed)
    parts = []
    for radius in (1.0, factor):
        angle = rng.uniform(0.0, 2 * np.pi, n_per_class)
        ring = radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)
        parts.append(ring + noise * rng.standard_normal(ring.shape))
    return _classification("circles", parts, rng)


def spirals(
    n_classes: int = 3,
    n_per_class: int = 400,
    turns: float = 1.0,
    noise: float = 0.05,
    seed: int = 0,
) -> Dataset:
    """`n_classes` arms winding out from the centre, each `turns` turns long."""
    rng = np.random.default_rng(seed)
    parts = []
    for k in range(n_classes):
        r = rng.uniform(0.1, 1.0, n_per_class)
        angle = 2 * np.pi * (k / n_classes + turns * r) + noise * rng.standard_normal(n_per_class)
        parts.append(r[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1))
    return _classification("spirals", parts, rng)


def blobs(
    n_classes: int = 4,
    n_per_class: int = 200,
    radius: float = 3.0,
    spread: float = 0.6,
    seed: int = 0,
) -> Dataset:
    """Gaussian blobs centred on a circle around the origin, one per class.

    The centres lie at equal angles, so the classes are told apart by direction alone: a network
    without biases (the notes' networks) can separate them too.
    """
    rng = np.random.default_rng(seed)
    parts = []
    for k in range(n_classes):
        angle = 2 * np.pi * k / n_classes + np.pi / 4
        centre = radius * np.array([np.cos(angle), np.sin(angle)])
        parts.append(centre + spread * rng.standard_normal((n_per_class, 2)))
    return _classification(f"blobs{n_classes}" if n_classes != 4 else "blobs", parts, rng)


def sine(n: int = 1000, noise: float = 0.05, seed: int = 0) -> Dataset:
    """y = sin(x) + noise for x uniform in [-pi, pi]; the noise floor of the MSE is noise**2."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-np.pi, np.pi, (n, 1))
    return _regression("sine", X, np.sin(X) + noise * rng.standard_normal((n, 1)))


def relu_sum(n: int = 1000, seed: int = 0) -> Dataset:
    """y = relu(x1) + relu(x2) for x uniform in [-1, 1]^2, with no noise.

    Nonnegative and positively homogeneous (f(cx) = c f(x) for c >= 0), so a ReLU network without
    biases and with a ReLU output, the network of the notes, can represent it exactly.
    """
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, (n, 2))
    return _regression("relu_sum", X, np.maximum(X, 0.0).sum(axis=1))


def digits(seed: int = 0) -> Dataset:
    """scikit-learn's 1797 8x8 handwritten digit scans, pixels scaled to [0, 1], 10 classes.

    Read from the copy bundled with scikit-learn (no network); the split is stratified by `seed`.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DeriveError("data set 'digits' needs scikit-learn, which is not installed") from None
    bunch = load_digits()
    X, y = bunch.data / 16.0, bunch.target
    rng = np.random.default_rng(seed)
    parts = [X[y == k][rng.permutation(int((y == k).sum()))] for k in range(10)]
    return _classification("digits", parts, rng)


DATASETS: dict[str, Callable[..., Dataset]] = {
    "xor": xor,
    "moons": moons,
    "circles": circles,
    "spirals": spirals,
    "blobs": blobs,
    "blobs3": partial(blobs, n_classes=3),
    "sine": sine,
    "relu_sum": relu_sum,
    "digits": digits,
}


# The held-out score each data set's example reaches (the tests assert these):
# ("accuracy", at least) or ("mse", at most).
TARGETS: dict[str, tuple[str, float]] = {
    "xor": ("accuracy", 1.0),
    "moons": ("accuracy", 0.97),
    "circles": ("accuracy", 0.97),
    "spirals": ("accuracy", 0.95),
    "blobs": ("accuracy", 0.98),
    "blobs3": ("accuracy", 0.98),
    "sine": ("mse", 0.01),
    "relu_sum": ("mse", 0.01),
    "digits": ("accuracy", 0.96),
}


def meets_target(name: str, metric: str, value: float) -> bool | None:
    """Whether `value` meets the target of data set `name`; None when it has none."""
    if name not in TARGETS or TARGETS[name][0] != metric:
        return None
    bound = TARGETS[name][1]
    return value >= bound if metric == "accuracy" else value <= bound


def load(name: str, seed: int = 0) -> Dataset:
    """The data set called `name`, drawn with `seed`; a `DeriveError` for an unknown name."""
    if name not in DATASETS:
        close = difflib.get_close_matches(name, DATASETS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise DeriveError(f"unknown data set {name!r}{hint}; known: {', '.join(DATASETS)}")
    return DATASETS[name](seed=seed)
