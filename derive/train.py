"""`derive train SPEC --dataset NAME`: train a spec's generated module on a data set.

Input: a spec and a data set name. Output: the per-epoch history and the held-out score on
stdout, optionally PNG figures. The module does the training (its own `fit`); this module
checks that the spec fits the data set, shapes the targets, times the run and reports it.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from derive import codegen, datasets
from derive import spec as specs
from derive.errors import DeriveError


@dataclass(frozen=True, eq=False)
class Result:
    """A trained module: its parameters, the `fit` history and the held-out score."""

    net: ModuleType
    params: dict[str, np.ndarray]
    history: dict[str, list[float]]
    metric: str  # "accuracy" | "mse"
    score: float  # on the test split
    seconds: float  # wall time of `fit`


def check_fits(spec: specs.Spec, data: datasets.Dataset, source: str | Path) -> None:
    """Raise `DeriveError` unless the spec's input and output sizes fit the data set."""
    where = f"{source}: layers"
    if spec.n_in != data.n_features:
        raise DeriveError(
            f"{where}: input size {spec.n_in} does not fit data set {data.name!r},"
            f" which has {data.n_features} features"
        )
    if data.task == "regression":
        if spec.classifier:
            raise DeriveError(
                f"{source}: loss: {spec.loss} needs class labels, but data set {data.name!r}"
                " is a regression task (use loss = 'mse')"
            )
        expected = data.n_outputs
        what = f"{expected} target column(s)"
    elif spec.loss == "binary_cross_entropy":  # one sigmoid output: the probability of class 1
        if data.n_classes != 2:
            raise DeriveError(
                f"{source}: loss: binary_cross_entropy needs 2 classes, but data set"
                f" {data.name!r} has {data.n_classes} (use softmax and cross_entropy)"
            )
        expected = 1
        what = "2 classes in one column of labels"
    else:
        expected = data.n_classes
        what = f"{data.n_classes} classes"
    if spec.n_out != expected:
        raise DeriveError(
            f"{where}: output size {spec.n_out} does not fit data set {data.name!r},"
            f" which has {what} (expected output size {expected})"
        )


def targets(spec: specs.Spec, data: datasets.Dataset, y: np.ndarray) -> np.ndarray:
    """`y` as the module's `fit` takes it: labels for a classification loss, one-hot for MSE."""
    if data.task == "classification" and not spec.classifier:
        return np.eye(data.n_classes)[y]
    return y


def score(
    net: ModuleType, spec: specs.Spec, params: dict[str, Any], X: np.ndarray, y: np.ndarray
) -> tuple[str, float]:
    """("accuracy", fraction correct) for class labels `y`, else ("mse", mean squared error)."""
    if y.ndim == 1:
        predicted = net.predict(params, X) if spec.classifier else net.forward(params, X).argmax(1)
        return "accuracy", float(np.mean(np.asarray(predicted).reshape(-1) == y))
    return "mse", float(np.mean((net.forward(params, X) - y) ** 2))


def load_module(spec: specs.Spec) -> ModuleType:
    """The generated module for `spec`: the committed `generated/<name>.py` when its
    fingerprint matches the spec, else the module rendered in memory from the spec."""
    if (codegen.GENERATED / f"{spec.name}.py").is_file():
        committed = codegen.load_module(spec.name)
        if getattr(committed, "FINGERPRINT", None) == spec.fingerprint:
            return committed
    return codegen.build_module(spec)


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with BLAS on one thread, when threadpoolctl (a scikit-learn dependency)
    is installed. These networks multiply small matrices: on a busy machine, BLAS threads
    waiting on each other made `fit` up to 20 times slower than one thread."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def train(
    spec: specs.Spec, data: datasets.Dataset, epochs: int | None = None, verbose: bool = False
) -> Result:
    """Train the spec's module on the train split, seeded by the spec's [training].

    The test split is passed as `validation` for the history only. With `training.patience`
    set, early stopping watches the last fifth of the train split instead, so the held-out
    score never chooses the stopping epoch.
    """
    net = load_module(spec)
    dtype = np.dtype(net.DTYPE)
    X, Y = data.X_train.astype(dtype), targets(spec, data, data.y_train)
    X_test = data.X_test.astype(dtype)
    validation = (X_test, targets(spec, data, data.y_test))
    if spec.training.patience is not None:
        n_val = len(X) // 5
        validation = (X[:n_val], Y[:n_val])
        X, Y = X[n_val:], Y[n_val:]
    params = net.init_params(seed=spec.training.seed)
    # fit checks every loss itself and names the batch; no RuntimeWarning on the way there
    with one_blas_thread(), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        start = time.perf_counter()
        history = net.fit(
            params,
            X,
            Y,
            epochs=epochs or spec.training.epochs,
            batch_size=spec.training.batch_size,
            seed=spec.training.seed,
            validation=validation,
            verbose=verbose,
        )
        seconds = time.perf_counter() - start
    metric, value = score(net, spec, params, X_test, data.y_test)
    return Result(net, params, history, metric, value, seconds)


def architecture(spec: specs.Spec) -> str:
    """Sizes and activations, e.g. `2-64-64-3 relu,relu,softmax`."""
    sizes = "-".join(str(n) for n in spec.layers)
    bias = "" if spec.bias else " no-bias"
    return f"{sizes} {','.join(spec.activations)}{bias}"


def schedule(spec: specs.Spec, epochs: int | None = None) -> str:
    """Loss, optimizer and training, e.g. `cross_entropy adam 0.01, 300x32`."""
    opt = spec.optimizer
    epochs = epochs or spec.training.epochs
    return f"{spec.loss} {opt.kind} {opt.learning_rate:g}, {epochs}x{spec.training.batch_size}"


def format_score(metric: str, value: float) -> str:
    """`accuracy 97.60%` or `mse 0.00312`."""
    return f"accuracy {100 * value:.2f}%" if metric == "accuracy" else f"mse {value:.5f}"


def history_table(history: dict[str, list[float]], rows: int = 20) -> str:
    """The history as a table of about `rows` epochs, evenly spaced, always with the last."""
    columns = [key for key in ("loss", "val_loss", "accuracy", "val_accuracy") if history.get(key)]
    n = len(history["loss"])
    step = max(1, math.ceil(n / rows))
    epochs = sorted({0, *range(step - 1, n, step), n - 1})
    lines = ["epoch " + " ".join(f"{key:>12}" for key in columns)]
    for e in epochs:
        cells = []
        for key in columns:
            value = history[key][e]
            cells.append(f"{100 * value:11.2f}%" if "accuracy" in key else f"{value:12.5f}")
        lines.append(f"{e + 1:5d} " + " ".join(cells))
    return "\n".join(lines)


def run_train(spec_path: Path, dataset: str | None, epochs: int | None, plots: Path | None) -> int:
    """`derive train`: train the spec on the data set, print the history and the test score."""
    spec = specs.load(spec_path)
    name = dataset or spec.training.dataset
    if name is None:
        raise DeriveError(
            f"{spec_path}: training.dataset: no data set named; pass --dataset NAME"
            f" (one of {', '.join(datasets.DATASETS)})"
        )
    if epochs is not None and epochs < 1:
        raise DeriveError(f"--epochs: expected a positive integer, found {epochs}")
    if plots is not None:
        from derive import plots as figures

        figures.require()
        if plots.exists() and not plots.is_dir():
            raise DeriveError(f"--plots: expected a folder, found a file: {plots}")
    data = datasets.load(name, seed=spec.training.seed)
    check_fits(spec, data, spec_path)

    print(f"training {spec.name} ({architecture(spec)}) on {data.name}")
    print(
        f"{spec.loss}, {spec.optimizer.kind} learning rate {spec.optimizer.learning_rate:g},"
        f" {epochs or spec.training.epochs} epochs of batches of {spec.training.batch_size},"
        f" seed {spec.training.seed}; {len(data.y_train)} train / {len(data.y_test)} test samples"
    )
    try:
        result = train(spec, data, epochs)
    except FloatingPointError as exc:
        print(
            f"derive: training stopped: {exc}; try a smaller optimizer.learning_rate",
            file=sys.stderr,
        )
        return 1
    print(history_table(result.history))
    print(
        f"held-out {format_score(result.metric, result.score)}"
        f" ({len(data.y_test)} samples), trained in {result.seconds:.2f} s"
    )
    if plots is not None:
        from derive import plots as figures

        for path in figures.write_all(result, spec, data, plots):
            print(f"wrote {path}")
    return 0
