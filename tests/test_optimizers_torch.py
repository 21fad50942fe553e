"""Weight decay, Nesterov momentum, AdamW and RMSprop, step for step against torch.optim.

Oracles: torch.optim.SGD(weight_decay, nesterov), torch.optim.Adam(weight_decay),
torch.optim.AdamW and torch.optim.RMSprop(weight_decay), in float64, with default parameter
groups (every weight and bias decayed), on a 3-5-4-3 network whose hidden
layers' [W | b] blocks carry the [0 ... 0 1] row that must never decay; the fast path
(train_step) and the readable path (fit's step under a schedule or clipping) both.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from generator_support import build

from derive import codegen
from derive import spec as specs
from derive.errors import DeriveError

torch = pytest.importorskip("torch")

OPTIMIZERS: dict[str, dict[str, Any]] = {
    "sgd_wd": {"kind": "sgd", "learning_rate": 0.2, "weight_decay": 0.05},
    "momentum_wd": {"kind": "momentum", "learning_rate": 0.1, "weight_decay": 0.03},
    "nesterov": {"kind": "momentum", "learning_rate": 0.1, "momentum": 0.8, "nesterov": True},
    "nesterov_wd": {
        "kind": "momentum",
        "learning_rate": 0.1,
        "nesterov": True,
        "weight_decay": 0.02,
    },
    "adam_wd": {"kind": "adam", "learning_rate": 0.05, "weight_decay": 0.1},
    "adamw": {"kind": "adamw", "learning_rate": 0.05},  # weight_decay 0.01, PyTorch's default
    "adamw_wd": {"kind": "adamw", "learning_rate": 0.05, "weight_decay": 0.3, "beta1": 0.8},
    "rmsprop": {"kind": "rmsprop", "learning_rate": 0.01},
    "rmsprop_wd": {"kind": "rmsprop", "learning_rate": 0.01, "alpha": 0.9, "weight_decay": 0.05},
}
FIELDS: dict[str, Any] = {
    "layers": [3, 5, 4, 3],
    "activations": ["tanh", "tanh", "softmax"],
    "loss": "cross_entropy",
}
STEPS, BATCH = 12, 8


@pytest.fixture(scope="module")
def nets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModuleType]:
    folder = tmp_path_factory.mktemp("opt")
    return {name: build(folder, **FIELDS, optimizer=opt) for name, opt in OPTIMIZERS.items()}


def _torch_optimizer(net: ModuleType, tensors: list[Any]) -> Any:
    hyper = net.HYPERPARAMETERS
    lr, decay = hyper["learning_rate"], hyper.get("weight_decay", 0.0)
    if net.OPTIMIZER == "sgd":
        return torch.optim.SGD(tensors, lr=lr, weight_decay=decay)
    if net.OPTIMIZER == "momentum":
        nesterov = hyper.get("nesterov", False)
        return torch.optim.SGD(
            tensors, lr=lr, momentum=hyper["momentum"], weight_decay=decay, nesterov=nesterov
        )
    if net.OPTIMIZER == "rmsprop":
        return torch.optim.RMSprop(
            tensors, lr=lr, alpha=hyper["alpha"], eps=hyper["epsilon"], weight_decay=decay
        )
    betas = (hyper["beta1"], hyper["beta2"])
    adam = torch.optim.AdamW if net.OPTIMIZER == "adamw" else torch.optim.Adam
    return adam(tensors, lr=lr, betas=betas, eps=hyper["epsilon"], weight_decay=decay)


def _torch_loss(tensors: dict[str, Any], X: np.ndarray, labels: np.ndarray) -> Any:
    a = torch.tensor(X)
    for layer in (1, 2, 3):
        z = a @ tensors[f"W{layer}"].T + tensors[f"b{layer}"]
        a = torch.tanh(z) if layer < 3 else z
    return torch.nn.functional.cross_entropy(a, torch.tensor(labels))


def _twins(net: ModuleType, seed: int) -> tuple[dict[str, np.ndarray], dict, dict[str, Any], Any]:
    """Fresh params and optimizer state of `net`, float64 tensors copied from the params and
    the matching torch.optim optimizer."""
    params = net.init_params(seed)
    tensors = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    return params, net.init_optimizer(params), tensors, _torch_optimizer(net, [*tensors.values()])


def _torch_step(tensors: dict[str, Any], optimizer: Any, X: np.ndarray, labels: np.ndarray) -> Any:
    loss = _torch_loss(tensors, X, labels)
    optimizer.zero_grad()
    loss.backward()
    return loss


def _assert_same(params: dict[str, np.ndarray], tensors: dict[str, Any]) -> None:
    for key, value in params.items():
        expected = tensors[key].detach().numpy()
        np.testing.assert_allclose(value, expected, rtol=1e-9, atol=1e-12, err_msg=key)


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((STEPS * BATCH, 3)) * 2
    return X, (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 1)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_train_step_matches_torch_optim_step_for_step(
    nets: dict[str, ModuleType], name: str
) -> None:
    net, (X, labels) = nets[name], _data()
    params, state, tensors, optimizer = _twins(net, 1)
    targets = np.eye(3)[labels]
    for step in range(STEPS):
        rows = slice(step * BATCH, (step + 1) * BATCH)
        loss = net.train_step(params, X[rows], targets[rows], state)
        torch_loss = _torch_step(tensors, optimizer, X[rows], labels[rows])
        optimizer.step()
        assert loss == pytest.approx(float(torch_loss.detach()), rel=1e-10)
        _assert_same(params, tensors)
    for layer, shape in enumerate(net.BLOCK_SHAPES, start=1):  # the unit rows never decayed
        rows = net.LAYERS[layer]
        block = params[f"W{layer}"].base
        unit = np.zeros((shape[0] - rows, shape[1]))
        unit[:, -1] = 1
        np.testing.assert_array_equal(block[rows:], unit)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_fit_readable_step_matches_torch_with_a_schedule(
    nets: dict[str, ModuleType], name: str
) -> None:
    net, (X, labels) = nets[name], _data()
    params, state, tensors, optimizer = _twins(net, 2)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.7)
    schedule = {"kind": "exponential", "gamma": 0.7}
    for epoch in range(3):
        net.fit(
            params, X, labels, epochs=1, batch_size=BATCH, seed=5, state=state,
            schedule=schedule, clip_norm=0.5,
        )  # fmt: skip
        order = np.random.default_rng([5, epoch]).permutation(len(X))
        for first in range(0, len(X), BATCH):
            rows = order[first : first + BATCH]
            _torch_step(tensors, optimizer, X[rows], labels[rows])
            torch.nn.utils.clip_grad_norm_(list(tensors.values()), 0.5)
            optimizer.step()
        scheduler.step()
        _assert_same(params, tensors)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_readable_step_equals_fast_path(nets: dict[str, ModuleType], name: str) -> None:
    net = nets[name]
    X, labels = _data()
    fast, readable = net.init_params(3), net.init_params(3)
    net.fit(fast, X, labels, epochs=2, batch_size=BATCH)
    net.fit(readable, X, labels, epochs=2, batch_size=BATCH, clip_norm=1e12)  # readable, no clip
    for key, value in fast.items():
        np.testing.assert_allclose(value, readable[key], rtol=1e-11, atol=1e-13, err_msg=key)


@pytest.mark.parametrize("name", ["nesterov_wd", "adamw_wd", "rmsprop_wd"])
def test_save_and_load_resume_the_run_bit_for_bit(
    nets: dict[str, ModuleType], tmp_path: Path, name: str
) -> None:
    net = nets[name]
    X, labels = _data()
    params = net.init_params(4)
    state = net.init_optimizer(params)
    net.fit(params, X, labels, epochs=1, batch_size=BATCH, state=state)
    net.save(tmp_path / "run.npz", params, state)
    loaded, loaded_state = net.load(tmp_path / "run.npz")
    net.fit(params, X, labels, epochs=1, batch_size=BATCH, state=state)
    net.fit(loaded, X, labels, epochs=1, batch_size=BATCH, state=loaded_state)
    for key, value in params.items():
        np.testing.assert_array_equal(loaded[key], value)
    assert sorted(k for k in loaded_state if not k.startswith("_")) == sorted(
        k for k in state if not k.startswith("_")
    )


def test_weight_decay_changes_the_run(nets: dict[str, ModuleType], tmp_path: Path) -> None:
    net = nets["nesterov_wd"]
    X, labels = _data()
    params = net.init_params(4)
    state = net.init_optimizer(params)
    net.fit(params, X, labels, epochs=2, batch_size=BATCH, state=state)
    plain = build(tmp_path, **FIELDS, optimizer={"kind": "momentum", "learning_rate": 0.1})
    other = plain.init_params(4)
    plain.fit(other, X, labels, epochs=2, batch_size=BATCH)
    assert not np.allclose(other["W1"], params["W1"])


def test_defaults_leave_the_spec_and_module_as_they_were() -> None:
    base = 'name = "n"\nlayers = [2, 3, 1]\nactivations = ["tanh", "identity"]\nloss = "mse"\n'
    plain = specs.parse(base + '[optimizer]\nkind = "momentum"\nlearning_rate = 0.1\n')
    spelled = specs.parse(
        base + '[optimizer]\nkind = "momentum"\nlearning_rate = 0.1\n'
        "weight_decay = 0.0\nnesterov = false\n"
    )
    assert spelled.canonical() == plain.canonical()
    assert codegen.render_module(spelled) == codegen.render_module(plain)


@pytest.mark.parametrize(
    ("table", "found"),
    [
        ('kind = "sgd"\nlearning_rate = 0.1\nweight_decay = -1', "optimizer.weight_decay"),
        ('kind = "adam"\nlearning_rate = 0.1\nweight_decay = "x"', "optimizer.weight_decay"),
        ('kind = "momentum"\nlearning_rate = 0.1\nnesterov = 1', "optimizer.nesterov"),
        ('kind = "momentum"\nlearning_rate = 0.1\nmomentum = 0\nnesterov = true', "momentum is 0"),
        ('kind = "sgd"\nlearning_rate = 0.1\nnesterov = true', "optimizer.nesterov"),
    ],
)
def test_bad_weight_decay_or_nesterov_is_one_clear_message(table: str, found: str) -> None:
    base = 'name = "n"\nlayers = [2, 3, 1]\nactivations = ["tanh", "identity"]\nloss = "mse"\n'
    with pytest.raises(DeriveError, match=found):
        specs.parse(base + "[optimizer]\n" + table + "\n", source="s.toml")
