"""Generated modules at run time: bad input, extreme numbers and broken files never hurt the user.

- every public function checks its inputs: ValueError saying what was expected and found;
- inputs are converted once to the module's dtype;
- pre-activations up to +-1e4 in float32 and float64 keep forward, loss and gradients finite
  with no NumPy warning (warnings are errors here, and overflow, invalid and divide raise);
- save is atomic, load never unpickles and refuses damaged or foreign files with ValueError;
- a run resumed from a save between epochs ends bit for bit where an uninterrupted one does.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from derive import codegen
from derive import spec as specs

pytestmark = pytest.mark.filterwarnings("error")

HIDDEN = ["relu", "leaky_relu", "sigmoid", "tanh", "identity"]
OUTPUTS = {  # output activation, loss, number of outputs
    "softmax_ce": ("softmax", "cross_entropy", 3),
    "sigmoid_bce": ("sigmoid", "binary_cross_entropy", 2),
    "softmax_mse": ("softmax", "mse", 3),
    "tanh_mse": ("tanh", "mse", 2),
    "identity_mse": ("identity", "mse", 2),
}
DTYPES = ["float32", "float64"]
OPTIMIZERS = {
    "sgd": '{kind = "sgd", learning_rate = 0.1}',
    "momentum": '{kind = "momentum", learning_rate = 0.05, momentum = 0.9}',
    "adam": '{kind = "adam", learning_rate = 0.01}',
}
Net = Callable[..., ModuleType]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Net:
    """Build (once per module and arguments) and import a generated module."""
    folder = tmp_path_factory.mktemp("nets")
    built: dict[tuple, ModuleType] = {}

    def make(
        kind: str = "softmax_ce",
        dtype: str = "float64",
        optimizer: str = "adam",
        hidden: tuple[str, ...] = ("tanh",),
        n_in: int = 3,
        width: int = 6,
        bias: bool = True,
    ) -> ModuleType:
        key = (kind, dtype, optimizer, hidden, n_in, width, bias)
        if key not in built:
            out_act, loss, n_out = OUTPUTS[kind]
            name = f"net{len(built)}"
            layers = [n_in, *[width] * len(hidden), n_out]
            acts = ", ".join(f'"{act}"' for act in [*hidden, out_act])
            spec = specs.parse(
                f'name = "{name}"\nlayers = {layers}\nactivations = [{acts}]\n'
                f'loss = "{loss}"\nbias = {str(bias).lower()}\ndtype = "{dtype}"\n'
                f"optimizer = {OPTIMIZERS[optimizer]}\n"
            )
            codegen.write_atomic(folder / f"{name}.py", codegen.render_module(spec))
            built[key] = codegen.load_module(name, folder)
        return built[key]

    return make


def data(net: ModuleType, size: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and good targets: labels for a softmax output, 0/1 for BCE, values for MSE."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((size, net.N_IN))
    if net.ACTIVATIONS[-1] == "softmax":
        return X, np.arange(size) % net.N_OUT
    if net.LOSS == "binary_cross_entropy":
        return X, (rng.random((size, net.N_OUT)) > 0.5).astype(float)
    return X, rng.uniform(-0.9, 0.9, (size, net.N_OUT))


def copies(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {key: value.copy() for key, value in params.items()}


def assert_same(left: dict[str, Any], right: dict[str, Any]) -> None:
    """Equal keys, and bit-identical arrays of the same dtype (or equal ints)."""
    assert sorted(left) == sorted(right)
    for key, value in left.items():
        if isinstance(value, np.ndarray):
            assert value.dtype == right[key].dtype, key
            assert value.tobytes() == right[key].tobytes(), key
        else:
            assert value == right[key], key


# --- input checks ---------------------------------------------------------------------------


def public_calls(net: ModuleType) -> Iterator[tuple[str, Callable[..., Any], bool]]:
    """(name, call(params, X, Y), whether it reads Y) for every public function."""
    yield "forward", lambda p, X, Y: net.forward(p, X), False
    yield "predict", lambda p, X, Y: net.predict(p, X), False
    if net.CLASSIFIER:
        yield "predict_proba", lambda p, X, Y: net.predict_proba(p, X), False
    yield "loss_and_grads", lambda p, X, Y: net.loss_and_grads(p, X, Y), True
    yield "evaluate", lambda p, X, Y: net.evaluate(p, X, Y), True
    yield "train_step", lambda p, X, Y: net.train_step(p, X, Y, net.init_optimizer(p)), True
    yield "fit", lambda p, X, Y: net.fit(p, X, Y, epochs=1, batch_size=4), True
    yield "check_gradients", lambda p, X, Y: net.check_gradients(p, X, Y), True


def bad_inputs(net: ModuleType) -> Iterator[tuple[str, Any, str]]:
    """(case, X, what the message must hold): each X is wrong in one way."""
    n, good = net.N_IN, np.ones((4, net.N_IN))
    yield "features", np.ones((4, n + 1)), f"expected shape (batch, {n}), found (4, {n + 1})"
    yield "one-d", np.ones(n), f"expected shape (batch, {n}), found ({n},)"
    yield "three-d", np.ones((4, n, 1)), f"found (4, {n}, 1)"
    yield "empty", np.ones((0, n)), f"expected shape (batch, {n}), found (0, {n})"
    yield "strings", np.full((4, n), "1"), "expected numbers, found dtype <U1"
    yield "objects", [[None] * n] * 4, "expected numbers, found dtype object"
    yield "complex", good.astype(complex), "expected numbers, found dtype complex128"
    yield "ragged", [[1.0] * n, [1.0] * (n + 1)], "expected a numeric array, found list"
    for value in (math.nan, math.inf, -math.inf):
        bad = good.copy()
        bad[2, -1] = value
        # a list: train_step checks the values of what it converts (its fast path, arrays
        # already in DTYPE, is the next test's)
        yield str(value), bad.tolist(), "expected finite values, found NaN or infinity"
        yield f"{value}-float16", bad.astype(np.float16), "expected finite values"
    if net.DTYPE.name == "float32":
        bad = good.copy()
        bad[0, 0] = -1e39
        yield "beyond-float32", bad, "expected numbers within float32 range (+-3.403e+38), found"


def bad_targets(net: ModuleType) -> Iterator[tuple[str, Any, str]]:
    """(case, Y for 4 samples, what the message must hold): each Y is wrong in one way."""
    m = net.N_OUT
    yield "rows", np.zeros((3, m)), "expected 4 rows, one per sample, found (3,"
    yield "columns", np.zeros((4, m + 1)), f"found (4, {m + 1})"
    yield "strings", np.full((4, m), "a"), "expected numbers, found dtype <U1"
    yield "objects", [None] * 4, "expected numbers, found dtype object"
    if net.ACTIVATIONS[-1] == "softmax":
        yield "label-high", [0, 1, m, 0], f"expected labels in 0..{m - 1}, found 0..{m}"
        yield "label-negative", [0, -1, 1, 0], f"expected labels in 0..{m - 1}, found -1..1"
        yield "label-float", [0.0, 1.0, 1.0, 0.0], "expected integer class labels, found dtype"
        bad = np.eye(m)[[0, 1, 0, 1]] * 2
        yield "not-probabilities", bad.tolist(), "expected rows of probabilities summing to 1"
        bad = np.eye(m)[[0, 1, 0, 1]]
        bad[1, 1] = math.nan
        yield "nan", bad.tolist(), "expected finite values, found NaN or infinity"
    else:
        bad = np.zeros((4, m))
        if net.LOSS == "binary_cross_entropy":
            bad[3, 0] = 2.0
            yield "beyond-one", bad.tolist(), "expected labels or probabilities in [0, 1], found"
            bad[3, 0] = -0.5
            yield "negative", bad.tolist(), "found -0.5..0"
        bad[1, 0] = math.inf
        yield "inf", bad.tolist(), "expected finite values, found NaN or infinity"
        if net.DTYPE.name == "float32" and net.LOSS == "mse":
            bad[1, 0] = 1e300
            yield "beyond-float32", bad, "expected numbers within float32 range"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["softmax_ce", "sigmoid_bce", "identity_mse"])
def test_every_public_function_refuses_bad_inputs_saying_expected_and_found(
    net: Net, kind: str, dtype: str
) -> None:
    module = net(kind, dtype)
    params = module.init_params(0)
    before = copies(params)
    X, Y = data(module, size=4)
    cases = [("X", case, bad, Y, text) for case, bad, text in bad_inputs(module)]
    cases += [("Y", case, X, bad, text) for case, bad, text in bad_targets(module)]
    checked = 0
    for role, case, bad_X, bad_Y, text in cases:
        for name, call, reads_y in public_calls(module):
            if role == "Y" and not reads_y:
                continue
            with pytest.raises(ValueError) as caught:
                call(params, bad_X, bad_Y)
            message = str(caught.value)
            assert message.startswith(f"{role}: expected"), (name, case, message)
            assert text in message and "found" in message, (name, case, message)
            checked += 1
    assert_same(params, before)  # nothing refused moved a parameter
    assert checked > 60


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", list(OUTPUTS))
def test_train_step_fast_path_refuses_nan_in_ready_arrays_before_any_update(
    net: Net, kind: str, dtype: str
) -> None:
    """Arrays already in DTYPE skip the up-front value checks (they would slow the smallest
    benchmark by tens of percent); a NaN still reaches the loss, so it is refused before any
    update. NumPy may warn on the way (logaddexp of NaN), hence invalid="ignore" here."""
    module = net(kind, dtype, "momentum", hidden=tuple(HIDDEN))
    params = module.init_params(0)
    state = module.init_optimizer(params)
    X, Y = data(module, size=8)
    X = X.astype(module.DTYPE)
    T = np.eye(module.N_OUT, dtype=module.DTYPE)[Y] if Y.ndim == 1 else Y.astype(module.DTYPE)
    before, state_before = copies(params), copies(state)
    cases = [(X.copy(), T, "X", np.nan), (X, T.copy(), "Y", np.nan), (X, T.copy(), "Y", np.inf)]
    for bad_X, bad_T, role, value in cases:
        (bad_X if role == "X" else bad_T)[3, 0] = value
        with (
            np.errstate(invalid="ignore"),
            pytest.raises(ValueError, match=f"^{role}: expected finite values"),
        ):
            module.train_step(params, bad_X, bad_T, state)
        assert_same(params, before)
    assert_same({k: v for k, v in state.items() if not k.startswith("_")}, state_before)
    with pytest.raises(ValueError, match=r"X: expected shape \(batch, 3\), found \(0, 3\)"):
        module.train_step(params, X[:0], T[:0], state)


def test_params_of_the_wrong_shape_are_refused(net: Net) -> None:
    module = net()
    params = module.init_params(0)
    X, Y = data(module)
    params["W1"] = params["W1"].T
    wrong = r"params\['W1'\]: expected an array of shape \(6, 3\), found \(3, 6\)"
    for call in (module.forward, module.predict):
        with pytest.raises(ValueError, match=wrong):
            call(params, X)
    for call in (module.loss_and_grads, module.evaluate, module.fit, module.check_gradients):
        with pytest.raises(ValueError, match=wrong):
            call(params, X, Y)
    with pytest.raises(ValueError, match=r"params\['b1'\]: expected an array of shape"):
        module.loss_and_grads({"W1": params["W1"].T}, X, Y)
    with pytest.raises(ValueError, match="validation: expected a pair"):
        module.fit(module.init_params(0), X, Y, epochs=1, validation=(X, Y, X))
    with pytest.raises(ValueError, match="epochs: expected a positive integer, found 0"):
        module.fit(module.init_params(0), X, Y, epochs=0)


# --- dtype conversion -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_inputs_of_any_numeric_dtype_come_out_in_the_modules_dtype(net: Net, dtype: str) -> None:
    module = net("identity_mse", dtype, "sgd")
    params = module.init_params(0)
    X, Y = data(module, size=5)
    for kind in (np.int8, np.int64, np.uint16, np.float16, np.float32, np.float64, bool):
        converted = X.astype(kind)
        assert module.forward(params, converted).dtype == module.DTYPE
        assert module.forward(params, converted.tolist()).dtype == module.DTYPE
        _, grads = module.loss_and_grads(params, converted, Y.astype(kind))
        assert all(grad.dtype == module.DTYPE for grad in grads.values())
    step = copies(params)
    module.train_step(step, X.astype(np.float16), Y.tolist(), module.init_optimizer(step))
    assert all(value.dtype == module.DTYPE for value in step.values())


@pytest.mark.parametrize("dtype", DTYPES)
def test_fit_converts_its_inputs_once_not_per_batch_or_epoch(
    net: Net, dtype: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = net("identity_mse", dtype, "sgd")
    other = np.float16 if dtype == "float32" else np.float32
    conversions: list[np.dtype] = []
    real = module._converted

    def counting(array: np.ndarray, name: str) -> np.ndarray:
        if array.dtype != module.DTYPE:
            conversions.append(array.dtype)
        return real(array, name)

    monkeypatch.setattr(module, "_converted", counting)
    X, Y = data(module, size=40)
    module.fit(module.init_params(0), X.astype(other), Y.astype(other), epochs=5, batch_size=8)
    assert conversions == [np.dtype(other)] * 2  # X once and Y once, for 5 epochs of 5 batches


# --- extreme numbers ------------------------------------------------------------------------


def pushed_to_the_edge(module: ModuleType, X: np.ndarray, size: float = 1e4) -> dict:
    """Params scaled layer by layer so every layer's largest |pre-activation| is `size`."""
    params = module.init_params(0)
    for layer in range(1, len(module.LAYERS)):
        if f"b{layer}" in params:
            params[f"b{layer}"][...] = 0.5
        z = module._forward(params, X.astype(module.DTYPE))[2 * layer - 2]
        scale = size / float(np.abs(z).max())
        params[f"W{layer}"] *= module.DTYPE.type(scale)
        if f"b{layer}" in params:
            params[f"b{layer}"] *= module.DTYPE.type(scale)
    return params


def stable_reference_loss(module: ModuleType, z: np.ndarray, T: np.ndarray) -> float | None:
    """The loss from the output pre-activation, in float64 by the textbook-stable formulas."""
    z = z.astype(np.float64)
    if module.LOSS == "cross_entropy":
        top = z.max(axis=1, keepdims=True)
        log_softmax = z - top - np.log(np.exp(z - top).sum(axis=1, keepdims=True))
        return float(-(T * log_softmax).sum() / len(z))
    if module.LOSS == "binary_cross_entropy":
        return float(np.mean(np.maximum(z, 0) - z * T + np.log1p(np.exp(-np.abs(z)))))
    return None


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", list(OUTPUTS))
def test_pre_activations_of_1e4_keep_everything_finite_and_warning_free(
    net: Net, kind: str, dtype: str
) -> None:
    optimizer = list(OPTIMIZERS)[(list(OUTPUTS).index(kind) + DTYPES.index(dtype)) % 3]
    module = net(kind, dtype, optimizer, hidden=tuple(HIDDEN))
    rng = np.random.default_rng(1)
    X = rng.standard_normal((16, module.N_IN))
    params = pushed_to_the_edge(module, X)
    values = module._forward(params, X.astype(module.DTYPE))
    zs = values[0::2]
    for z in zs:  # every layer reaches the edge
        assert float(np.abs(z).max()) == pytest.approx(1e4, rel=1e-3)
    z_out = zs[-1]
    if module.ACTIVATIONS[-1] == "softmax":  # the worst labels: the least likely class
        Y = z_out.argmin(axis=1)
        T = np.eye(module.N_OUT)[Y]
    else:
        Y = T = (z_out < 0).astype(float)  # sigmoid: the wrong side everywhere
        if module.LOSS == "mse":
            Y = T = np.where(z_out < 0, 0.9, -0.9)

    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = module.forward(params, X)
        loss, grads = module.loss_and_grads(params, X, Y)
        scores = module.evaluate(params, X, Y)
        predicted = module.predict(params, X)
        step_params, state = copies(params), module.init_optimizer(params)
        step_loss = module.train_step(step_params, X, Y, state)
        again = module.train_step(step_params, X, Y, state)

    assert out.dtype == module.DTYPE and np.isfinite(out).all()
    assert np.isfinite(predicted).all()
    assert math.isfinite(loss) and math.isfinite(scores["loss"])
    assert math.isfinite(step_loss) and math.isfinite(again)
    for key in params:
        assert np.isfinite(grads[key]).all(), key
        assert np.isfinite(step_params[key]).all(), key
    reference = stable_reference_loss(module, z_out, T)
    if reference is not None:  # thousands, not inf: log-sum-exp / log1p(exp(-|z|))
        assert reference > 1e3
        assert loss == pytest.approx(reference, rel=1e-5)
        assert step_loss == pytest.approx(reference, rel=1e-5)
    if module.ACTIVATIONS[-1] in ("softmax", "sigmoid"):
        assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_and_cross_entropy_shift_by_the_max(net: Net, dtype: str) -> None:
    """A softmax of z + 1e4 is the softmax of z, and its cross-entropy is exact; no overflow."""
    module = net("softmax_ce", dtype, "sgd", hidden=())
    params = module.init_params(0)
    params["W1"][...] = 0
    X = np.zeros((2, module.N_IN))
    exact = np.exp([0.0, -1.0, -2.0]) / np.exp([0.0, -1.0, -2.0]).sum()
    tolerance = 1e-6 if dtype == "float32" else 1e-15
    for shift in (1e4, -1e4, 0.0):
        params["b1"][...] = np.array([0.0, -1.0, -2.0]) + shift
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            out = module.forward(params, X)
            loss, _ = module.loss_and_grads(params, X, np.array([2, 2]))
        np.testing.assert_allclose(out[0], exact, rtol=0, atol=tolerance)
        assert loss == pytest.approx(-math.log(exact[2]), rel=tolerance * 10)
    params["b1"][...] = [1e4, -1e4, 0.0]  # label 1 is 2e4 below the top: the loss is 2e4
    loss, grads = module.loss_and_grads(params, X, np.array([1, 1]))
    assert loss == pytest.approx(2e4, rel=1e-6)
    np.testing.assert_allclose(grads["b1"], [1.0, -1.0, 0.0], atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_and_binary_cross_entropy_do_not_overflow(net: Net, dtype: str) -> None:
    module = net("sigmoid_bce", dtype, "sgd", hidden=())
    params = module.init_params(0)
    params["W1"][...] = 0
    params["b1"][...] = [1e4, -1e4]
    X = np.zeros((3, module.N_IN))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = module.forward(params, X)
        right, _ = module.loss_and_grads(params, X, np.tile([1.0, 0.0], (3, 1)))
        wrong, grads = module.loss_and_grads(params, X, np.tile([0.0, 1.0], (3, 1)))
    np.testing.assert_array_equal(out, np.tile([1.0, 0.0], (3, 1)))
    assert right == pytest.approx(0.0, abs=1e-30)
    assert wrong == pytest.approx(1e4, rel=1e-6)  # mean over 2 outputs of 1e4 each
    np.testing.assert_allclose(grads["b1"], [0.5, -0.5], rtol=1e-6)  # (a - t) / n_out


# --- save and load --------------------------------------------------------------------------


@pytest.fixture
def trained(net: Net, tmp_path: Path) -> tuple[ModuleType, Path, dict, dict]:
    module = net("softmax_ce", "float32", "adam")
    params = module.init_params(0)
    state = module.init_optimizer(params)
    X, Y = data(module)
    module.fit(params, X, Y, epochs=2, batch_size=5, state=state)
    path = tmp_path / "run.npz"
    module.save(path, params, state)
    return module, path, params, state


def test_save_writes_an_npz_of_params_state_and_fingerprint_and_load_restores_it(
    trained: tuple[ModuleType, Path, dict, dict],
) -> None:
    module, path, params, state = trained
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
    assert "meta/fingerprint.npy" in names
    assert {f"param/{key}.npy" for key in module.PARAM_NAMES} <= names
    assert {"state/step.npy", "state/epoch.npy", "state/m_W1.npy"} <= names
    assert not any(name.startswith("state/_") for name in names)  # scratch is not state
    with np.load(path, allow_pickle=False) as saved:
        assert str(saved["meta/fingerprint"]) == module.FINGERPRINT
    loaded_params, loaded_state = module.load(path)
    assert_same(loaded_params, params)
    assert_same(loaded_state, {k: v for k, v in state.items() if not k.startswith("_")})
    assert all(value.flags.writeable for value in loaded_params.values())


def test_save_is_atomic_a_failed_save_leaves_the_old_file_and_no_litter(
    trained: tuple[ModuleType, Path, dict, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    module, path, params, state = trained
    old = path.read_bytes()
    replaced: list[tuple[str, str]] = []

    def half_then_crash(stream: Any, **arrays: Any) -> None:
        stream.write(b"PK\x03\x04 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(module.numpy, "savez", half_then_crash)
    with pytest.raises(OSError, match="disk full"):
        module.save(path, params, state)
    assert path.read_bytes() == old
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    monkeypatch.undo()

    real_replace = os.replace

    def watching(source: str, target: str) -> None:
        replaced.append((os.path.basename(source), os.path.dirname(source)))
        with np.load(source, allow_pickle=False) as complete:  # whole before it is renamed
            assert "param/W1" in complete.files
        real_replace(source, target)

    monkeypatch.setattr(module.os, "replace", watching)
    params["W1"] += 1
    module.save(path, params, state)
    ((name, folder),) = replaced
    assert name.startswith(".save-") and folder == str(path.parent)
    assert_same(module.load(path)[0], params)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_load_refuses_a_file_made_for_another_architecture(
    trained: tuple[ModuleType, Path, dict, dict], net: Net
) -> None:
    module, path, _, _ = trained
    for other in (net("sigmoid_bce", "float32"), net("softmax_ce", "float32", width=7)):
        with pytest.raises(ValueError) as caught:
            other.load(path)
        message = str(caught.value)
        assert f"made for architecture {module.NAME} ({module.FINGERPRINT[:12]})" in message
        assert f"not {other.NAME} ({other.FINGERPRINT[:12]})" in message


def test_load_refuses_every_truncation_saying_so(
    trained: tuple[ModuleType, Path, dict, dict], tmp_path: Path
) -> None:
    module, path, _, _ = trained
    raw = path.read_bytes()
    cut = tmp_path / "cut.npz"
    for length in [*range(0, 64), *range(64, len(raw), 97), len(raw) - 1]:
        cut.write_bytes(raw[:length])
        with pytest.raises(ValueError, match="corrupt or truncated"):
            module.load(cut)


def test_load_refuses_or_ignores_every_flipped_byte_never_anything_else(
    trained: tuple[ModuleType, Path, dict, dict], tmp_path: Path
) -> None:
    """A flipped byte in the data fails the CRC; one in zip bookkeeping may be harmless."""
    module, path, params, _ = trained
    raw = bytearray(path.read_bytes())
    broken = tmp_path / "flipped.npz"
    refused = 0
    for index in range(0, len(raw), 11):
        raw[index] ^= 0xFF
        broken.write_bytes(raw)
        raw[index] ^= 0xFF
        try:
            loaded, _ = module.load(broken)
        except ValueError:
            refused += 1
        else:
            assert_same(loaded, params)  # loaded means loaded right
    assert refused > len(raw) // 11 // 2  # most bytes are data, under a CRC


def test_load_refuses_a_zip_bomb_before_unpacking_it(
    trained: tuple[ModuleType, Path, dict, dict], tmp_path: Path
) -> None:
    """A few kB on disk, 8 MB unpacked: refused from the zip directory, nothing allocated."""
    module, path, _, _ = trained
    big = io.BytesIO()
    np.save(big, np.zeros(1 << 20))
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path) as saved, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out:
        for name in saved.namelist():
            out.writestr(name, saved.read(name))
        out.writestr("state/padding.npy", big.getvalue())
    assert bomb.stat().st_size < 64 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="bytes unpacked, at most"):
            module.load(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def _npz(path: Path, **arrays: Any) -> Path:
    np.savez(path, **arrays)
    return path


class _Trap:
    """Unpickling this touches a file: load must never get that far."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


def test_load_never_unpickles(trained: tuple[ModuleType, Path, dict, dict], tmp_path: Path) -> None:
    module, path, _, _ = trained
    marker = tmp_path / "unpickled"
    trap = np.empty(1, dtype=object)
    trap[0] = _Trap(marker)
    with np.load(path, allow_pickle=False) as saved:
        arrays = {key: saved[key] for key in saved.files}
    hostile = [
        _npz(tmp_path / "object-param.npz", **{**arrays, "param/W1": trap}),
        _npz(tmp_path / "object-state.npz", **{**arrays, "state/m_W1": trap}),
        _npz(tmp_path / "object-meta.npz", **{**arrays, "meta/fingerprint": trap}),
    ]
    raw_pickle = tmp_path / "raw.pkl"
    raw_pickle.write_bytes(pickle.dumps(_Trap(marker)))
    for bad in [*hostile, raw_pickle]:
        with pytest.raises(ValueError, match="corrupt or truncated"):
            module.load(bad)
    assert not marker.exists()


def _deflated_and_damaged(source: Path, target: Path) -> Path:
    with zipfile.ZipFile(source) as inner:
        members = {name: inner.read(name) for name in inner.namelist()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as outer:
        for name, content in members.items():
            outer.writestr(name, content)
    raw = bytearray(buffer.getvalue())
    offset = raw.index(b"param/W1.npy") + len("param/W1.npy") + 20
    raw[offset : offset + 8] = b"\x00\xff" * 4  # inside the compressed stream
    target.write_bytes(bytes(raw))
    return target


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d, a: _npy(d), "not an .npz archive"),
        (lambda d, a: d / "missing.npz", "not a readable file: No such file"),
        (lambda d, a: d, "expected a save file, found a pipe, device or folder"),
        (lambda d, a: _npz(d / "x.npz", x=np.ones(2)), "not a derive save file"),
        (
            lambda d, a: _npz(d / "x.npz", **{**a, "meta/fingerprint": np.ones(3)}),
            "not a derive save file",
        ),
        (
            lambda d, a: _npz(d / "x.npz", **{**a, "param/W1": a["param/W1"].T}),
            "parameter W1 missing or not of shape",
        ),
        (
            lambda d, a: _npz(d / "x.npz", **{k: v for k, v in a.items() if k != "param/b2"}),
            "parameter b2 missing",
        ),
        (
            lambda d, a: _npz(d / "x.npz", **{**a, "param/W1": a["param/W1"] * np.nan}),
            "parameter W1: expected finite values",
        ),
        (
            lambda d, a: _npz(d / "x.npz", **{**a, "param/W1": a["param/W1"].astype(int)}),
            "parameter W1 missing or not of shape",
        ),
        (
            lambda d, a: _npz(d / "x.npz", **{**a, "param/W1": a["param/W1"] * 1e300}),
            "parameter W1: expected numbers within float32 range",
        ),
        (
            lambda d, a: _npz(d / "x.npz", **{**a, "state/step": np.array([1, 2])}),
            "optimizer state step: expected a non-negative integer",
        ),
        (
            lambda d, a: _npz(d / "x.npz", **{**a, "state/epoch": np.array(-3)}),
            "optimizer state epoch: expected a non-negative integer",
        ),
        (
            lambda d, a: _npz(d / "x.npz", **{**a, "state/m_W1": np.full((6, 3), "x")}),
            "unexpected optimizer state m_W1",
        ),
        (
            lambda d, a: _npz(d / "x.npz", **{**a, "state/v_W1": a["state/v_W1"] - np.inf}),
            "optimizer state v_W1: expected finite values",
        ),
        (
            lambda d, a: _npz(d / "x.npz", **{**a, "state/lr": np.array(0.1)}),
            "unexpected optimizer state lr",
        ),
        (lambda d, a: _deflated_and_damaged(d / "run.npz", d / "z.npz"), "corrupt or truncated"),
    ],
    ids=[
        "npy",
        "missing",
        "directory",
        "foreign-npz",
        "fingerprint-array",
        "wrong-shape",
        "missing-param",
        "nan-param",
        "int-param",
        "beyond-float32",
        "step-array",
        "negative-epoch",
        "string-state",
        "inf-state",
        "unknown-state",
        "deflate-damage",
    ],
)
def test_load_refuses_broken_saves_with_a_value_error_that_says_which(
    trained: tuple[ModuleType, Path, dict, dict],
    make: Callable[[Path, dict], Path],
    message: str,
) -> None:
    module, path, _, _ = trained
    with np.load(path, allow_pickle=False) as saved:
        arrays = {key: saved[key] for key in saved.files}
    arrays["param/W1"] = arrays["param/W1"].astype(np.float64)  # room for 1e300
    bad = make(path.parent, arrays)
    with pytest.raises(ValueError) as caught:
        module.load(bad)
    assert str(caught.value).startswith(str(bad))
    assert message in str(caught.value)


def _npy(folder: Path) -> Path:
    np.save(folder / "array.npy", np.ones(3))
    return folder / "array.npy"


# --- resume ---------------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_a_run_resumed_from_a_save_between_epochs_matches_an_uninterrupted_one_bit_for_bit(
    net: Net, tmp_path: Path, optimizer: str, dtype: str
) -> None:
    module = net("softmax_ce", dtype, optimizer, hidden=("relu", "tanh"))
    X, Y = data(module, size=30, seed=4)
    validation = data(module, size=10, seed=5)
    settings = {"batch_size": 7, "seed": 3, "validation": validation}

    straight = module.init_params(1)
    straight_state = module.init_optimizer(straight)
    whole = module.fit(straight, X, Y, epochs=4, state=straight_state, **settings)

    first = module.init_params(1)
    first_state = module.init_optimizer(first)
    module.fit(first, X, Y, epochs=2, state=first_state, **settings)
    module.save(tmp_path / "epoch2.npz", first, first_state)
    del first, first_state  # the process "dies" between epochs

    fresh = codegen.load_module(module.NAME, Path(module.__file__).parent)  # a new import
    resumed, resumed_state = fresh.load(tmp_path / "epoch2.npz")
    rest = fresh.fit(resumed, X, Y, epochs=2, state=resumed_state, **settings)

    assert_same(resumed, straight)
    assert_same(
        {k: v for k, v in resumed_state.items() if not k.startswith("_")},
        {k: v for k, v in straight_state.items() if not k.startswith("_")},
    )
    assert rest["loss"] == whole["loss"][2:]
    assert rest["val_loss"] == whole["val_loss"][2:]

    naive = module.init_params(1)  # without the saved state: not the same run
    module.fit(naive, X, Y, epochs=2, **settings)
    module.fit(naive, X, Y, epochs=2, **settings)
    assert any(not np.array_equal(naive[key], straight[key]) for key in straight)
