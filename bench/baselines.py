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
# - every buffer made once; every call writes with out=; a product never writes into one of
#   its inputs (NumPy would copy); transposes are views made once;
# - numpy.dot where every operand is C- or Fortran-contiguous and the output C-contiguous:
#   on small arrays it costs half of numpy.matmul's call; matmul where a view is strided;
# - biases ride in the weights: a hidden layer's matrix is [[W, b], [0, 1]], of shape
#   (s(l) + 1, s(l-1) + 1), and every layer input carries a column of ones, so one matmul
#   gives [X W^T + b | 1], one gives [dW | db] and one subtraction updates both: no bias
#   add, no bias reduction, no bias update. The backward matmul writes only the first s(l)
#   columns of the error, so the last stays 0 and the [0, 1] row never changes;
# - every elementwise call sees equal shapes and contiguous arrays: a broadcast operand, a
#   strided output or a bool x float product sends NumPy through its buffered iterator,
#   which costs time and allocates up to 8192 elements per call; row vectors are widened
#   with copyto (which does not buffer) instead;
# - ReLU as a float mask: greater into a bool buffer, copyto into a float one, multiply
#   (numpy.maximum is ~4x slower than multiply on float32); the backward pass reuses it;
# - constants are 0-d arrays of the dtype: a Python scalar costs a conversion per call;
# - lr / n (and 2 / n_out for mse) are folded into the output error once;
# - the softmax layer is computed transposed, (classes, batch), so its reductions run over
#   the outer axis (contiguous rows, vectorized) and the loss is vdot(Y, z - max) subtracted
#   from the sum of log-sum-exp.


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
            rows = spec.layers[layer]
            out[f"W{layer}"] = Wb[:rows, :-1].copy()
            out[f"b{layer}"] = Wb[:rows, -1].copy()
        return out

    return Impl("numpy-fast", step, (work.X, work.Y), params, source=step)


def _weights(work: Workload, layer: int, hidden: bool) -> np.ndarray:
    """[W | b], with a [0 ... 0 1] row below it for a hidden layer (its output's ones column)."""
    W, b = work.params[f"W{layer}"], work.params[f"b{layer}"]
    Wb = np.concatenate([W, b[:, None]], axis=1)
    if hidden:
        unit = np.zeros((1, Wb.shape[1]), W.dtype)
        unit[0, -1] = 1
        Wb = np.concatenate([Wb, unit])
    return np.ascontiguousarray(Wb)


def _hidden_buffers(n: int, width: int, dtype: str) -> tuple[np.ndarray, ...]:
    """A hidden layer's buffers, all (n, width + 1): Z, bool mask, float mask, A, error D."""
    Z, M, A, D = (np.zeros((n, width + 1), dtype) for _ in range(4))
    return Z, np.zeros((n, width + 1), bool), M, A, D


def _input_buffer(work: Workload) -> tuple[np.ndarray, np.ndarray]:
    """[X | 1] of shape (n, n_in + 1) and the view X is copied into."""
    n, d0 = work.X.shape
    Xb = np.ones((n, d0 + 1), work.spec.dtype)
    return Xb, Xb[:, :d0]


def _fast_relu_sigmoid_mse(work: Workload) -> tuple[Callable[..., float], list[np.ndarray]]:
    """n_in -> ReLU -> sigmoid, mean squared error (W1)."""
    spec, n, dt = work.spec, work.batch, work.spec.dtype
    _, h1, k = spec.layers
    W1b, W2b = _weights(work, 1, hidden=True), _weights(work, 2, hidden=False)
    W1t, W2t, W2 = W1b.T, W2b.T, W2b[:, :h1]
    Xb, X0 = _input_buffer(work)
    Z1, B1, M1, A1, D1 = _hidden_buffers(n, h1, dt)
    D1h, D1t = D1[:, :h1], D1.T
    Z2, A2, E, G2 = (np.empty((n, k), dt) for _ in range(4))
    G2t = G2.T
    dW1, dW2 = np.empty_like(W1b), np.empty_like(W2b)
    zero, one = np.zeros((), dt), np.ones((), dt)
    scale = np.array(2 * spec.optimizer.learning_rate / (n * k), dt)  # d mean / d a, and lr
    inv_size = 1.0 / (n * k)
    dot, matmul, copyto, greater, vdot = np.dot, np.matmul, np.copyto, np.greater, np.vdot
    add, subtract, multiply, divide, negative, exp = (
        np.add, np.subtract, np.multiply, np.divide, np.negative, np.exp,
    )  # fmt: skip

    def step(X: np.ndarray, Y: np.ndarray) -> float:
        copyto(X0, X)
        dot(Xb, W1t, out=Z1)  # [Z1 | 1] = [X | 1] [[W1, b1], [0, 1]]^T
        greater(Z1, zero, out=B1)  # ReLU'(Z1), kept for the backward pass
        copyto(M1, B1)
        multiply(Z1, M1, out=A1)  # [A1 | 1]
        dot(A1, W2t, out=Z2)  # Z2 = A1 W2^T + b2
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
        dot(G2t, A1, out=dW2)  # lr [dW2 | db2]
        matmul(G2, W2, out=D1h)  # before W2 changes; D1's ones column stays 0
        subtract(W2b, dW2, out=W2b)
        multiply(D1, M1, out=D1)
        dot(D1t, Xb, out=dW1)  # lr [[dW1, db1], [0, 0]]
        subtract(W1b, dW1, out=W1b)
        return float(sse) * inv_size

    return step, [W1b, W2b]


def _fast_relu_softmax_ce(work: Workload) -> tuple[Callable[..., float], list[np.ndarray]]:
    """n_in -> ReLU -> softmax, cross-entropy (W3)."""
    spec, n, dt = work.spec, work.batch, work.spec.dtype
    _, h1, k = spec.layers
    W1b, W2b = _weights(work, 1, hidden=True), _weights(work, 2, hidden=False)
    W1t, W2 = W1b.T, W2b[:, :h1]
    Xb, X0 = _input_buffer(work)
    Z1, B1, M1, A1, D1 = _hidden_buffers(n, h1, dt)
    A1t, D1h, D1t = A1.T, D1[:, :h1], D1.T
    Zt, Pt, Yt, Gt, wide = (np.empty((k, n), dt) for _ in range(5))  # transposed: (k, n)
    Gtt = Gt.T
    col_max, col_sum, log_sum = (np.empty(n, dt) for _ in range(3))
    ones_n = np.ones(n, dt)
    dW1, dW2 = np.empty_like(W1b), np.empty_like(W2b)
    zero = np.zeros((), dt)
    scale = np.array(spec.optimizer.learning_rate / n, dt)
    inv_n = 1.0 / n
    dot, matmul, copyto, greater, vdot, log, exp = (
        np.dot, np.matmul, np.copyto, np.greater, np.vdot, np.log, np.exp,
    )  # fmt: skip
    subtract, multiply, divide = np.subtract, np.multiply, np.divide
    max_reduce, sum_reduce = np.maximum.reduce, np.add.reduce

    def step(X: np.ndarray, Y: np.ndarray) -> float:
        copyto(X0, X)
        dot(Xb, W1t, out=Z1)  # [Z1 | 1] = [X | 1] [[W1, b1], [0, 1]]^T
        greater(Z1, zero, out=B1)  # ReLU'(Z1), kept for the backward pass
        copyto(M1, B1)
        multiply(Z1, M1, out=A1)  # [A1 | 1]
        dot(W2b, A1t, out=Zt)  # Z2^T = [W2, b2] [A1 | 1]^T
        max_reduce(Zt, axis=0, out=col_max)  # softmax and loss, one column per sample
        copyto(wide, col_max)
        subtract(Zt, wide, out=Pt)
        copyto(Yt, Y.T)
        y_dot_z = vdot(Yt, Pt)  # loss = (sum log sum exp - y . (z - max)) / n
        exp(Pt, out=Pt)
        sum_reduce(Pt, axis=0, out=col_sum)
        log(col_sum, out=log_sum)
        loss = float(vdot(log_sum, ones_n)) - float(y_dot_z)
        copyto(wide, col_sum)
        divide(Pt, wide, out=Pt)  # softmax
        subtract(Pt, Yt, out=Gt)  # G2^T = lr/n (P - Y)^T
        multiply(Gt, scale, out=Gt)
        dot(Gt, A1, out=dW2)  # lr [dW2 | db2]
        matmul(Gtt, W2, out=D1h)  # before W2 changes; D1's ones column stays 0
        subtract(W2b, dW2, out=W2b)
        multiply(D1, M1, out=D1)
        dot(D1t, Xb, out=dW1)  # lr [[dW1, db1], [0, 0]]
        subtract(W1b, dW1, out=W1b)
        return loss * inv_n

    return step, [W1b, W2b]


def _fast_relu_relu_softmax_ce(work: Workload) -> tuple[Callable[..., float], list[np.ndarray]]:
    """n_in -> ReLU -> ReLU -> softmax, cross-entropy (W2, W4)."""
    spec, n, dt = work.spec, work.batch, work.spec.dtype
    _, h1, h2, k = spec.layers
    W1b, W2b = _weights(work, 1, hidden=True), _weights(work, 2, hidden=True)
    W3b = _weights(work, 3, hidden=False)
    W1t, W2t, W2, W3 = W1b.T, W2b.T, W2b[:h2, :h1], W3b[:, :h2]
    Xb, X0 = _input_buffer(work)
    Z1, B1, M1, A1, D1 = _hidden_buffers(n, h1, dt)
    Z2, B2, M2, A2, D2 = _hidden_buffers(n, h2, dt)
    A2t, D1h, D2h, D1t, D2t = A2.T, D1[:, :h1], D2[:, :h2], D1.T, D2.T
    Zt, Pt, Yt, Gt, wide = (np.empty((k, n), dt) for _ in range(5))  # transposed: (k, n)
    Gtt = Gt.T
    col_max, col_sum, log_sum = (np.empty(n, dt) for _ in range(3))
    ones_n = np.ones(n, dt)
    dW1, dW2, dW3 = np.empty_like(W1b), np.empty_like(W2b), np.empty_like(W3b)
    zero = np.zeros((), dt)
    scale = np.array(spec.optimizer.learning_rate / n, dt)
    inv_n = 1.0 / n
    dot, matmul, copyto, greater, vdot, log, exp = (
        np.dot, np.matmul, np.copyto, np.greater, np.vdot, np.log, np.exp,
    )  # fmt: skip
    subtract, multiply, divide = np.subtract, np.multiply, np.divide
    max_reduce, sum_reduce = np.maximum.reduce, np.add.reduce

    def step(X: np.ndarray, Y: np.ndarray) -> float:
        copyto(X0, X)
        dot(Xb, W1t, out=Z1)  # [Z1 | 1] = [X | 1] [[W1, b1], [0, 1]]^T
        greater(Z1, zero, out=B1)  # ReLU'(Z1), kept for the backward pass
        copyto(M1, B1)
        multiply(Z1, M1, out=A1)  # [A1 | 1]
        dot(A1, W2t, out=Z2)  # [Z2 | 1]
        greater(Z2, zero, out=B2)
        copyto(M2, B2)
        multiply(Z2, M2, out=A2)  # [A2 | 1]
        dot(W3b, A2t, out=Zt)  # Z3^T = [W3, b3] [A2 | 1]^T
        max_reduce(Zt, axis=0, out=col_max)  # softmax and loss, one column per sample
        copyto(wide, col_max)
        subtract(Zt, wide, out=Pt)
        copyto(Yt, Y.T)
        y_dot_z = vdot(Yt, Pt)  # loss = (sum log sum exp - y . (z - max)) / n
        exp(Pt, out=Pt)
        sum_reduce(Pt, axis=0, out=col_sum)
        log(col_sum, out=log_sum)
        loss = float(vdot(log_sum, ones_n)) - float(y_dot_z)
        copyto(wide, col_sum)
        divide(Pt, wide, out=Pt)  # softmax
        subtract(Pt, Yt, out=Gt)  # G3^T = lr/n (P - Y)^T
        multiply(Gt, scale, out=Gt)
        dot(Gt, A2, out=dW3)  # lr [dW3 | db3]
        matmul(Gtt, W3, out=D2h)  # before W3 changes; D2's ones column stays 0
        subtract(W3b, dW3, out=W3b)
        multiply(D2, M2, out=D2)
        dot(D2t, A1, out=dW2)  # lr [[dW2, db2], [0, 0]]
        matmul(D2h, W2, out=D1h)
        subtract(W2b, dW2, out=W2b)
        multiply(D1, M1, out=D1)
        dot(D1t, Xb, out=dW1)  # lr [[dW1, db1], [0, 0]]
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


def make_generated(work: Workload, module: ModuleType, label: str = "generated") -> Impl:
    """The generated module's train_step, its parameters overwritten in place with the start."""
    params = module.init_params(work.spec.training.seed)
    for name, value in work.params.items():
        np.copyto(params[name], value)
    state = module.init_optimizer(params)
    return Impl(
        label,
        module.train_step,
        (params, work.X, work.Y, state),
        lambda: _copies(params),
        source=module.train_step,
    )


def make_library_threads(work: Workload, module: ModuleType) -> Impl:
    """The generated step leaving the BLAS thread count to the library, as before issue 15:
    a second copy of the module whose thread holder finds no count to hold (its private
    `_BLAS.get` answers 0, which is never the library's own count)."""
    module._BLAS.get = int
    return make_generated(work, module, LIBRARY_THREADS)


LIBRARY_THREADS = "gen-libthreads"


def count_calls(impl: Impl) -> int:
    """The NumPy calls one step of `impl` makes (its `source` is the step function).

    A step that calls NumPy through module globals (`numpy.add(...)`, or `add(...)` after
    `from numpy import add`, as generated modules do) is run once with those globals replaced
    by counting proxies, so helpers it calls are counted too. A step that binds NumPy
    functions to local names (numpy-fast) cannot be seen that way; for it the calls written
    in its source are counted instead.
    """
    function = impl.source
    if function is None:
        return 0
    scope = function.__globals__
    names = {
        name: value
        for name, value in scope.items()
        if value is np or (callable(value) and getattr(np, name, None) is value)
    }
    if not names or "<locals>" in function.__qualname__:  # a closure binds NumPy locally
        return _calls_in_source(function)
    counter = [0]
    try:
        for name, value in names.items():
            scope[name] = _Counted(value, counter)
        impl.step(*impl.args)
    finally:
        scope.update(names)
    return counter[0]


class _Counted:
    """A stand-in for a NumPy object that counts the calls made through it."""

    def __init__(self, target: Any, counter: list[int]) -> None:
        self._target, self._counter = target, counter

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._counter[0] += 1
        return self._target(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if callable(value) and not isinstance(value, type):
            return _Counted(value, self._counter)
        return value


def _calls_in_source(function: Callable[..., Any]) -> int:
    """The calls written in a function's source, conversions (float, int, len) excepted."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    return sum(
        1
        for call in calls
        if not (isinstance(call.func, ast.Name) and call.func.id in ("float", "int", "len"))
    )


def _copies(params: Params) -> Params:
    return {k: v.copy() for k, v in params.items()}
