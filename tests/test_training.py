"""Training generated modules: every example reaches its target on held-out data, `fit`
keeps its contract, and the notes' own network shows what it can and cannot learn."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from derive import spec as specs
from derive.training import datasets, train

SPECS = Path(__file__).resolve().parent.parent / "generated" / "specs"
EXAMPLES = sorted(SPECS.glob("*.toml"))


def module(name: str) -> ModuleType:
    return train.load_module(specs.load(SPECS / f"{name}.toml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_example_reaches_its_target_on_held_out_data(path: Path) -> None:
    spec = specs.load(path)
    assert spec.training.dataset in datasets.TARGETS
    data = datasets.load(spec.training.dataset, seed=spec.training.seed)
    result = train.train(spec, data)
    metric, bound = datasets.TARGETS[data.name]
    assert result.metric == metric
    assert datasets.meets_target(data.name, result.metric, result.score), (
        f"{spec.name} on {data.name}: {train.format_score(metric, result.score)}, target {bound}"
    )


# --- the notes' network: ReLU everywhere, no bias, MSE ---------------------------------------


def test_seed_network_with_a_dead_relu_output_never_learns() -> None:
    """With every output weight negative, z2 = W2 a1 <= 0 since a1 = relu(.) >= 0: the output
    is relu(z2) = 0 for every input and ReLU'(z2) = 0 kills every gradient. Training is stuck."""
    net, data = module("seed_relu_mse"), datasets.load("relu_sum")
    params = net.init_params(seed=0)
    params["W2"] = -np.abs(params["W2"])
    before = {key: value.copy() for key, value in params.items()}

    history = net.fit(params, data.X_train, data.y_train, epochs=5, seed=0)

    assert not np.any(net.forward(params, data.X_test))
    _, grads = net.loss_and_grads(params, data.X_train, data.y_train)
    assert all(not np.any(grad) for grad in grads.values())
    for key in before:
        np.testing.assert_array_equal(params[key], before[key])
    stuck = np.mean(data.y_train**2)  # the loss of predicting 0 everywhere
    np.testing.assert_allclose(history["loss"], [stuck] * 5)


def test_seed_network_without_bias_cannot_fit_an_offset() -> None:
    """No bias: f(0) = 0 and f(c x) = c f(x) for c >= 0, whatever the weights. A target with an
    offset (relu_sum + 1) is out of reach near the origin however long it trains."""
    net, data = module("seed_relu_mse"), datasets.load("relu_sum")
    params = net.init_params(seed=0)
    net.fit(params, data.X_train, data.y_train + 1.0, epochs=20, seed=0)
    assert net.forward(params, np.zeros((1, 2)))[0, 0] == 0.0  # the target there is 1
    near = 0.05 * data.X_test
    target = np.maximum(near, 0).sum(axis=1, keepdims=True) + 1.0
    assert np.mean((net.forward(params, near) - target) ** 2) > 0.5


# --- the fit contract -------------------------------------------------------------------------


def test_fit_is_seeded() -> None:
    net, data = module("xor"), datasets.load("xor")

    def history(seed: int) -> dict[str, list[float]]:
        params = net.init_params(seed=0)
        return dict(net.fit(params, data.X_train, data.y_train, epochs=3, seed=seed))

    assert history(1) == history(1)
    assert history(1)["loss"] != history(2)["loss"]


def test_history_has_loss_and_accuracy_per_epoch_on_train_and_validation() -> None:
    net, data = module("xor"), datasets.load("xor")
    params = net.init_params(seed=0)
    validation = (data.X_test, data.y_test)
    history = net.fit(params, data.X_train, data.y_train, epochs=3, validation=validation)
    assert set(history) == {
        "loss",
        "val_loss",
        "accuracy",
        "val_accuracy",
        "learning_rate",
        "stopped",
    }
    assert all(len(history[key]) == 3 for key in history if key != "stopped")
    assert history["learning_rate"] == [net.HYPERPARAMETERS["learning_rate"]] * 3
    assert history["stopped"] is None
    assert all(0.0 <= value <= 1.0 for value in history["val_accuracy"])

    net, data = module("sine"), datasets.load("sine")
    params = net.init_params(seed=0)
    validation = (data.X_test, data.y_test)
    history = net.fit(params, data.X_train, data.y_train, epochs=2, validation=validation)
    assert set(history) == {"loss", "val_loss", "learning_rate", "stopped"}
    assert len(history["loss"]) == len(history["val_loss"]) == 2


def test_integer_labels_and_one_hot_targets_train_alike() -> None:
    net, data = module("xor"), datasets.load("xor")
    one_hot = np.eye(2)[data.y_train]
    runs = []
    for Y in (data.y_train, one_hot):
        params = net.init_params(seed=0)
        runs.append((net.fit(params, data.X_train, Y, epochs=2, seed=0), params))
    np.testing.assert_allclose(runs[0][0]["loss"], runs[1][0]["loss"], rtol=1e-6)
    for key in runs[0][1]:
        np.testing.assert_allclose(runs[0][1][key], runs[1][1][key], rtol=1e-5, atol=1e-7)


def test_binary_labels_flat_or_column_train_alike() -> None:
    net, data = module("circles"), datasets.load("circles")
    losses = []
    for Y in (data.y_train, data.y_train.reshape(-1, 1)):
        params = net.init_params(seed=0)
        losses.append(net.fit(params, data.X_train, Y, epochs=1, seed=0)["loss"])
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-6)


def test_the_last_partial_batch_is_trained_on() -> None:
    net, data = module("xor"), datasets.load("xor")
    params = net.init_params(seed=0)
    before = {key: value.copy() for key, value in params.items()}
    net.fit(params, data.X_train[:3], data.y_train[:3], epochs=1, batch_size=4, seed=0)
    assert any(not np.array_equal(params[key], before[key]) for key in before)


def test_early_stopping_on_validation_loss() -> None:
    net, data = module("xor"), datasets.load("xor")
    params = net.init_params(seed=0)
    wrong = (data.X_test, 1 - data.y_test)  # validation loss rises as training succeeds
    history = net.fit(
        params, data.X_train, data.y_train, epochs=50, seed=0, validation=wrong, patience=2
    )
    assert 3 <= len(history["loss"]) < 50


def test_verbose_prints_a_line_per_epoch(capsys: pytest.CaptureFixture[str]) -> None:
    net, data = module("xor"), datasets.load("xor")
    params = net.init_params(seed=0)
    net.fit(params, data.X_train, data.y_train, epochs=3, verbose=True)
    assert len(capsys.readouterr().out.strip().splitlines()) == 3
    net.fit(params, data.X_train, data.y_train, epochs=3)
    assert capsys.readouterr().out == ""


def test_a_non_finite_loss_stops_training_and_keeps_the_last_finite_parameters() -> None:
    """Plain gradient descent on inputs scaled by 1e50: the first step lands on weights near
    1e98, the second batch's loss overflows. fit names the batch and keeps the first step."""
    net, data = module("seed_relu_mse"), datasets.load("relu_sum")
    params = net.init_params(seed=0)
    before = {key: value.copy() for key, value in params.items()}
    X, Y = 1e50 * data.X_train, 1e50 * data.y_train
    # pytest turns warnings into errors: fit itself must turn the overflow into one clear error
    with pytest.raises(FloatingPointError) as caught:
        net.fit(params, X, Y, epochs=2, batch_size=16, seed=0)
    assert "epoch 1, batch 2" in str(caught.value)
    assert all(np.isfinite(value).all() for value in params.values())
    assert any(not np.array_equal(params[key], before[key]) for key in before)


def test_predict_and_predict_proba() -> None:
    net, data = module("spirals"), datasets.load("spirals")
    params = net.init_params(seed=0)
    labels = net.predict(params, data.X_test)
    assert labels.shape == data.y_test.shape and np.issubdtype(labels.dtype, np.integer)
    assert set(np.unique(labels)) <= {0, 1, 2}
    proba = net.predict_proba(params, data.X_test)
    assert proba.shape == (len(data.X_test), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(proba.argmax(axis=1), labels)

    net, data = module("circles"), datasets.load("circles")
    params = net.init_params(seed=0)
    labels = net.predict(params, data.X_test)
    assert labels.shape == data.y_test.shape and set(np.unique(labels)) <= {0, 1}
    proba = net.predict_proba(params, data.X_test)  # scikit-learn's shape: P(0), P(1)
    assert proba.shape == (len(data.X_test), 2)
    np.testing.assert_allclose(proba[:, 1], net.forward(params, data.X_test)[:, 0])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(proba.argmax(axis=1), labels)

    net, data = module("sine"), datasets.load("sine")
    params = net.init_params(seed=0)
    np.testing.assert_array_equal(
        net.predict(params, data.X_test), net.forward(params, data.X_test)
    )


# --- the demo's scikit-learn twin -------------------------------------------------------------


def test_the_sklearn_twin_copies_layers_optimizer_and_schedule() -> None:
    from derive.training import demo

    spec = specs.load(SPECS / "digits.toml")
    params = demo.sklearn_model(spec, datasets.load("digits")).get_params()
    assert params["hidden_layer_sizes"] == (128,) and params["activation"] == "relu"
    assert (params["solver"], params["learning_rate_init"]) == ("adam", 0.002)
    assert (params["batch_size"], params["max_iter"], params["alpha"]) == (64, 30, 0.0)
    assert params["n_iter_no_change"] == 30 and params["random_state"] == 0

    spec = specs.load(SPECS / "blobs.toml")
    params = demo.sklearn_model(spec, datasets.load("blobs")).get_params()
    assert (params["solver"], params["momentum"], params["nesterovs_momentum"]) == (
        "sgd",
        0.9,
        False,
    )

    spec = specs.load(SPECS / "moons_adamw.toml")  # no decoupled decay there: adam without
    params = demo.sklearn_model(spec, datasets.load("moons")).get_params()
    assert (params["solver"], params["beta_1"], params["alpha"]) == ("adam", 0.9, 0.0)

    text = (SPECS / "blobs.toml").read_text(encoding="utf-8")
    spec = specs.parse(
        text.replace("[training]", "nesterov = true\nweight_decay = 0.01\n[training]")
    )
    params = demo.sklearn_model(spec, datasets.load("blobs")).get_params()
    assert params["nesterovs_momentum"] and params["alpha"] == pytest.approx(0.01 * 32)

    spec = specs.load(SPECS / "sine.toml")
    model = demo.sklearn_model(spec, datasets.load("sine"))
    assert type(model).__name__ == "MLPRegressor"
    assert model.get_params()["activation"] == "tanh"


def test_demo_targets_read_as_the_readme_writes_them() -> None:
    from derive.training import demo

    assert [demo._target(name) for name in ("xor", "moons", "sine")] == [
        "100%",
        ">= 97%",
        "mse <= 0.01",
    ]


def test_demo_shows_each_equation_once_with_its_own_wrapped_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from derive.training import demo
    from derive.verify.report import run_verify

    assert run_verify([], "text") == 1
    report = capsys.readouterr().out.rstrip().splitlines()
    blocks: list[list[str]] = []
    for line in report[1:-1]:  # the header and the summary aside
        if line.startswith(" "):
            blocks[-1].append(line)
        else:
            blocks.append([line])
    equations = [line for block in blocks if "." not in block[0].split()[0] for line in block]
    demo.verify_notes()
    printed = capsys.readouterr().out.splitlines()
    shown = [line.removeprefix("   ") for line in printed[1:-1]]
    assert shown == [report[0], *equations]
    # the title counts the rows, so the summary's larger count (every line) is not a surprise
    rows = sum("." not in block[0].split()[0] for block in blocks)
    assert f": {rows} equations and steps, each with the verdict of its worst line" in printed[0]
