"""PNG figures of a training run: loss curves, decision boundaries, a regression fit.

matplotlib is optional (the `plot` extra) and imported only when a figure is drawn. Figures
are drawn on `matplotlib.figure.Figure` with the Agg canvas, never through pyplot's global
state, and written to file names made of the spec and data set names alone.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from derive.errors import DeriveError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from derive.spec import Spec
    from derive.training.datasets import Dataset
    from derive.training.train import Result

METADATA = {"Software": None}  # no version string in the PNG: same run, same bytes


def available() -> bool:
    """True when matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def require() -> None:
    """Raise `DeriveError` when matplotlib is missing."""
    if not available():
        raise DeriveError("--plots: needs matplotlib (pip install matplotlib)")


def _figure() -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.5, 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", metadata=METADATA)
    return path


def loss_curves(history: dict[str, Any], title: str, path: Path) -> Path:
    """Train, validation and test loss per epoch (log scale), written to `path`."""
    figure = _figure()
    axes = figure.subplots()
    epochs = np.arange(1, len(history["loss"]) + 1)
    axes.plot(epochs, history["loss"], label="train")
    for key, label in (("val_loss", "validation"), ("test_loss", "test (held out)")):
        if history.get(key):
            axes.plot(epochs[: len(history[key])], history[key], label=label)
    axes.set(xlabel="epoch", ylabel="loss", yscale="log", title=title)
    axes.legend()
    return _save(figure, path)


def decision_boundary(
    predict: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    title: str,
    path: Path,
) -> Path:
    """The predicted class over the plane of 2-D `X`, with the samples `(X, y)` on top."""
    low, high = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    xs, ys = np.linspace(low[0], high[0], 200), np.linspace(low[1], high[1], 200)
    grid_x, grid_y = np.meshgrid(xs, ys)
    grid = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1)
    classes = np.asarray(predict(grid)).reshape(grid_x.shape)
    n_classes = int(max(classes.max(), y.max())) + 1
    figure = _figure()
    axes = figure.subplots()
    levels = np.arange(n_classes + 1) - 0.5
    axes.contourf(grid_x, grid_y, classes, levels=levels, cmap="tab10", vmin=0, vmax=9, alpha=0.3)
    axes.scatter(X[:, 0], X[:, 1], c=y, cmap="tab10", vmin=0, vmax=9, s=8, edgecolors="none")
    axes.set(xlabel="x1", ylabel="x2", title=title)
    return _save(figure, path)


def regression_fit(
    predict: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    title: str,
    path: Path,
) -> Path:
    """Samples of a 1-D regression task and the model's curve over their range."""
    xs = np.linspace(X[:, 0].min(), X[:, 0].max(), 400).reshape(-1, 1)
    figure = _figure()
    axes = figure.subplots()
    axes.scatter(X[:, 0], y[:, 0], s=6, color="0.6", label="held out")
    axes.plot(xs[:, 0], np.asarray(predict(xs))[:, 0], color="C3", label="model")
    axes.set(xlabel="x", ylabel="y", title=title)
    axes.legend()
    return _save(figure, path)


def write_all(result: Result, spec: Spec, data: Dataset, folder: Path) -> list[Path]:
    """Every figure that fits the run: loss curves; a boundary (2-D classes) or a fit (1-D)."""
    from derive.training.train import architecture, format_score

    stem = f"{spec.name}_{data.name}"
    title = f"{spec.name} on {data.name}: held-out {format_score(result.metric, result.score)}"
    title += f"\n{architecture(spec)}"
    net, params = result.net, result.params
    dtype = np.dtype(net.DTYPE)

    def classes(X: np.ndarray) -> Any:
        out = net.forward(params, X.astype(dtype))
        if out.shape[1] == 1:
            return (out[:, 0] > 0.5).astype(int)
        return out.argmax(axis=1)

    def values(X: np.ndarray) -> Any:
        return net.forward(params, X.astype(dtype))

    paths = [loss_curves(result.history, title, folder / f"{stem}_loss.png")]
    if data.task == "classification" and data.n_features == 2:
        path = folder / f"{stem}_boundary.png"
        paths.append(decision_boundary(classes, data.X_test, data.y_test, title, path))
    if data.task == "regression" and data.n_features == 1:
        path = folder / f"{stem}_fit.png"
        paths.append(regression_fit(values, data.X_test, data.y_test, title, path))
    return paths
