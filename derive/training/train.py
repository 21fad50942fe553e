"""`derive train SPEC`: train a spec's generated module on a data set or a data file.

Input: a spec, a built-in data set name or a CSV/.npz file, and overrides of the spec's
[training] (epochs, batch size, learning rate, seed). Output: the per-epoch history and the
held-out score on stdout, optionally PNG figures and a save of the trained parameters (the
module's own `save` format, which its `load` reads back). The module does the training (its
own `fit`); this module checks that the spec fits the data, shapes the targets, times the run
and reports it.
"""

from __future__ import annotations

import contextlib
import math
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from derive import codegen
from derive import spec as specs
from derive.errors import DeriveError, plain
from derive.training import datafile, datasets


@dataclass(frozen=True, eq=False)
class Result:
    """A trained module: its parameters, the `fit` history and the held-out score."""

    net: ModuleType
    params: dict[str, np.ndarray]
    state: dict[str, Any]  # the optimizer state, as `save` takes it
    history: dict[str, Any]  # val_*: the validation split; test_*: the test split
    metric: str  # "accuracy" | "mse"
    score: float  # on the test split
    seconds: float  # wall time of `fit`


def check_fits(spec: specs.Spec, data: datasets.Dataset, source: str | Path) -> None:
    """Raise `DeriveError` unless the spec's input and output sizes fit the data set."""
    where = f"{source}: layers"
    named = f"data set {data.name!r}" + (f" ({data.target})" if data.target else "")
    if spec.n_in != data.n_features:
        raise DeriveError(
            f"{where}: input size {spec.n_in} does not fit {named},"
            f" which has {data.n_features} {_plural(data.n_features, 'feature')}"
        )
    if data.task == "regression":
        if spec.classifier:
            raise DeriveError(
                f"{source}: loss: {spec.loss} needs class labels, but {named}"
                " is a regression task (use loss = 'mse')"
            )
        expected = data.n_outputs
        what = f"{expected} target {_plural(expected, 'column')}"
    elif spec.loss == "binary_cross_entropy":  # one sigmoid output: the probability of class 1
        if data.n_classes != 2:
            raise DeriveError(
                f"{source}: loss: binary_cross_entropy needs 2 classes, but {named}"
                f" has {data.n_classes} (use softmax and cross_entropy)"
            )
        expected = 1
        what = "2 classes in one column of labels"
    else:
        expected = data.n_classes
        what = f"{data.n_classes} {_plural(data.n_classes, 'class', 'classes')}"
        if data.classes:
            shown = ", ".join(repr(c) for c in data.classes[:10])
            what += f" ({shown}{', ...' if len(data.classes) > 10 else ''})"
    if spec.n_out != expected:
        raise DeriveError(
            f"{where}: output size {spec.n_out} does not fit {named},"
            f" which has {what} (expected output size {expected})"
        )


def _plural(count: int, word: str, plural: str | None = None) -> str:
    """`word` for a count of 1, else its plural: "1 feature", "2 features"."""
    return word if count == 1 else plural or word + "s"


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
def progress(epochs: int) -> Iterator[Callable[[int, dict[str, Any]], None]]:
    """An `on_epoch` callback for `fit`: a tqdm progress bar when stderr is a terminal, else
    a plain line on stdout about every tenth of the run (logs and pipes get no bar)."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        with tqdm(total=epochs, unit="epoch", leave=False, dynamic_ncols=True) as bar:

            def advance(epoch: int, history: dict[str, Any]) -> None:
                bar.set_postfix(loss=f"{history['loss'][-1]:.4g}", refresh=False)
                bar.update(1)

            yield advance
        return
    every = max(1, epochs // 10)

    def line(epoch: int, history: dict[str, Any]) -> None:
        if epoch % every == 0 or epoch == epochs:
            print(f"epoch {epoch}/{epochs}: loss {history['loss'][-1]:.5f}", flush=True)

    yield line


def train(
    spec: specs.Spec,
    data: datasets.Dataset,
    epochs: int | None = None,
    verbose: bool = False,
    on_epoch: Callable[[int, dict[str, Any]], None] | None = None,
) -> Result:
    """Train the spec's module on the train split, with the spec's [training] settings.

    Without `training.patience`, the test split is scored after every epoch for the history
    (as test_loss, test_accuracy) and never steers training. With it, early stopping watches
    a validation split, the last fifth of the train split (val_loss, val_accuracy).
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
    state = net.init_optimizer(params)
    # fit checks every loss itself and names the batch; no RuntimeWarning on the way there
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
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
            patience=spec.training.patience,
            state=state,
            schedule=fit_schedule(spec),
            clip_norm=spec.training.clip_norm,
            on_epoch=on_epoch,
        )
        seconds = time.perf_counter() - start
    if spec.training.patience is None:  # what fit watched was the test split: say so
        history = {key.replace("val_", "test_"): value for key, value in history.items()}
    metric, value = score(net, spec, params, X_test, data.y_test)
    return Result(net, params, state, history, metric, value, seconds)


def fit_schedule(spec: specs.Spec) -> dict[str, Any] | None:
    """The spec's [training.schedule] as `fit` takes it."""
    return None if spec.training.schedule is None else dict(spec.training.schedule)


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
    keys = ("loss", "val_loss", "test_loss", "accuracy", "val_accuracy", "test_accuracy")
    columns = [key for key in keys if history.get(key)]
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


@dataclass(frozen=True)
class Options:
    """`derive train`'s flags: where the data comes from and overrides of the spec."""

    dataset: str | None = None
    data: Path | None = None
    target: str | None = None
    test_size: float | None = None
    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    seed: int | None = None
    save: Path | None = None
    plots: Path | None = None


def with_overrides(spec: specs.Spec, options: Options, flags: bool = True) -> specs.Spec:
    """The spec with the options' epochs, batch size, seed and learning rate, each checked as
    the spec's own keys are; errors name them as flags (--batch-size), or with `flags`
    False as arguments (batch_size). A new learning rate is a new optimizer, hence a new
    module."""

    def name(key: str) -> str:
        return "--" + key.replace("_", "-") if flags else key

    training = spec.training
    for key, value, low, high in (
        ("epochs", options.epochs, 1, 1_000_000),
        ("batch_size", options.batch_size, 1, 1 << 24),
        ("seed", options.seed, 0, 2**32 - 1),
    ):
        whole = isinstance(value, int) and not isinstance(value, bool)
        if value is not None and not (whole and low <= value <= high):
            expected = f"an integer from {low} to {high}"
            raise DeriveError(f"{name(key)}: expected {expected}, found {value!r}")
    training = replace(
        training,
        epochs=options.epochs or training.epochs,
        batch_size=options.batch_size or training.batch_size,
        seed=training.seed if options.seed is None else options.seed,
    )
    optimizer = spec.optimizer
    if options.learning_rate is not None:
        rate = options.learning_rate
        number = isinstance(rate, int | float) and not isinstance(rate, bool)
        if not (number and 0 < rate <= 1e3):  # NaN fails the comparison
            expected = "a number in (0, 1000]"
            raise DeriveError(f"{name('learning_rate')}: expected {expected}, found {rate!r}")
        hyper = dict(optimizer.hyper, learning_rate=float(rate))
        optimizer = specs.Optimizer(optimizer.kind, tuple(sorted(hyper.items())))
    return replace(spec, training=training, optimizer=optimizer)


def load_data(spec: specs.Spec, spec_path: Path, options: Options) -> datasets.Dataset:
    """The data set the flags name (a file with --data, else --dataset or the spec's)."""
    if options.data is not None:
        if options.dataset is not None:
            raise DeriveError("--data: expected either --data FILE or --dataset NAME, found both")
        test_size = 0.25 if options.test_size is None else options.test_size
        if not 0 < test_size < 1:
            raise DeriveError(f"--test-size: expected a fraction in (0, 1), found {test_size}")
        return datafile.read(
            options.data, options.target, spec.classifier, test_size, spec.training.seed
        )
    for flag, value in (("--target", options.target), ("--test-size", options.test_size)):
        if value is not None:
            raise DeriveError(f"{flag}: only with --data FILE (built-in data sets are split)")
    name = options.dataset or spec.training.dataset
    if name is None:
        raise DeriveError(
            f"{spec_path}: training.dataset: no data set named; pass --dataset NAME"
            f" (one of {', '.join(datasets.DATASETS)}) or --data FILE"
        )
    try:
        return datasets.load(name, seed=spec.training.seed)
    except DeriveError as exc:  # say which input named it: the flag or the spec's key
        where = "--dataset" if options.dataset else f"{plain(str(spec_path))}: training.dataset"
        raise DeriveError(f"{where}: {exc}") from None


def _check_outputs(options: Options) -> None:
    """Refuse --save and --plots paths that cannot be written, before any training."""
    if options.plots is not None:
        from derive.training import plots as figures

        figures.require()
        with _os_error_of("--plots"):
            # the figures' folder is made with its parents: the nearest one there takes them
            there = next(p for p in [options.plots, *options.plots.parents] if p.exists())
            if not there.is_dir():
                raise DeriveError(f"--plots: expected a folder, found a file: {there}")
            _check_writable("--plots", there)
    if options.save is not None:
        with _os_error_of("--save"):
            folder = options.save.parent
            if options.save.is_dir():
                raise DeriveError(f"--save: expected a file name, found a folder: {options.save}")
            if not folder.is_dir():
                raise DeriveError(f"--save: expected an existing folder, found none: {folder}")
            _check_writable("--save", folder)


@contextlib.contextmanager
def _os_error_of(flag: str) -> Iterator[None]:
    """An OSError on the flag's path (a folder that cannot be searched, a full disk): one
    line naming the file, not a traceback."""
    try:
        yield
    except OSError as exc:
        raise DeriveError(f"{flag}: {exc.filename}: {exc.strerror or exc}") from None


def _check_writable(flag: str, folder: Path) -> None:
    """A file can be made in `folder`: tried, so permissions, root and read-only mounts agree."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise DeriveError(
            f"{flag}: expected a folder derive can write in, found {folder}: {exc.strerror or exc}"
        ) from None


def run_train(spec_path: Path, options: Options) -> int:
    """`derive train`: train the spec on the data, print the history and the test score."""
    spec = with_overrides(specs.load(spec_path), options)
    _check_outputs(options)
    data = load_data(spec, spec_path, options)
    check_fits(spec, data, spec_path)

    print(f"training {spec.name} ({architecture(spec)}) on {data.name}")
    counts = f"{len(data.y_train)} train / {len(data.y_test)} test samples"
    if data.classes:
        counts += f"; classes {', '.join(repr(c) for c in data.classes[:10])}"
    print(
        f"{spec.loss}, {spec.optimizer.kind} learning rate {spec.optimizer.learning_rate:g},"
        f" {spec.training.epochs} epochs of batches of {spec.training.batch_size},"
        f" seed {spec.training.seed}; {counts}"
    )
    if spec.training.schedule is not None or spec.training.clip_norm is not None:
        rates = fit_schedule(spec) or "constant"
        print(f"learning rate schedule {rates}, gradient clip norm {spec.training.clip_norm}")
    try:
        with progress(spec.training.epochs) as on_epoch:
            result = train(spec, data, on_epoch=on_epoch)
    except FloatingPointError as exc:
        print(
            f"derive: training stopped: {exc}; try a smaller optimizer.learning_rate",
            file=sys.stderr,
        )
        return 1
    print(history_table(result.history))
    if result.history.get("stopped"):
        print(result.history["stopped"])
    print(
        f"held-out {format_score(result.metric, result.score)}"
        f" ({len(data.y_test)} samples), trained in {result.seconds:.2f} s"
    )
    if options.save is not None:
        try:
            result.net.save(options.save, result.params, result.state)
        except OSError as exc:
            raise DeriveError(f"--save: {options.save}: {exc.strerror or exc}") from None
        print(f"saved {options.save}: {spec.name}.load reads it back")
        if options.learning_rate is not None:
            print(
                f"  (a save belongs to its optimizer: load it with the module of {spec.name}"
                f" generated with optimizer.learning_rate = {spec.optimizer.learning_rate:g})"
            )
    if options.plots is not None:
        from derive.training import plots as figures

        with _os_error_of("--plots"):  # a full disk, or the folder changed since the check
            written = figures.write_all(result, spec, data, options.plots)
        for path in written:
            print(f"wrote {path}")
    return 0
