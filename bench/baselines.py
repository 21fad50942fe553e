"""The implementations the generated `train_step` is measured against, one SGD step each.

Every `make_*` takes a `Workload` and returns an `Impl` holding its own copy of the workload's
initial parameters: `impl.step(*impl.args)` runs one training step (forward, backward, SGD
update) and returns the loss before the update; `impl.params()` returns the current parameters
in the generated module's layout (`W<l>` of shape (s(l), s(l-1)), `b<l>` of shape (s(l),)).

- `make_plain`: NumPy written the obvious way: a loop over layers, `@`, fresh arrays.
- `make_fast`: NumPy tuned by hand (the bar for generated code), see `_fast_*` below.
- `make_torch`: PyTorch eager, `nn.Sequential` + `optim.SGD`, on the CPU.
- `make_sklearn`: scikit-learn `MLPClassifier.partial_fit` on the one batch.
- `make_jax`: `jax.jit` of value_and_grad plus the update (only where JAX is installed).
- `make_generated`: a generated module's `train_step`.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import textwrap
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from workloads import Workload

Params = dict[str, np.ndarray]


@dataclass
class Impl:
    """One implementation of one workload's training step, ready to time."""

    name: str
    step: Callable[..., float]
    args: tuple[Any, ...]
    params: Callable[[], Params]
    note: str = ""
    checked: bool = True  # False: computes a different loss, so its update is not compared
    source: Callable[..., Any] | None = field(default=None, repr=False)  # for counting calls


# --- plain NumPy: the obvious code -------------------------------------------------------


def make_plain(work: Workload) -> Impl:
    """NumPy the obvious way: a Python loop over layers, every intermediate a new array."""
    spec = work.spec
    params = {k: v.copy() for k, v in work.params.items()}

    def step(X: np.ndarray, Y: np.ndarray) -> float:
        loss, grads = plain_loss_and_grads(spec.activations, spec.loss, params, X, Y)
        for name, grad in grads.items():
            params[name] -= spec.optimizer.learning_rate * grad
        return loss

    return Impl("numpy-plain", step, (work.X, work.Y), lambda: _copies(params))


def plain_loss_and_grads(
    activations: tuple[str, ...], loss: str, params: Params, X: np.ndarray, Y: np.ndarray
) -> tuple[float, Params]:
    """The loss and its gradients by the textbook recursion; any dtype (float64: a reference)."""
    n = X.shape[0]
    A, Zs = [X], []
    for layer, act in enumerate(activations, start=1):
        Z = A[-1] @ params[f"W{layer}"].T + params[f"b{layer}"]
        Zs.append(Z)
        if act == "relu":
            A.append(np.maximum(Z, 0))
        elif act == "sigmoid":
            A.append(1 / (1 + np.exp(-Z)))
        elif act == "softmax":
            E = np.exp(Z - Z.max(axis=1, keepdims=True))
            A.append(E / E.sum(axis=1, keepdims=True))
        else:
            raise NotImplementedError(f"numpy-plain: activation {act!r}")
    out = A[-1]
    if loss == "cross_entropy":
        shifted = Zs[-1] - Zs[-1].max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        value = -np.sum(Y * log_p) / n
        delta = (out - Y) / n
    elif loss == "mse" and activations[-1] == "sigmoid":
        value = np.mean((out - Y) ** 2)
        delta = 2 * (out - Y) / out.size * out * (1 - out)
    else:
        raise NotImplementedError(f"numpy-plain: loss {loss!r} after {activations[-1]!r}")
    grads: Params = {}
    for layer in range(len(activations), 0, -1):
        grads[f"W{layer}"] = delta.T @ A[layer - 1]
        grads[f"b{layer}"] = delta.sum(axis=0)
        if layer > 1:
            delta = (delta @ params[f"W{layer}"]) * (Zs[layer - 2] > 0)
    return float(value), grads


def reference_update(work: Workload) -> tuple[float, Params]:
    """The loss and the parameters after one step, in float64 from the same start: the oracle."""
    spec = work.spec
    params = {k: v.astype(np.float64) for k, v in work.params.items()}
    X, Y = work.X.astype(np.float64), work.Y.astype(np.float64)
    loss, grads = plain_loss_and_grads(spec.activations, spec.loss, params, X, Y)
    lr = spec.optimizer.learning_rate
    return loss, {k: params[k] - lr * grads[k] for k in params}


def update_error(work: Workload, after: Params, expected: Params) -> float:
    """The largest error in one step's update (after - before), relative to the update's size.

    Comparing updates rather than parameters keeps the check sensitive to the gradient even
    when a float32 parameter is much larger than its change.
    """
    worst = 0.0
    for name, start in work.params.items():
        start64 = start.astype(np.float64)
        want = expected[name] - start64
        got = np.asarray(after[name], dtype=np.float64) - start64
        if got.shape != want.shape:
            return float("inf")
        scale = max(float(np.abs(want).max()), 1e-12)
        worst = max(worst, float(np.abs(got - want).max()) / scale)
    return worst


def tolerance(dtype: str) -> float:
    """The update error an implementation in `dtype` may show against the float64 oracle."""
    return 1e-3 if dtype == "float32" else 1e-8


# --- hand-optimized NumPy: the bar -------------------------------------------------------
#
# What makes these fast, and what the generated code has to match:
# - straight-line code for one architecture: no loop over layers, no branch per step;
# - every buffer made once; every call writes with out=; a matmul never writes into one of
#   its inputs (NumPy would copy); transposes are views made once;
# - each bias lives in an extra column of its weight matrix ([W | b]), and each layer's input
#   buffer has a constant column of ones, so one matmul gives X W^T + b, one gives both dW and
#   db, and one subtraction updates both: three calls per layer fewer than a separate bias;
# - constants are 0-d arrays of the dtype: a Python scalar costs a conversion per call;
# - lr / n (and 2 / n_out for mse) are folded into the output error once, so nothing is
#   scaled per layer, and the update is a single subtract;
# - float32 ReLU: numpy.greater into a bool buffer, copyto into a float mask, multiply (4x
#   faster than numpy.maximum on float32 at W4's sizes); the mask is reused by the backward
#   pass; for the tiny float64 W1, maximum + sign is one call fewer;
# - softmax + cross-entropy fused: the loss comes from vdot(Y, z - max) and log(sum exp).


def make_fast(work: Workload) -> Impl:
    """Hand-optimized NumPy for the workload's architecture (the three shapes of the bench)."""
    spec = work.spec
    if not spec.bias or spec.optimizer.kind != "sgd":
        raise NotImplementedError("numpy-fast: biased layers and plain SGD only")
    shape = (spec.activations, spec.loss)
    builders = {
        (("relu", "sigmoid"), "mse"): _fast_relu_sigmoid_mse,
        (("relu", "softmax"), "cross_entropy"): _fast_relu_softmax_ce,
        (("relu", "relu", "softmax"), "cross_entropy"): _fast_relu_relu_softmax_ce,
    }
    if shape not in builders:
        raise NotImplementedError(f"numpy-fast: no hand-written step for {shape}")
    step, weights = builders[shape](work)

    def params() -> Params:
        out: Params = {}
        for layer, Wb in enumerate(weights, start=1):
            out[f"W{layer}"] = Wb[:, :-1].copy()
            out[f"b{layer}"] = Wb[:, -1].copy()
        return out

    return Impl("numpy-fast", step, (work.X, work.Y), params, source=step)


def _joined(work: Workload, layer: int) -> np.ndarray:
    """[W | b]: the layer's weights with its bias as an extra last column."""
    W, b = work.params[f"W{layer}"], work.params[f"b{layer}"]
    return np.ascontiguousarray(np.concatenate([W, b[:, None]], axis=1))


def _ones_column(rows: int, width: int, dtype: str) -> np.ndarray:
    """A (rows, width + 1) buffer whose last column is 1: a layer input with the bias input."""
    buf = np.zeros((rows, width + 1), dtype)
    buf[:, width] = 1
    return buf


def _fast_relu_sigmoid_mse(work: Workload) -> tuple[Callable[..., float], list[np.ndarray]]:
    """n_in -> ReLU -> sigmoid, mean squared error (W1)."""
    spec, n, dt = work.spec, work.batch, work.spec.dtype
    d0, h1, k = spec.layers
    W1b, W2b = _joined(work, 1), _joined(work, 2)
    W1t, W2t, W2 = W1b.T, W2b.T, W2b[:, :h1]
    Xb, A1b = _ones_column(n, d0, dt), _ones_column(n, h1, dt)
    X0, A1 = Xb[:, :d0], A1b[:, :h1]
    Z1, M1, D1 = (np.empty((n, h1), dt) for _ in range(3))
    Z2, A2, E, G2 = (np.empty((n, k), dt) for _ in range(4))
    G2t = G2.T
    D1t = D1.T
    dW1, dW2 = np.empty_like(W1b), np.empty_like(W2b)
    zero, one = np.zeros((), dt), np.ones((), dt)
    scale = np.array(2 * spec.optimizer.learning_rate / (n * k), dt)  # d mean / d a, and lr
    inv_size = 1.0 / (n * k)
    matmul, copyto, maximum, sign, vdot = np.matmul, np.copyto, np.maximum, np.sign, np.vdot
    add, subtract, multiply, divide, negative, exp = (
        np.add, np.subtract, np.multiply, np.divide, np.negative, np.exp,
    )  # fmt: skip

    def step(X: np.ndarray, Y: np.ndarray) -> float:
        copyto(X0, X)
        matmul(Xb, W1t, out=Z1)  # Z1 = X W1^T + b1
        maximum(Z1, zero, out=A1)
        matmul(A1b, W2t, out=Z2)  # Z2 = A1 W2^T + b2
        negative(Z2, out=A2)  # A2 = 1 / (1 + exp(-Z2))
        exp(A2, out=A2)
        add(A2, one, out=A2)
        divide(one, A2, out=A2)
        subtract(A2, Y, out=E)
        sse = vdot(E, E)
        subtract(one, A2, out=G2)  # G2 = lr 2/(n k) (A2 - Y) A2 (1 - A2)
        multiply(G2, A2, out=G2)
        multiply(G2, E, out=G2)
        multiply(G2, scale, out=G2)
        matmul(G2t, A1b, out=dW2)  # [dW2 | db2], times lr
        matmul(G2, W2, out=D1)  # before W2 changes
        subtract(W2b, dW2, out=W2b)
        sign(A1, out=M1)  # ReLU'(Z1): 1 where Z1 > 0, else 0
        multiply(D1, M1, out=D1)
        matmul(D1t, Xb, out=dW1)
        subtract(W1b, dW1, out=W1b)
        return float(sse) * inv_size

    return step, [W1b, W2b]


def _fast_relu_softmax_ce(work: Workload) -> tuple[Callable[..., float], list[np.ndarray]]:
    """n_in -> ReLU -> softmax, cross-entropy (W3)."""
    spec, n, dt = work.spec, work.batch, work.spec.dtype
    d0, h1, k = spec.layers
    W1b, W2b = _joined(work, 1), _joined(work, 2)
    W1t, W2t, W2 = W1b.T, W2b.T, W2b[:, :h1]
    Xb, A1b = _ones_column(n, d0, dt), _ones_column(n, h1, dt)
    X0, A1 = Xb[:, :d0], A1b[:, :h1]
    Z1, M1, D1 = (np.empty((n, h1), dt) for _ in range(3))
    B1 = np.empty((n, h1), bool)
    Z2, P, G2 = (np.empty((n, k), dt) for _ in range(3))
    row_max, row_sum, log_sum = (np.empty((n, 1), dt) for _ in range(3))
    G2t, D1t = G2.T, D1.T
    dW1, dW2 = np.empty_like(W1b), np.empty_like(W2b)
    zero = np.zeros((), dt)
    scale = np.array(spec.optimizer.learning_rate / n, dt)
    inv_n = 1.0 / n
    matmul, copyto, greater, vdot, log, exp = (
        np.matmul, np.copyto, np.greater, np.vdot, np.log, np.exp,
    )  # fmt: skip
    subtract, multiply, divide = np.subtract, np.multiply, np.divide
    max_reduce, sum_reduce = np.maximum.reduce, np.add.reduce

    def step(X: np.ndarray, Y: np.ndarray) -> float:
        copyto(X0, X)
        matmul(Xb, W1t, out=Z1)  # Z1 = X W1^T + b1
        greater(Z1, zero, out=B1)  # ReLU via its mask, kept for the backward pass
        copyto(M1, B1)
        multiply(Z1, M1, out=A1)
        matmul(A1b, W2t, out=Z2)  # Z2 = A1 W2^T + b2
        max_reduce(Z2, axis=1, keepdims=True, out=row_max)
        subtract(Z2, row_max, out=P)
        y_dot_z = vdot(Y, P)  # loss = (sum log sum exp - y . (z - max)) / n
        exp(P, out=P)
        sum_reduce(P, axis=1, keepdims=True, out=row_sum)
        log(row_sum, out=log_sum)
        loss = float(sum_reduce(log_sum, axis=None)) - float(y_dot_z)
        divide(P, row_sum, out=P)  # softmax
        subtract(P, Y, out=G2)  # G2 = lr/n (P - Y)
        multiply(G2, scale, out=G2)
        matmul(G2t, A1b, out=dW2)
        matmul(G2, W2, out=D1)
        subtract(W2b, dW2, out=W2b)
        multiply(D1, M1, out=D1)
        matmul(D1t, Xb, out=dW1)
        subtract(W1b, dW1, out=W1b)
        return loss * inv_n

    return step, [W1b, W2b]


def _fast_relu_relu_softmax_ce(work: Workload) -> tuple[Callable[..., float], list[np.ndarray]]:
    """n_in -> ReLU -> ReLU -> softmax, cross-entropy (W2, W4)."""
    spec, n, dt = work.spec, work.batch, work.spec.dtype
    d0, h1, h2, k = spec.layers
    W1b, W2b, W3b = _joined(work, 1), _joined(work, 2), _joined(work, 3)
    W1t, W2t, W3t = W1b.T, W2b.T, W3b.T
    W2, W3 = W2b[:, :h1], W3b[:, :h2]
    Xb, A1b, A2b = _ones_column(n, d0, dt), _ones_column(n, h1, dt), _ones_column(n, h2, dt)
    X0, A1, A2 = Xb[:, :d0], A1b[:, :h1], A2b[:, :h2]
    Z1, M1, D1 = (np.empty((n, h1), dt) for _ in range(3))
    Z2, M2, D2 = (np.empty((n, h2), dt) for _ in range(3))
    B1, B2 = np.empty((n, h1), bool), np.empty((n, h2), bool)
    Z3, P, G3 = (np.empty((n, k), dt) for _ in range(3))
    row_max, row_sum, log_sum = (np.empty((n, 1), dt) for _ in range(3))
    G3t, D2t, D1t = G3.T, D2.T, D1.T
    dW1, dW2, dW3 = np.empty_like(W1b), np.empty_like(W2b), np.empty_like(W3b)
    zero = np.zeros((), dt)
    scale = np.array(spec.optimizer.learning_rate / n, dt)
    inv_n = 1.0 / n
    matmul, copyto, greater, vdot, log, exp = (
        np.matmul, np.copyto, np.greater, np.vdot, np.log, np.exp,
    )  # fmt: skip
    subtract, multiply, divide = np.subtract, np.multiply, np.divide
    max_reduce, sum_reduce = np.maximum.reduce, np.add.reduce

    def step(X: np.ndarray, Y: np.ndarray) -> float:
        copyto(X0, X)
        matmul(Xb, W1t, out=Z1)  # Z1 = X W1^T + b1
        greater(Z1, zero, out=B1)  # ReLU via its mask, kept for the backward pass
        copyto(M1, B1)
        multiply(Z1, M1, out=A1)
        matmul(A1b, W2t, out=Z2)  # Z2 = A1 W2^T + b2
        greater(Z2, zero, out=B2)
        copyto(M2, B2)
        multiply(Z2, M2, out=A2)
        matmul(A2b, W3t, out=Z3)  # Z3 = A2 W3^T + b3
        max_reduce(Z3, axis=1, keepdims=True, out=row_max)
        subtract(Z3, row_max, out=P)
        y_dot_z = vdot(Y, P)  # loss = (sum log sum exp - y . (z - max)) / n
        exp(P, out=P)
        sum_reduce(P, axis=1, keepdims=True, out=row_sum)
        log(row_sum, out=log_sum)
        loss = float(sum_reduce(log_sum, axis=None)) - float(y_dot_z)
        divide(P, row_sum, out=P)  # softmax
        subtract(P, Y, out=G3)  # G3 = lr/n (P - Y)
        multiply(G3, scale, out=G3)
        matmul(G3t, A2b, out=dW3)
        matmul(G3, W3, out=D2)
        subtract(W3b, dW3, out=W3b)
        multiply(D2, M2, out=D2)
        matmul(D2t, A1b, out=dW2)
        matmul(D2, W2, out=D1)
        subtract(W2b, dW2, out=W2b)
        multiply(D1, M1, out=D1)
        matmul(D1t, Xb, out=dW1)
        subtract(W1b, dW1, out=W1b)
        return loss * inv_n

    return step, [W1b, W2b, W3b]


# --- PyTorch, scikit-learn, JAX ----------------------------------------------------------


def make_torch(work: Workload, threads: int | None = None) -> Impl:
    """PyTorch eager as usually written: nn.Sequential, a functional loss, optim.SGD."""
    import torch
    from torch import nn
    from torch.nn import functional

    if threads:
        torch.set_num_threads(threads)
    spec = work.spec
    dtype = getattr(torch, spec.dtype)
    layers: list[nn.Module] = []
    for layer, act in enumerate(spec.activations, start=1):
        linear = nn.Linear(spec.layers[layer - 1], spec.layers[layer], dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(work.params[f"W{layer}"]))
            linear.bias.copy_(torch.from_numpy(work.params[f"b{layer}"]))
        layers.append(linear)
        if act in ("relu", "sigmoid"):
            layers.append(nn.ReLU() if act == "relu" else nn.Sigmoid())
        elif act != "softmax":  # softmax lives inside F.cross_entropy
            raise NotImplementedError(f"torch: activation {act!r}")
    model = nn.Sequential(*layers)
    optimizer = torch.optim.SGD(model.parameters(), lr=spec.optimizer.learning_rate)
    if spec.loss == "cross_entropy":
        loss_fn, target = functional.cross_entropy, torch.from_numpy(work.labels)
    else:
        loss_fn, target = functional.mse_loss, torch.from_numpy(work.Y)

    def step(X: torch.Tensor, T: torch.Tensor) -> float:
        optimizer.zero_grad()
        loss = loss_fn(model(X), T)
        loss.backward()
        optimizer.step()
        return loss.item()

    def params() -> Params:
        linears = [m for m in model if isinstance(m, nn.Linear)]
        out: Params = {}
        for layer, linear in enumerate(linears, start=1):
            out[f"W{layer}"] = linear.weight.detach().numpy().copy()
            out[f"b{layer}"] = linear.bias.detach().numpy().copy()
        return out

    return Impl("torch-eager", step, (torch.from_numpy(work.X), target), params)


def make_sklearn(work: Workload) -> Impl:
    """scikit-learn MLPClassifier.partial_fit on the batch: plain SGD, no momentum, no L2.

    MLPClassifier pairs a sigmoid output with log-loss, not MSE, so on an mse workload it
    does the same work for a different loss and its update is not compared. A two-class
    softmax is made by passing one-hot targets (multilabel) and switching the output to
    softmax after the first call; scikit-learn's output error is a - y for both.
    """
    from sklearn.neural_network import MLPClassifier

    spec = work.spec
    hidden = spec.activations[:-1]
    if set(hidden) != {"relu"}:
        raise NotImplementedError("sklearn: ReLU hidden layers only")
    clf = MLPClassifier(
        hidden_layer_sizes=spec.layers[1:-1],
        activation="relu",
        solver="sgd",
        alpha=0.0,
        batch_size=work.batch,
        learning_rate="constant",
        learning_rate_init=spec.optimizer.learning_rate,
        momentum=0.0,
        nesterovs_momentum=False,
        shuffle=False,
        random_state=0,
    )
    two_class_softmax = spec.loss == "cross_entropy" and spec.n_out == 2
    y = work.Y.astype(np.int64) if two_class_softmax else work.labels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.partial_fit(work.X, y, classes=np.arange(max(spec.n_out, 2)))
    if two_class_softmax:
        clf.out_activation_ = "softmax"
    for layer in range(1, spec.depth + 1):
        np.copyto(clf.coefs_[layer - 1], work.params[f"W{layer}"].T)
        np.copyto(clf.intercepts_[layer - 1], work.params[f"b{layer}"])

    def step(X: np.ndarray, y: np.ndarray) -> float:
        clf.partial_fit(X, y)
        return float(clf.loss_)

    def params() -> Params:
        out: Params = {}
        for layer in range(1, spec.depth + 1):
            out[f"W{layer}"] = clf.coefs_[layer - 1].T.copy()
            out[f"b{layer}"] = clf.intercepts_[layer - 1].copy()
        return out

    checked = spec.loss == "cross_entropy"
    note = "" if checked else "log-loss, not mse: same work, not compared"
    return Impl("sklearn", step, (work.X, y), params, note=note, checked=checked)


def make_jax(work: Workload) -> Impl:
    """jax.jit of value_and_grad and the SGD update, parameters donated to the next step."""
    import jax
    import jax.numpy as jnp

    spec = work.spec
    if spec.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    lr = spec.optimizer.learning_rate

    def loss_fn(params: dict[str, Any], X: Any, Y: Any) -> Any:
        A = X
        for layer, act in enumerate(spec.activations, start=1):
            Z = A @ params[f"W{layer}"].T + params[f"b{layer}"]
            A = jax.nn.relu(Z) if act == "relu" else jax.nn.sigmoid(Z) if act == "sigmoid" else Z
        if spec.loss == "cross_entropy":
            return -jnp.mean(jnp.sum(Y * jax.nn.log_softmax(A, axis=1), axis=1))
        return jnp.mean((A - Y) ** 2)

    def update(params: dict[str, Any], X: Any, Y: Any) -> tuple[dict[str, Any], Any]:
        value, grads = jax.value_and_grad(loss_fn)(params, X, Y)
        return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads), value

    jitted = jax.jit(update, donate_argnums=0)
    box = {"params": {k: jnp.asarray(v) for k, v in work.params.items()}}

    def step(X: Any, Y: Any) -> float:
        box["params"], value = jitted(box["params"], X, Y)
        return float(value)

    def params() -> Params:
        return {k: np.array(v) for k, v in box["params"].items()}

    return Impl("jax-jit", step, (jnp.asarray(work.X), jnp.asarray(work.Y)), params)


# --- generated modules -------------------------------------------------------------------


def load_generated(work: Workload, directory: Path) -> ModuleType:
    """Render the workload's spec with derive.codegen, write it to `directory`, import it."""
    from derive.codegen import render_module

    path = Path(directory) / f"{work.spec.name}.py"
    path.write_text(render_module(work.spec), encoding="utf-8")
    module_spec = importlib.util.spec_from_file_location(work.spec.name, path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def make_generated(work: Workload, module: ModuleType) -> Impl:
    """The generated module's train_step, its parameters overwritten in place with the start."""
    params = module.init_params(work.spec.training.seed)
    for name, value in work.params.items():
        np.copyto(params[name], value)
    state = module.init_optimizer(params)
    return Impl(
        "generated",
        module.train_step,
        (params, work.X, work.Y, state),
        lambda: _copies(params),
        source=module.train_step,
    )


def count_calls(function: Callable[..., Any]) -> int:
    """The calls written in a function's source, conversions (float, int) excepted.

    For a generated train_step or a hand-optimized step this is the number of NumPy calls
    one step makes, as neither loops.
    """
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    return sum(
        1
        for call in calls
        if not (isinstance(call.func, ast.Name) and call.func.id in ("float", "int", "len"))
    )


def _copies(params: Params) -> Params:
    return {k: v.copy() for k, v in params.items()}
