"""Learning-rate schedules and gradient clipping in a generated module's `fit`, step for step
against PyTorch: torch.optim (SGD, SGD with momentum, Adam), torch.optim.lr_scheduler
(StepLR, ExponentialLR, CosineAnnealingLR, stepped once an epoch) and
torch.nn.utils.clip_grad_norm_. Both train the same float64 network on the same batches in
the same order; the parameters must agree after every epoch."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from generator_support import build

from derive import codegen
from derive import spec as specs

torch = pytest.importorskip("torch")

OPTIMIZERS = {
    "sgd": {"kind": "sgd", "learning_rate": 0.2},
    "momentum": {"kind": "momentum", "learning_rate": 0.1, "momentum": 0.9},
    "adam": {"kind": "adam", "learning_rate": 0.05},
}
SCHEDULES: dict[str, Any] = {
    "step": {"kind": "step", "step_size": 2, "gamma": 0.5},
    "exponential": {"kind": "exponential", "gamma": 0.8},
    "cosine": {"kind": "cosine", "t_max": 5, "eta_min": 0.001},
    "none": None,
}
EPOCHS, BATCH, SEED = 7, 8, 3


def _torch_scheduler(optimizer: Any, schedule: dict[str, Any] | None) -> Any:
    lr = torch.optim.lr_scheduler
    if schedule is None:
        return None
    if schedule["kind"] == "step":
        return lr.StepLR(optimizer, step_size=schedule["step_size"], gamma=schedule["gamma"])
    if schedule["kind"] == "exponential":
        return lr.ExponentialLR(optimizer, gamma=schedule["gamma"])
    return lr.CosineAnnealingLR(optimizer, T_max=schedule["t_max"], eta_min=schedule["eta_min"])


def _torch_optimizer(net: ModuleType, tensors: list[Any]) -> Any:
    hyper = net.HYPERPARAMETERS
    if net.OPTIMIZER == "sgd":
        return torch.optim.SGD(tensors, lr=hyper["learning_rate"])
    if net.OPTIMIZER == "momentum":
        return torch.optim.SGD(tensors, lr=hyper["learning_rate"], momentum=hyper["momentum"])
    betas = (hyper["beta1"], hyper["beta2"])
    return torch.optim.Adam(tensors, lr=hyper["learning_rate"], betas=betas, eps=hyper["epsilon"])


def _torch_run(
    net: ModuleType,
    start: dict[str, np.ndarray],
    X: np.ndarray,
    labels: np.ndarray,
    schedule: dict[str, Any] | None,
    clip_norm: float | None,
) -> list[dict[str, np.ndarray]]:
    """The same training in PyTorch: the parameters after each epoch, and the rates used."""
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in start.items()}  # float64
    optimizer = _torch_optimizer(net, list(tensors.values()))
    scheduler = _torch_scheduler(optimizer, schedule)
    epochs = []
    for epoch in range(EPOCHS):
        order = np.random.default_rng([SEED, epoch]).permutation(len(X))
        for first in range(0, len(X), BATCH):
            rows = order[first : first + BATCH]
            a = torch.tensor(X[rows])
            z = a @ tensors["W1"].T + tensors["b1"]
            z = torch.tanh(z) @ tensors["W2"].T + tensors["b2"]
            loss = torch.nn.functional.cross_entropy(z, torch.tensor(labels[rows]))
            optimizer.zero_grad()
            loss.backward()
            if clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(list(tensors.values()), clip_norm)
            optimizer.step()
        epochs.append(
            {k: t.detach().numpy().copy() for k, t in tensors.items()}
            | {"rate": optimizer.param_groups[0]["lr"]}
        )
        if scheduler is not None:
            scheduler.step()
    return epochs


@pytest.fixture(scope="module")
def nets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModuleType]:
    folder = tmp_path_factory.mktemp("nets")
    fields = {"layers": [3, 5, 3], "activations": ["tanh", "softmax"], "loss": "cross_entropy"}
    return {kind: build(folder, **fields, optimizer=opt) for kind, opt in OPTIMIZERS.items()}


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((36, 3)) * 2  # 36 = 4 full batches and a partial one
    return X, (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 1)


@pytest.mark.parametrize("clip_norm", [None, 0.5])
@pytest.mark.parametrize("schedule", list(SCHEDULES))
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_fit_matches_torch_schedulers_and_clipping_epoch_for_epoch(
    nets: dict[str, ModuleType], optimizer: str, schedule: str, clip_norm: float | None
) -> None:
    net = nets[optimizer]
    X, labels = _data()
    params = net.init_params(1)
    expected = _torch_run(net, params, X, labels, SCHEDULES[schedule], clip_norm)
    state = net.init_optimizer(params)
    for epoch in range(EPOCHS):  # one epoch a call: the schedule follows state["epoch"]
        history = net.fit(
            params, X, labels, epochs=1, batch_size=BATCH, seed=SEED, state=state,
            schedule=SCHEDULES[schedule], clip_norm=clip_norm,
        )  # fmt: skip
        assert history["learning_rate"] == [pytest.approx(expected[epoch]["rate"], rel=1e-12)]
        for key, value in params.items():
            np.testing.assert_allclose(value, expected[epoch][key], rtol=1e-9, atol=1e-12)


def test_clipping_changes_the_run_only_when_the_norm_is_above_the_bound(
    nets: dict[str, ModuleType],
) -> None:
    net = nets["sgd"]
    X, labels = _data()
    runs = {}
    for clip in (None, 1e6, 1e-3):
        params = net.init_params(1)
        net.fit(params, X, labels, epochs=2, batch_size=BATCH, clip_norm=clip)
        runs[clip] = params
    for key in runs[None]:
        np.testing.assert_allclose(runs[1e6][key], runs[None][key], rtol=1e-12)
    assert not np.allclose(runs[1e-3]["W1"], runs[None]["W1"])


def test_the_readable_step_equals_train_step_without_schedule_or_clipping(
    nets: dict[str, ModuleType],
) -> None:
    X, labels = _data()
    for net in nets.values():
        fast, slow = net.init_params(1), net.init_params(1)
        net.fit(fast, X, labels, epochs=3, batch_size=BATCH)
        constant = {"kind": "exponential", "gamma": 1.0}  # the same rate, the readable path
        net.fit(slow, X, labels, epochs=3, batch_size=BATCH, schedule=constant)
        for key in fast:
            np.testing.assert_allclose(slow[key], fast[key], rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize(
    ("argument", "value", "message"),
    [
        ("schedule", "cosine", "schedule: expected None or a dict of a kind"),
        ("schedule", {"kind": "linear"}, "schedule: expected None or a dict of a kind"),
        ("schedule", {"kind": "step", "gamma": 0.5}, "schedule['step_size']: expected a positive"),
        ("schedule", {"kind": "exponential", "gamma": 0}, "schedule['gamma']: expected a number"),
        ("schedule", {"kind": "cosine", "t_max": 2.5}, "schedule['t_max']: expected a positive"),
        ("clip_norm", 0, "clip_norm: expected None or a positive number, found 0"),
        ("clip_norm", float("nan"), "clip_norm: expected None or a positive number, found nan"),
    ],
)  # fmt: skip
def test_bad_schedules_and_clip_norms_name_the_argument(
    nets: dict[str, ModuleType], argument: str, value: Any, message: str
) -> None:
    X, labels = _data()
    with pytest.raises(ValueError) as caught:
        nets["adam"].fit(nets["adam"].init_params(0), X, labels, epochs=1, **{argument: value})
    assert str(caught.value).startswith(message)


def test_spec_training_keys_become_the_fit_defaults(tmp_path: Path) -> None:
    net = build(
        tmp_path, layers=[3, 5, 3], activations=["tanh", "softmax"], loss="cross_entropy",
        optimizer=OPTIMIZERS["momentum"],
    )  # fmt: skip
    source = (tmp_path / f"{net.NAME}.py").read_text()
    assert "SCHEDULE = None" in source and "CLIP_NORM = None" in source
    spec = specs.parse(
        'name = "s"\nlayers = [3, 5, 3]\nactivations = ["tanh", "softmax"]\n'
        'loss = "cross_entropy"\n[training]\nclip_norm = 0.5\n'
        'schedule = { kind = "cosine", t_max = 5, eta_min = 0.001 }\n'
    )
    assert spec.training.schedule == (("kind", "cosine"), ("eta_min", 0.001), ("t_max", 5))
    assert spec.training.clip_norm == 0.5
    scheduled = codegen.build_module(spec)
    assert scheduled.SCHEDULE == {"kind": "cosine", "eta_min": 0.001, "t_max": 5}
    assert scheduled.CLIP_NORM == 0.5
    X, labels = _data()
    params = scheduled.init_params(1)
    history = scheduled.fit(params, X, labels, epochs=3, batch_size=BATCH)
    assert history["learning_rate"] == [scheduled.learning_rate(e) for e in range(3)]
    assert history["learning_rate"][0] == 0.1 and history["learning_rate"][2] < 0.1


def test_momentum_survives_an_epoch_at_rate_zero(nets: dict[str, ModuleType]) -> None:
    net = nets["momentum"]
    X, labels = _data()
    params = net.init_params(1)
    to_zero = {"kind": "cosine", "t_max": 2, "eta_min": 0.0}  # epoch 2 at rate 0, then up
    history = net.fit(params, X, labels, epochs=4, batch_size=BATCH, schedule=to_zero)
    assert history["learning_rate"][2] == 0.0 and history["learning_rate"][3] > 0
    assert all(np.isfinite(value).all() for value in params.values())
