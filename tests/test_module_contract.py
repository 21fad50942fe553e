"""Contract details of generated modules: state, labels, params, targets, fingerprints."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
from generator_support import batch, build, spec_toml

from derive import spec as specs
from derive.codegen.fast import Numbers

BASE = {"layers": [3, 4, 2], "activations": ["tanh", "softmax"], "loss": "cross_entropy"}


def test_a_refused_adam_step_changes_no_state(tmp_path: Path) -> None:
    net = build(tmp_path, **BASE, optimizer={"kind": "adam", "learning_rate": 0.01})
    X, Y = batch(net)
    params = net.init_params(0)
    state = net.init_optimizer(params)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="X"):
        net.train_step(params, bad, Y, state)
    assert state["step"] == 0
    net.train_step(params, X, Y, state)
    assert state["step"] == 1


def test_early_stopping_survives_a_validation_loss_that_never_improves(tmp_path: Path) -> None:
    net = build(tmp_path, **{**BASE, "activations": ["identity", "softmax"]}, dtype="float32")
    X, Y = batch(net, size=16)
    params = net.init_params(0)
    start = copy.deepcopy(params)
    huge = np.full_like(X, 3e38)  # overflows float32: a validation loss of NaN every epoch
    with np.errstate(over="ignore", invalid="ignore"):
        history = net.fit(params, X, Y, epochs=5, validation=(huge, Y), patience=2)
    assert len(history["loss"]) == 2  # stopped after `patience` epochs without improvement
    for key in params:  # and went back to the best state seen: the start
        np.testing.assert_array_equal(params[key], start[key])


def test_early_stopping_restores_the_optimizer_state_with_the_parameters(tmp_path: Path) -> None:
    net = build(tmp_path, **BASE, optimizer={"kind": "adam", "learning_rate": 0.5})
    X, Y = batch(net, size=16)
    Xv, Yv = batch(net, size=16, seed=1)
    params = net.init_params(0)
    state = net.init_optimizer(params)
    history = net.fit(params, X, Y, epochs=40, validation=(Xv, Yv), patience=1, state=state)
    best = int(np.argmin(history["val_loss"]))
    assert len(history["val_loss"]) == best + 2  # one epoch past the best
    assert state["step"] == (best + 1) * 1  # one batch per epoch, back at the best epoch


def test_patience_without_validation_is_an_error(tmp_path: Path) -> None:
    net = build(tmp_path, **BASE)
    X, Y = batch(net)
    with pytest.raises(ValueError, match="patience"):
        net.fit(net.init_params(0), X, Y, epochs=1, patience=3)


def test_boolean_labels_are_refused_not_read_as_a_mask(tmp_path: Path) -> None:
    net = build(tmp_path, **BASE)
    X, _ = batch(net, size=2)
    with pytest.raises(ValueError, match="integer class labels"):
        net.loss_and_grads(net.init_params(0), X, np.array([True, False]))


def test_integer_parameters_are_refused_before_anything_changes(tmp_path: Path) -> None:
    net = build(tmp_path, **BASE)
    X, Y = batch(net)
    params = net.init_params(0)
    params["W1"] = params["W1"].astype(np.int64)
    with pytest.raises(ValueError, match="floating-point"):
        net.fit(params, X, Y, epochs=1)


def test_soft_targets_near_one_are_normalised_so_both_paths_agree(tmp_path: Path) -> None:
    net = build(tmp_path, **BASE, dtype="float64")
    X, Y = batch(net)
    soft = Y * 0.9 + 0.1 / net.N_OUT
    soft[:, 0] += 0.0009  # rows sum to 1.0009: accepted, then made exact
    params = net.init_params(0)
    loss, _ = net.loss_and_grads(params, X, soft)
    state = net.init_optimizer(params)
    fast = net.train_step(copy.deepcopy(params), X, soft.tolist(), state)  # checked path
    assert fast == pytest.approx(loss, rel=1e-12)
    assert net.check_gradients(params, X, soft) < 1e-6


def test_the_fingerprint_ignores_training_defaults_but_not_the_optimizer() -> None:
    base = spec_toml(name="t", layers=[2, 1], activations=["identity"], loss="mse")
    longer = base + "[training]\nepochs = 7\n"
    faster = base.replace("learning_rate = 0.1", "learning_rate = 0.2")
    fingerprint = specs.parse(base).fingerprint
    assert specs.parse(longer).fingerprint == fingerprint
    assert specs.parse(faster).fingerprint != fingerprint


def test_constants_of_opposite_sign_get_different_names() -> None:
    import sympy as sp

    numbers = Numbers()
    assert numbers(sp.Integer(2)) != numbers(sp.Integer(-2))
    assert numbers(sp.Integer(-2)) == "K_NEG_2"
