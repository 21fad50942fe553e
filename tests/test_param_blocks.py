"""The fast path's [W | b] blocks: packed views and foreign arrays train alike, in place.

Oracles: the all-packed run (bit for bit) and one SGD step from the readable loss_and_grads.
"""

from __future__ import annotations

import copy
import functools
import tracemalloc
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from generator_support import batch, spec_toml

from derive import codegen
from derive import spec as specs

OPTIMIZERS: dict[str, dict[str, Any]] = {
    "sgd": {"kind": "sgd", "learning_rate": 0.1},
    "momentum": {"kind": "momentum", "learning_rate": 0.05, "momentum": 0.8},
    "adam": {"kind": "adam", "learning_rate": 0.01},
}
# name: layers | activations | loss | bias or nobias | dtype
ARCHS = {
    "sig_tanh_bce": "3 5 4 2 | sigmoid tanh sigmoid | binary_cross_entropy | bias | float64",
    "relu_leaky_ce": "4 6 5 3 | relu leaky_relu softmax | cross_entropy | bias | float64",
    "relu_leaky_ce32": "4 6 5 3 | relu leaky_relu softmax | cross_entropy | bias | float32",
    "ident_softmax_mse": "2 5 3 | identity softmax | mse | bias | float64",
    "tanh_ident_mse32": "3 4 2 | tanh identity | mse | bias | float32",
    "sig_nobias_ce32": "3 4 3 | sigmoid softmax | cross_entropy | nobias | float32",
    "relu_nobias_mse": "3 6 2 | relu identity | mse | nobias | float64",
    "one_softmax": "3 2 | softmax | cross_entropy | bias | float64",
    "deep_tanh_sig": "3 5 4 4 2 | tanh sigmoid tanh identity | mse | bias | float64",
}
BIASED = [name for name, arch in ARCHS.items() if "| bias |" in arch]


@functools.cache
def module(arch: str, optimizer: str = "sgd") -> ModuleType:
    layers, activations, (loss,), (bias,), (dtype,) = (p.split() for p in ARCHS[arch].split("|"))
    text = spec_toml(
        name=f"{arch}_{optimizer}",
        layers=[int(width) for width in layers],
        activations=activations,
        loss=loss,
        bias=bias == "bias",
        dtype=dtype,
        optimizer=OPTIMIZERS[optimizer],
    )
    return codegen.build_module(specs.parse(text, source="<test>"))


def data(net: ModuleType, size: int = 6) -> tuple[np.ndarray, np.ndarray]:
    X, Y = batch(net, size=size)
    return X.astype(net.DTYPE), Y.astype(net.DTYPE)


def start(net: ModuleType, seed: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    """Packed params with non-zero biases (so the bias column is used), and their state."""
    params = net.init_params(seed)
    rng = np.random.default_rng(seed + 1)
    for key in params:
        if key.startswith("b"):
            params[key][...] = rng.uniform(-0.5, 0.5, params[key].shape)
    return params, net.init_optimizer(params)


def foreign(arrays: dict[str, Any]) -> dict[str, Any]:
    """Plain contiguous copies of the arrays, the rest as it is, workspaces left out."""
    return {
        key: value.copy() if isinstance(value, np.ndarray) else value
        for key, value in arrays.items()
        if not key.startswith("_")
    }


def train(net: ModuleType, params: dict, state: dict, steps: int) -> list[float]:
    X, Y = data(net)
    return [net.train_step(params, X, Y, state) for _ in range(steps)]


def assert_same(found: dict[str, Any], expected: dict[str, Any]) -> None:
    found, expected = foreign(found), foreign(expected)
    assert found.keys() == expected.keys()
    for key, value in expected.items():
        np.testing.assert_array_equal(found[key], value, err_msg=key, strict=True)


@pytest.mark.parametrize("which", ["params", "state", "both"])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("arch", ARCHS)
def test_foreign_arrays_train_bit_for_bit_like_packed_ones_and_in_place(
    arch: str, optimizer: str, which: str
) -> None:
    net = module(arch, optimizer)
    packed, packed_state = start(net)
    params = foreign(packed) if which != "state" else start(net)[0]
    state = foreign(packed_state) if which != "params" else net.init_optimizer(params)
    held = {k: v for k, v in {**params, **state}.items() if isinstance(v, np.ndarray)}
    before = foreign(params)
    losses = train(net, params, state, 3)
    assert losses == train(net, packed, packed_state, 3)
    assert_same(params, packed)
    assert_same(state, packed_state)
    for key, value in held.items():
        assert params.get(key, state.get(key)) is value  # updated in place, never replaced
    assert all(not np.array_equal(before[key], params[key]) for key in params)


@pytest.mark.parametrize("arch", ARCHS)
def test_fit_with_foreign_arrays_equals_fit_with_packed_ones(arch: str) -> None:
    net = module(arch, "adam")
    X, Y = batch(net, size=20, seed=3)
    packed, packed_state = start(net)
    params, state = foreign(packed), foreign(packed_state)
    W1, fit = params["W1"], functools.partial(net.fit, X=X, Y=Y, epochs=2, batch_size=6)
    assert fit(params, state=state) == fit(packed, state=packed_state)
    assert params["W1"] is W1
    assert_same(params, packed)
    assert_same(state, packed_state)


@pytest.mark.parametrize("packed", [True, False], ids=["packed", "foreign"])
@pytest.mark.parametrize(
    "arch", ["sig_tanh_bce", "relu_leaky_ce", "ident_softmax_mse", "one_softmax", "deep_tanh_sig"]
)
def test_one_sgd_step_is_params_minus_lr_times_readable_gradients(arch: str, packed: bool) -> None:
    net = module(arch, "sgd")
    params, state = start(net, seed=4)
    X, Y = data(net)
    loss, grads = net.loss_and_grads(params, X, Y)
    lr = net.HYPERPARAMETERS["learning_rate"]
    expected = {key: value - lr * grads[key] for key, value in params.items()}
    if not packed:
        params = foreign(params)
    fast_loss = net.train_step(params, X, Y, state)
    assert fast_loss == pytest.approx(loss, rel=1e-12)
    for key, value in expected.items():
        np.testing.assert_allclose(params[key], value, rtol=1e-10, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
@pytest.mark.parametrize("arch", BIASED)
def test_blocks_keep_their_unit_row_and_zero_state_rows_after_many_steps(
    arch: str, optimizer: str
) -> None:
    net = module(arch, optimizer)
    params, state = start(net)
    copies, copied_state = foreign(params), foreign(state)
    losses = train(net, params, state, 150)
    assert losses == train(net, copies, copied_state, 150) and losses[-1] < losses[0]
    for layer, shape in enumerate(net.BLOCK_SHAPES, start=1):
        rows = net.LAYERS[layer]
        block = params[f"W{layer}"].base
        assert block is params[f"b{layer}"].base and block.shape == shape
        assert block.flags.c_contiguous and block.dtype == net.DTYPE
        unit = np.zeros((shape[0] - rows, shape[1]), net.DTYPE)
        unit[:, -1] = 1  # a hidden layer's [0 ... 0 1]; none for the output layer
        np.testing.assert_array_equal(block[rows:], unit, strict=True)
        for prefix in ("m_", "v_")[optimizer == "momentum" :]:
            moment = state[f"{prefix}W{layer}"].base
            assert moment is state[f"{prefix}b{layer}"].base and moment.shape == shape
            np.testing.assert_array_equal(moment[rows:], 0.0)


def test_an_array_replaced_between_steps_is_picked_up_and_the_old_one_left_alone() -> None:
    net = module("sig_tanh_bce", "momentum")
    params, state = start(net)
    reference, reference_state = foreign(params), foreign(state)
    assert train(net, params, state, 1) == train(net, reference, reference_state, 1)
    old_W2, other = params["W2"], net.init_params(7)
    old_values, other_values = old_W2.copy(), foreign(other)
    params["W2"] = new_W2 = old_W2 * 0.5  # a new foreign array
    params["W3"] = other["W3"]  # a view of another block, whose b3 must stay untouched
    state["v_b1"] = new_v_b1 = state["v_b1"].copy()
    reference["W2"] *= 0.5
    reference["W3"][...] = other_values["W3"]
    assert train(net, params, state, 2) == train(net, reference, reference_state, 2)
    assert params["W2"] is new_W2 and state["v_b1"] is new_v_b1
    assert params["W3"] is other["W3"]
    assert_same(params, reference)
    assert_same(state, reference_state)
    np.testing.assert_array_equal(old_W2, old_values)
    np.testing.assert_array_equal(other["b3"], other_values["b3"])
    np.testing.assert_array_equal(other["W1"], other_values["W1"])


@pytest.mark.parametrize("kind", ["float32", "fortran", "strided"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_mixed_packed_and_odd_arrays_train_like_packed_ones(optimizer: str, kind: str) -> None:
    net = module("relu_leaky_ce", optimizer)
    packed, packed_state = start(net)
    params, state = start(net)
    W2 = params["W2"]
    if kind == "float32":
        odd = W2.astype(np.float32)
        packed["W2"][...] = odd  # both start from the same values
    elif kind == "fortran":
        odd = W2.T.copy().T
    else:
        odd = np.zeros((W2.shape[0], 2 * W2.shape[1]))[:, ::2]
        odd[...] = W2
    params["W2"] = odd
    losses = train(net, params, state, 3)
    expected = train(net, packed, packed_state, 3)
    assert params["W2"] is odd and odd.dtype == (np.float32 if kind == "float32" else np.float64)
    if kind == "float32":  # rounded to float32 after each step, so close, not equal
        np.testing.assert_allclose(losses, expected, rtol=1e-6)
        for key in packed:
            np.testing.assert_allclose(params[key], packed[key], rtol=1e-5, atol=1e-6)
    else:
        assert losses == expected
        assert_same(params, packed)
        assert_same(state, packed_state)


def _break(params: dict[str, Any], state: dict[str, Any], case: str) -> str:
    """Spoil params or state as `case` says; returns the key the error must name."""
    if case == "read-only":  # in place: the same object as the step before, if any
        params["W2"].flags.writeable = False
        return "params['W2']"
    if case == "missing param":
        del params["b1"]
        return "params['b1']"
    if case == "missing state":
        del state["m_W2"]
        return "state['m_W2']"
    state["v_b2"] = np.zeros(3)  # wrong shape
    return "state['v_b2']"


@pytest.mark.parametrize("warm", [False, True], ids=["fresh", "after-a-step"])
@pytest.mark.parametrize("case", ["read-only", "missing param", "missing state", "state shape"])
def test_bad_arrays_raise_one_line_value_error_naming_the_key(case: str, warm: bool) -> None:
    net = module("sig_tanh_bce", "adam")
    params, state = start(net)
    params = foreign(params)  # a packed view made read-only has a writeable block behind it
    if warm:
        train(net, params, state, 1)
    key = _break(params, state, case)
    before, before_state = foreign(params), foreign(state)
    X, Y = data(net)
    with pytest.raises(ValueError) as error:
        net.train_step(params, X, Y, state)
    message = str(error.value)
    assert key in message and "\n" not in message
    assert_same(params, before)
    assert_same(state, before_state)


def test_a_deep_copy_of_params_and_state_after_a_step_trains_like_the_original() -> None:
    net = module("relu_leaky_ce", "adam")
    params, state = start(net)
    train(net, params, state, 1)
    copied, copied_state = copy.deepcopy((params, state))  # a checkpoint, say
    assert train(net, copied, copied_state, 2) == train(net, params, state, 2)
    assert_same(copied, params)
    assert_same(copied_state, state)


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_foreign_arrays_allocate_nothing_that_grows_with_steps(optimizer: str) -> None:
    net = module("relu_leaky_ce32", optimizer)
    params, state = start(net)
    params, state = foreign(params), foreign(state)
    X, Y = data(net, size=16)
    net.train_step(params, X, Y, state)  # warm-up: makes the blocks and the workspace
    # Only what the step allocates: pytest-xdist's own thread allocates meanwhile, and
    # tracemalloc traces every thread, so the count keeps the traces that pass the module.
    step = [tracemalloc.Filter(True, net.train_step.__code__.co_filename, all_frames=True)]
    tracemalloc.start(64)
    try:
        first = tracemalloc.take_snapshot().filter_traces(step)
        for _ in range(50):
            net.train_step(params, X, Y, state)
        last = tracemalloc.take_snapshot().filter_traces(step)
    finally:
        tracemalloc.stop()
    growth = sum(stat.size_diff for stat in last.compare_to(first, "filename"))
    assert growth < 2048


def test_a_new_dict_of_the_same_arrays_trains_its_own_arrays() -> None:
    net = module("sig_tanh_bce", "sgd")
    params, state = start(net)
    params = foreign(params)  # copied in and out each step
    train(net, params, state, 1)
    same = dict(params)  # the same arrays in a new dict
    reference = foreign(same)
    params["W1"] = np.zeros_like(params["W1"])  # the old dict changes; `same` does not
    assert train(net, same, state, 1) == train(net, reference, net.init_optimizer(reference), 1)
    assert_same(same, reference)
    np.testing.assert_array_equal(params["W1"], 0.0)


def test_a_state_from_another_module_does_not_lend_it_its_buffers() -> None:
    slow, fast = module("relu_leaky_ce", "sgd"), module("relu_leaky_ce", "momentum")
    params, _ = start(slow)
    reference = foreign(params)
    state = slow.init_optimizer(params)
    train(slow, params, state, 1)  # state["_fast"] now holds slow's buffers
    train(slow, reference, slow.init_optimizer(reference), 1)
    state.update(fast.init_optimizer(params))
    expected = train(fast, reference, fast.init_optimizer(reference), 2)
    assert train(fast, params, state, 2) == expected
    assert_same(params, reference)


@pytest.mark.parametrize("bad", ["params", "state"])
def test_params_or_state_that_is_not_a_dict_is_refused(bad: str) -> None:
    net = module("relu_leaky_ce", "momentum")
    params, state = start(net)
    train(net, params, state, 1)  # after a step, too
    X, Y = data(net)
    args = {"params": params, "state": state, bad: [params]}
    with pytest.raises(ValueError, match=f"^{bad}: expected a dict of arrays, found list$"):
        net.train_step(args["params"], X, Y, args["state"])


@pytest.mark.parametrize("step", [None, "3", -1, 2.0, True])
def test_adam_refuses_a_step_count_that_is_not_a_count(step: object) -> None:
    net = module("relu_leaky_ce", "adam")
    params, state = start(net)
    train(net, params, state, 1)
    if step is None:
        del state["step"]
    else:
        state["step"] = step
    before = foreign(params)
    X, Y = data(net)
    with pytest.raises(ValueError, match=r"^state\['step'\]: expected a step count, found"):
        net.train_step(params, X, Y, state)
    assert_same(params, before)
