"""Generated modules refuse what they cannot honour: saves load would refuse, diverged fits,
meaningless gradient checks, bad arguments, and files that are not saves."""

from __future__ import annotations

import math
import os
import threading
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from generator_support import batch, build

ADAM = {"kind": "adam", "learning_rate": 0.01}
BASE = {"layers": [3, 4, 2], "activations": ["tanh", "softmax"], "loss": "cross_entropy"}


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return build(tmp_path_factory.mktemp("nets"), **BASE, optimizer=ADAM)


@pytest.fixture()
def saved(net: ModuleType, tmp_path: Path) -> tuple[Path, bytes]:
    """A good save on disk and its bytes."""
    params = net.init_params(0)
    path = tmp_path / "run.npz"
    net.save(path, params, net.init_optimizer(params))
    return path, path.read_bytes()


def _bad_states(net: ModuleType) -> list[tuple[str, Any, Any, str]]:
    """(case, what to change, value, what the message holds), each what load refuses."""
    return [
        ("nan-param", ("params", "W1"), math.nan, "parameter W1: expected finite values"),
        ("inf-param", ("params", "b2"), -math.inf, "parameter b2: expected finite values"),
        ("nan-state", ("state", "v_W2"), math.nan, "optimizer state v_W2: expected finite"),
        ("negative-step", ("state", "step"), -1, "step: expected a non-negative integer"),
        ("float-step", ("state", "step"), 1.5, "step: expected a non-negative integer"),
        ("bool-step", ("state", "step"), True, "step: expected a non-negative integer"),
        ("negative-epoch", ("state", "epoch"), -3, "epoch: expected a non-negative integer"),
        ("foreign-state", ("state", "momentum_W1"), np.zeros(3), "unexpected optimizer state"),
    ]


@pytest.mark.parametrize("case", range(8))
def test_save_refuses_what_load_would_refuse_and_keeps_the_good_file(
    net: ModuleType, saved: tuple[Path, bytes], case: int
) -> None:
    path, good = saved
    name, (which, key), value, text = _bad_states(net)[case]
    params = net.init_params(0)
    state = net.init_optimizer(params)
    target = params if which == "params" else state
    if isinstance(target.get(key), np.ndarray):
        target[key][(0,) * target[key].ndim] = value
    else:
        target[key] = value
    with pytest.raises(ValueError, match="nothing written") as caught:
        net.save(path, params, state)
    assert text in str(caught.value), name
    assert path.read_bytes() == good  # the good save is untouched
    assert sorted(os.listdir(path.parent)) == ["run.npz"]  # and no temporary left behind


def test_save_refuses_a_state_that_is_not_a_dict(net: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^state: expected a dict"):
        net.save(tmp_path / "x.npz", net.init_params(0), [1, 2])
    assert not (tmp_path / "x.npz").exists()


def test_what_save_writes_load_reads_back(net: ModuleType, tmp_path: Path) -> None:
    params = net.init_params(3)
    state = net.init_optimizer(params)
    X, Y = batch(net, size=8)
    net.fit(params, X, Y, epochs=2, batch_size=4, state=state)
    net.save(tmp_path / "run.npz", params, state)
    loaded, loaded_state = net.load(tmp_path / "run.npz")
    for key in params:
        np.testing.assert_array_equal(loaded[key], params[key])
    assert (loaded_state["step"], loaded_state["epoch"]) == (4, 2)


def _diverging() -> tuple[np.ndarray, np.ndarray]:
    """Half of the inputs near 1e20: float32 Adam's second moment overflows on them."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((64, 3)) * 1e20
    X[:32] /= 1e10
    return X, np.arange(64) % 2


def test_fit_that_diverges_leaves_the_parameters_of_the_last_finite_step(tmp_path: Path) -> None:
    deep = {**BASE, "layers": [3, 8, 8, 2], "activations": ["relu", "relu", "softmax"]}
    net = build(tmp_path, **deep, dtype="float32", optimizer=ADAM)
    X, y = _diverging()
    params = net.init_params(0)
    state = net.init_optimizer(params)
    with pytest.raises(FloatingPointError) as caught:
        net.fit(params, X, y, epochs=3, batch_size=8, state=state)
    message = str(caught.value)
    assert message.startswith("epoch 1, batch "), message
    for values in (params, state):
        for key, value in values.items():
            if isinstance(value, np.ndarray):
                assert np.isfinite(value).all(), key
    kept = int(message.split("those after batch ")[1].split(",")[0])
    assert kept >= 1 and state["step"] == kept
    # the same steps by hand: bit for bit the parameters fit left, and one more is not finite
    order = np.random.default_rng([0, 0]).permutation(64)
    mine = net.init_params(0)
    mine_state = net.init_optimizer(mine)
    with np.errstate(all="ignore"):
        for number in range(kept + 1):
            rows = order[8 * number : 8 * number + 8]
            net.train_step(mine, X[rows].astype(np.float32), np.eye(2)[y[rows]], mine_state)
            if number == kept - 1:
                for key in params:
                    assert mine[key].tobytes() == params[key].tobytes(), key
    after = [mine[key] for key in mine] + [mine_state[key] for key in mine_state if "_" in key]
    assert not all(np.isfinite(value).all() for value in after if isinstance(value, np.ndarray))


def test_fit_refuses_parameters_that_are_not_finite(net: ModuleType) -> None:
    params = net.init_params(0)
    params["W2"][0, 0] = math.nan
    X, Y = batch(net)
    with pytest.raises(ValueError, match=r"^params\['W2'\]: expected finite values"):
        net.fit(params, X, Y, epochs=1)


@pytest.mark.parametrize(
    ("argument", "value", "expected"),
    [
        ("state", [], "state: expected a dict"),
        ("state", "adam", "state: expected a dict"),
        ("seed", 1.5, "seed: expected a non-negative integer, found 1.5"),
        ("seed", -1, "seed: expected a non-negative integer, found -1"),
        ("seed", True, "seed: expected a non-negative integer, found True"),
        ("patience", -1, "patience: expected None or a positive integer, found -1"),
        ("patience", 0, "patience: expected None or a positive integer, found 0"),
        ("patience", 2.0, "patience: expected None or a positive integer, found 2.0"),
    ],
)
def test_fit_names_the_argument_it_refuses(
    net: ModuleType, argument: str, value: Any, expected: str
) -> None:
    params = net.init_params(0)
    X, Y = batch(net)
    with pytest.raises(ValueError) as caught:
        net.fit(params, X, Y, epochs=1, validation=(X, Y), **{argument: value})
    assert str(caught.value).startswith(expected)


@pytest.mark.parametrize("epsilon", [0, -1e-6, math.nan, math.inf, "1e-6", True, None])
def test_check_gradients_refuses_an_epsilon_that_is_not_a_positive_number(
    net: ModuleType, epsilon: Any
) -> None:
    X, Y = batch(net)
    with pytest.raises(ValueError, match=r"^epsilon: expected a positive finite number"):
        net.check_gradients(net.init_params(0), X, Y, epsilon=epsilon)


def test_check_gradients_never_reports_zero_for_nan_parameters(net: ModuleType) -> None:
    X, Y = batch(net)
    params = net.init_params(0)
    params["b1"][1] = math.nan
    with pytest.raises(ValueError, match=r"^params\['b1'\]: expected finite values"):
        net.check_gradients(params, X, Y)


def test_check_gradients_reports_nan_when_the_loss_overflows(net: ModuleType) -> None:
    X, Y = batch(net)
    params = net.init_params(0)
    params["W2"][...] = 1e308  # finite, but the loss and its differences are not
    with np.errstate(all="ignore"):
        assert math.isnan(net.check_gradients(params, X, Y))


def _load_in_thread(net: ModuleType, path: Path) -> BaseException | None:
    """load(path) in a daemon thread; the error it raised, or a TimeoutError if it hangs."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            net.load(path)
            outcome.append(None)
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=20)
    return outcome[0] if outcome else TimeoutError(f"load({path}) hung")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_load_refuses_a_fifo_without_waiting_for_a_writer(net: ModuleType, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    error = _load_in_thread(net, fifo)
    assert isinstance(error, ValueError), error
    assert "expected a save file, found a pipe, device or folder" in str(error)


def test_load_refuses_a_device_and_a_folder(net: ModuleType, tmp_path: Path) -> None:
    for path in (Path(os.devnull), tmp_path):
        error = _load_in_thread(net, path)
        assert isinstance(error, ValueError), (path, error)


def test_load_refuses_a_member_that_is_not_an_array(
    net: ModuleType, saved: tuple[Path, bytes]
) -> None:
    path, _ = saved
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("notes.txt", "not an array")
    with pytest.raises(ValueError, match=r"member 'notes.txt': expected a NumPy array"):
        net.load(path)


def test_early_stopping_says_when_and_why(net: ModuleType) -> None:
    X, Y = batch(net, size=16)
    Xv, Yv = batch(net, size=16, seed=1)
    params = net.init_params(0)
    history = net.fit(params, X, Y, epochs=400, validation=(Xv, Yv), patience=3)
    stopped = history["stopped"]
    epochs = len(history["loss"])
    best = int(np.argmin(history["val_loss"])) + 1
    assert epochs < 400
    assert stopped == (
        f"stopped early after epoch {epochs} of 400: val_loss did not improve on"
        f" {min(history['val_loss']):.5f} (epoch {best}) for 3 epochs;"
        f" parameters of epoch {best} restored"
    )
    assert net.fit(params, X, Y, epochs=2)["stopped"] is None


def test_softmax_with_mse_trains_on_any_finite_targets(tmp_path: Path) -> None:
    fields = {"layers": [3, 4, 3], "activations": ["tanh", "softmax"], "loss": "mse"}
    net = build(tmp_path, **fields, optimizer={"kind": "sgd", "learning_rate": 0.1})
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((6, 3)), 2 * rng.standard_normal((6, 3))  # rows sum to anything
    params = net.init_params(0)
    assert net.check_gradients(params, X, Y) < 1e-6  # the softmax JVP holds for any target
    loss, grads = net.loss_and_grads(params, X, Y)
    expected = {key: params[key] - 0.1 * grads[key] for key in params}
    assert net.train_step(params, X, Y, net.init_optimizer(params)) == pytest.approx(loss)
    for key in params:  # the fast path takes the same step
        np.testing.assert_allclose(params[key], expected[key], rtol=1e-9, atol=1e-12)
    ce = build(tmp_path, **{**fields, "loss": "cross_entropy"})
    with pytest.raises(ValueError, match="expected rows of probabilities summing to 1"):
        ce.loss_and_grads(ce.init_params(0), X, Y)  # the fused s - t needs them
