"""Generated modules: gradients right three ways, fast path equal to readable path, no allocation.

Oracles: central finite differences (`check_gradients`), `torch.autograd` (the `oracle`
extra), and the readable path against the fast path. Specs come from the examples and from
hypothesis: every activation, every valid loss pairing, bias or not, depths 1 to 4, both dtypes.
"""

from __future__ import annotations

import copy
import tracemalloc
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from generator_support import EXAMPLES, batch, build
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive import codegen
from derive import spec as specs

# f' in the output (any layer) and f' kept from z (hidden layers only)
IN_OUTPUT = ["relu", "leaky_relu", "sigmoid", "tanh", "identity", "softplus"]
HIDDEN = [*IN_OUTPUT, "elu", "gelu", "silu"]
OUTPUTS = [(act, "mse") for act in [*IN_OUTPUT, "softmax"]] + [
    ("softmax", "cross_entropy"),
    ("sigmoid", "binary_cross_entropy"),
    ("identity", "huber"),
    ("tanh", "huber"),
]
OPTIMIZERS = [
    {"kind": "sgd", "learning_rate": 0.05},
    {"kind": "momentum", "learning_rate": 0.05, "momentum": 0.8},
    {"kind": "adam", "learning_rate": 0.01},
]


def example(path: Path) -> ModuleType:
    return codegen.load_module(specs.load(path))


def _wide(net: ModuleType, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {key: value.astype(np.float64) for key, value in params.items()}


def reference_step(
    net: ModuleType, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], state: dict
) -> dict[str, np.ndarray]:
    """One optimizer step written the obvious way from the readable gradients."""
    hyper = net.HYPERPARAMETERS
    lr = hyper["learning_rate"]
    new = {}
    for key, value in params.items():
        g = grads[key]
        if net.OPTIMIZER == "sgd":
            new[key] = value - lr * g
        elif net.OPTIMIZER == "momentum":
            velocity = hyper["momentum"] * state.get("v_" + key, 0) + g
            new[key] = value - lr * velocity
        else:
            step = state.get("step", 0) + 1
            m = (1 - hyper["beta1"]) * g
            v = (1 - hyper["beta2"]) * g**2
            m_hat, v_hat = m / (1 - hyper["beta1"] ** step), v / (1 - hyper["beta2"] ** step)
            new[key] = value - lr * m_hat / (np.sqrt(v_hat) + hyper["epsilon"])
    return new


def assert_fast_equals_readable(net: ModuleType, seed: int = 0) -> None:
    X, Y = batch(net, seed=seed)
    params = net.init_params(seed)
    loss, grads = net.loss_and_grads(params, X, Y)
    expected = reference_step(net, _wide(net, params), _wide(net, grads), {})
    fast = copy.deepcopy(params)
    fast_loss = net.train_step(fast, X, Y, net.init_optimizer(fast))
    tight = np.float64 == net.DTYPE
    np.testing.assert_allclose(fast_loss, loss, rtol=1e-12 if tight else 1e-5)
    for key in params:
        assert fast[key].dtype == net.DTYPE
        np.testing.assert_allclose(
            fast[key], expected[key], rtol=1e-9 if tight else 2e-4, atol=1e-12 if tight else 1e-6
        )


def torch_grads(net: ModuleType, params: dict[str, np.ndarray], X: np.ndarray, T: np.ndarray):
    """Loss and gradients of the same network written in PyTorch, in float64."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    tensors = {
        k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()
    }
    a = torch.tensor(X, dtype=torch.float64)
    target = torch.tensor(T, dtype=torch.float64)
    act_fn = {
        "relu": F.relu,
        "leaky_relu": lambda z: F.leaky_relu(z, 0.01),
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "identity": lambda z: z,
        "softmax": lambda z: torch.softmax(z, dim=1),
        "softplus": F.softplus,
        "elu": F.elu,
        "gelu": lambda z: F.gelu(z, approximate="tanh"),
        "silu": F.silu,
        "mish": F.mish,  # the user-defined x * tanh(softplus(x)) of tests/test_new_blocks.py
    }
    z = a
    for layer, act in enumerate(net.ACTIVATIONS, start=1):
        z = a @ tensors[f"W{layer}"].T
        if f"b{layer}" in tensors:
            z = z + tensors[f"b{layer}"]
        a = act_fn[act](z)
    if net.LOSS == "cross_entropy":
        loss = -(target * torch.log_softmax(z, dim=1)).sum(dim=1).mean()
    elif net.LOSS == "binary_cross_entropy":
        loss = F.binary_cross_entropy_with_logits(z, target)
    elif net.LOSS == "huber":
        loss = F.huber_loss(a, target, delta=1.0)
    else:
        loss = F.mse_loss(a, target)
    loss.backward()
    return float(loss.detach()), {k: t.grad.numpy() for k, t in tensors.items()}


def assert_gradients_right(net: ModuleType, seed: int = 0) -> None:
    X, Y = batch(net, seed=seed)
    params = net.init_params(seed)
    assert net.check_gradients(params, X, Y) < 1e-6
    wide = _wide(net, params)
    loss, grads = net._loss_and_grads(wide, X, Y.astype(np.float64))
    torch_loss, expected = torch_grads(net, wide, X, Y)
    np.testing.assert_allclose(loss, torch_loss, rtol=1e-7)
    for key in params:
        scale = np.linalg.norm(expected[key]) + 1e-300
        assert np.linalg.norm(grads[key] - expected[key]) / scale < 1e-7, key


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_gradients_match_finite_differences_and_torch(path: Path) -> None:
    assert_gradients_right(example(path))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_fast_path_equals_readable_path(path: Path) -> None:
    assert_fast_equals_readable(example(path))


@st.composite
def random_spec(draw: Any) -> dict[str, Any]:
    depth = draw(st.integers(1, 4))
    out_act, loss = draw(st.sampled_from(OUTPUTS))
    layers = draw(st.lists(st.integers(1, 5), min_size=depth + 1, max_size=depth + 1))
    if out_act == "softmax":
        layers[-1] = max(layers[-1], 2)
    return {
        "layers": layers,
        "activations": [draw(st.sampled_from(HIDDEN)) for _ in range(depth - 1)] + [out_act],
        "loss": loss,
        "bias": draw(st.booleans()),
        "dtype": draw(st.sampled_from(["float32", "float64"])),
        "optimizer": draw(st.sampled_from(OPTIMIZERS)),
    }


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(fields=random_spec())
def test_random_specs_have_right_gradients_and_equal_paths(
    tmp_path: Path, fields: dict[str, Any]
) -> None:
    net = build(tmp_path, **fields)
    assert_gradients_right(net, seed=1)
    assert_fast_equals_readable(net, seed=2)


@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(fields=random_spec())
def test_a_small_step_lowers_the_loss_on_a_fixed_batch(
    tmp_path: Path, fields: dict[str, Any]
) -> None:
    fields["optimizer"] = {"kind": "sgd", "learning_rate": 1e-3}
    fields["dtype"] = "float64"
    net = build(tmp_path, **fields)
    X, Y = batch(net, size=8, seed=3)
    params = net.init_params(3)
    before, grads = net.loss_and_grads(params, X, Y)
    net.train_step(params, X, Y, net.init_optimizer(params))
    after, _ = net.loss_and_grads(params, X, Y)
    if sum(float(np.sum(g**2)) for g in grads.values()) > 1e-8:
        assert after < before
    else:  # every gradient vanishes (dead ReLUs): the step cannot move the loss
        assert after == pytest.approx(before, rel=1e-12)


@pytest.mark.parametrize("fast", [False, True], ids=["readable", "fast"])
def test_relu_derivative_at_exactly_zero_is_zero_on_both_paths(tmp_path: Path, fast: bool) -> None:
    net = build(
        tmp_path,
        layers=[2, 3, 1],
        activations=["relu", "identity"],
        loss="mse",
        bias=False,
        dtype="float64",
    )
    params = net.init_params(0)
    params["W1"][...] = 0.0  # every z1 is exactly 0: the kink
    X, Y = batch(net)
    if fast:
        before = params["W1"].copy()
        net.train_step(params, X, Y, net.init_optimizer(params))
        np.testing.assert_array_equal(params["W1"], before)  # relu'(0) = 0: no update
    else:
        _, grads = net.loss_and_grads(params, X, Y)
        np.testing.assert_array_equal(grads["W1"], 0.0)


def _traced_peak(net: ModuleType, size: int, steps: int) -> tuple[int, int]:
    X, Y = batch(net, size=size)
    X, Y = X.astype(net.DTYPE), Y.astype(net.DTYPE)
    params = net.init_params(0)
    state = net.init_optimizer(params)
    net.train_step(params, X, Y, state)  # warm-up: makes the workspace
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        for _ in range(steps):
            net.train_step(params, X, Y, state)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return current - start, peak - start


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=lambda o: o["kind"])
def test_train_step_allocates_nothing_that_grows_with_steps_or_batch(
    tmp_path: Path, optimizer: dict[str, Any]
) -> None:
    net = build(
        tmp_path,
        layers=[8, 32, 16, 4],
        activations=["relu", "tanh", "softmax"],
        loss="cross_entropy",
        dtype="float32",
        optimizer=optimizer,
    )
    growth, small_peak = _traced_peak(net, size=16, steps=100)
    _, large_peak = _traced_peak(net, size=4096, steps=3)
    assert growth < 4096  # nothing kept between steps
    assert large_peak < 70_000  # a ufunc casting buffer at most, not a batch-sized array
    assert large_peak - small_peak < 70_000
