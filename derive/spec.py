"""The architecture spec: a TOML file, validated into one frozen `Spec`.

Input: a path (or TOML text). Output: a `Spec`, or a `DeriveError` naming the file, the key,
what was expected and what was found. Nothing from a spec reaches generated code unvalidated:
the name is an identifier, every other string is one of a fixed set, every number is checked.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import keyword
import math
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from derive import activations
from derive.activations import ACTIVATIONS, Activation
from derive.errors import input_error, plain
from derive.inputs import parse_toml, read_bytes
from derive.losses import LOSSES

DTYPES = ("float32", "float64")
MAX_WIDTH = 65536
MAX_DEPTH = 64

# Each optimizer's hyperparameters with their defaults (PyTorch's); learning_rate has none.
OPTIMIZERS: dict[str, dict[str, float | bool | None]] = {
    "sgd": {"learning_rate": None, "weight_decay": 0.0},
    "momentum": {"learning_rate": None, "momentum": 0.9, "weight_decay": 0.0, "nesterov": False},
    "adam": {
        "learning_rate": None,
        "beta1": 0.9,
        "beta2": 0.999,
        "epsilon": 1e-8,
        "weight_decay": 0.0,
    },
    "adamw": {
        "learning_rate": None,
        "beta1": 0.9,
        "beta2": 0.999,
        "epsilon": 1e-8,
        "weight_decay": 0.01,
    },
    "rmsprop": {"learning_rate": None, "alpha": 0.99, "epsilon": 1e-8, "weight_decay": 0.0},
}
# Hyperparameters added in the second edition: left out of a spec's `Optimizer` (so of its
# fingerprint and generated module) when they keep their default, so older specs stay the same.
OPTIONAL_HYPER = ("weight_decay", "nesterov")
FIRST_EDITION = ("sgd", "momentum", "adam")
# A module file named as one of these, in a folder on sys.path (`--out .`, or a script run
# from generated/), would be imported in place of the real one: by the generated module
# itself (its imports, kept equal to this list by a test), by derive, or by anything else.
# threadpoolctl is optional there: imported in a try, where there is no /proc (macOS, Windows).
GENERATED_MODULE_IMPORTS = (
    "ctypes",
    "math",
    "numpy",
    "os",
    "pathlib",
    "stat",
    "tempfile",
    "threadpoolctl",
    "time",
    "zipfile",
)
RESERVED_NAMES = frozenset(
    (*sys.stdlib_module_names, *GENERATED_MODULE_IMPORTS, "derive", "generated")
)
TOP_KEYS = (
    "name",
    "layers",
    "activations",
    "activation",
    "loss",
    "bias",
    "dtype",
    "optimizer",
    "training",
)
REQUIRED = ("name", "layers", "activations", "loss")
TRAINING_KEYS = ("epochs", "batch_size", "seed", "dataset", "patience", "schedule", "clip_norm")
# Learning-rate schedules, stepped once an epoch as PyTorch's StepLR, ExponentialLR and
# CosineAnnealingLR: each one's keys with their defaults (None: required).
SCHEDULES: dict[str, dict[str, float | None]] = {
    "step": {"step_size": None, "gamma": 0.1},
    "exponential": {"gamma": None},
    "cosine": {"t_max": None, "eta_min": 0.0},
}
# What each schedule key may be: (expected, test).
SCHEDULE_KEYS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "step_size": ("an integer from 1 to 1000000", lambda v: _is_int(v) and 1 <= v <= 1_000_000),
    "t_max": ("an integer from 1 to 1000000", lambda v: _is_int(v) and 1 <= v <= 1_000_000),
    "gamma": ("a number in (0, 1]", lambda v: _is_number(v) and 0 < v <= 1),
    "eta_min": ("a number in [0, 1000]", lambda v: _is_number(v) and 0 <= v <= 1e3),
}


@dataclass(frozen=True)
class Optimizer:
    """An optimizer and its hyperparameters (sorted by name)."""

    kind: str
    hyper: tuple[tuple[str, float | bool], ...]

    def __getitem__(self, key: str) -> float:
        return float(dict(self.hyper)[key])

    def get(self, key: str) -> float | bool:
        """A hyperparameter, or its default when the spec leaves it out (OPTIONAL_HYPER)."""
        value = dict(self.hyper).get(key, OPTIMIZERS[self.kind].get(key))
        assert value is not None, f"{self.kind} has no {key}"
        return value

    @property
    def weight_decay(self) -> float:
        """L2 weight decay (PyTorch's weight_decay), 0 when the spec leaves it out."""
        return float(self.get("weight_decay")) if "weight_decay" in OPTIMIZERS[self.kind] else 0.0

    @property
    def adaptive(self) -> bool:
        """Whether the update divides by a running root mean square of the gradient (adam,
        adamw, rmsprop): its gradient is kept plain, without the learning rate folded in."""
        return self.kind in ("adam", "adamw", "rmsprop")

    @property
    def nesterov(self) -> bool:
        """Nesterov momentum (PyTorch's SGD(nesterov=True))."""
        return self.kind == "momentum" and bool(self.get("nesterov"))

    @property
    def learning_rate(self) -> float:
        return self["learning_rate"]


@dataclass(frozen=True)
class Training:
    """Defaults for `fit` and `derive train`; they do not change the generated math."""

    epochs: int = 100
    batch_size: int = 32
    seed: int = 0
    dataset: str | None = None
    patience: int | None = None
    schedule: tuple[tuple[str, Any], ...] | None = None  # ("kind", ...) first, then sorted keys
    clip_norm: float | None = None  # the largest global 2-norm of the gradients


@dataclass(frozen=True)
class Spec:
    """A validated architecture: sizes, activations, loss, bias, dtype, optimizer, training."""

    name: str
    layers: tuple[int, ...]
    activations: tuple[str, ...]
    loss: str
    bias: bool
    dtype: str
    optimizer: Optimizer
    training: Training = field(default_factory=Training)
    # the spec's own activations, (name, expression in x), sorted by name
    user_activations: tuple[tuple[str, str], ...] = ()

    def activation(self, name: str) -> Activation:
        """The record of an activation this spec names: built in, or its own."""
        for own, text in self.user_activations:
            if own == name:
                return activations.user_defined(own, text, f"spec {self.name}: activation.{own}")
        return activations.get(name)

    @property
    def depth(self) -> int:
        """The number of weight layers (the notes' n - 1)."""
        return len(self.layers) - 1

    @property
    def n_in(self) -> int:
        return self.layers[0]

    @property
    def n_out(self) -> int:
        return self.layers[-1]

    @property
    def classifier(self) -> bool:
        """A classification loss, or a softmax output (eq. (16) trains one on the squared error)."""
        return LOSSES[self.loss].classifier or self.activations[-1] == "softmax"

    def canonical(self) -> str:
        """The math of the spec as canonical JSON: everything but the [training] defaults."""
        fields = {key: value for key, value in asdict(self).items() if key != "training"}
        if not self.user_activations:  # absent from older specs' fingerprints: keep them
            del fields["user_activations"]
        return json.dumps(fields, sort_keys=True, separators=(",", ":"))

    @property
    def fingerprint(self) -> str:
        """sha256 of `canonical()`: the architecture and optimizer a saved file belongs to.

        The optimizer counts (momentum state is kept scaled by the learning rate); the
        [training] defaults do not, so changing epochs keeps old saves loadable.
        """
        return hashlib.sha256(self.canonical().encode()).hexdigest()


def load(path: str | Path) -> Spec:
    """Read and validate the spec file at `path` (read as claims files are: inputs.read_bytes)."""
    path = Path(path)
    if not path.exists():
        raise input_error(path, "", "an existing spec file", "no such file")
    return parse(read_bytes(path, "spec file"), source=str(path))


def parse(raw: bytes | str, source: str = "<spec>") -> Spec:
    """Validate spec TOML text (or bytes) into a `Spec`; `source` names it in errors."""
    return _validate(parse_toml(raw, source), source)


def _validate(data: dict[str, Any], src: str) -> Spec:
    _no_unknown_keys(data, TOP_KEYS, src, "")
    for key in REQUIRED:
        if key not in data:
            # a misspelling that is another key of a spec ('activation') is not unknown
            close = difflib.get_close_matches(key, [k for k in data if k not in REQUIRED], n=1)
            hint = f" (is {plain(close[0])!r} a misspelling of it?)" if close else ""
            raise input_error(src, key, f"this required key{hint}", "it missing")

    name = data["name"]
    if not (isinstance(name, str) and name.isascii() and name.isidentifier()):
        raise input_error(src, "name", "a Python identifier (letters, digits, _)", name)
    if keyword.iskeyword(name) or keyword.issoftkeyword(name) or name.startswith("_"):
        raise input_error(
            src, "name", "an identifier that is not a keyword nor starts with _", name
        )
    if len(name) > 64:
        raise input_error(src, "name", "at most 64 characters", name)
    if name in RESERVED_NAMES:
        expected = "a name no imported module uses (numpy, derive, the standard library)"
        raise input_error(src, "name", expected, name)

    layers = data["layers"]
    if not (isinstance(layers, list) and 2 <= len(layers) <= MAX_DEPTH + 1):
        raise input_error(
            src, "layers", f"a list of 2 to {MAX_DEPTH + 1} layer sizes", _shown(layers)
        )
    for i, width in enumerate(layers):
        if not _is_int(width) or not 1 <= width <= MAX_WIDTH:
            raise input_error(
                src, f"layers[{i}]", f"an integer from 1 to {MAX_WIDTH}", _shown(width)
            )

    acts = data["activations"]
    if not (isinstance(acts, list) and len(acts) == len(layers) - 1):
        expected = f"a list of {len(layers) - 1} activations, one per weight layer"
        raise input_error(src, "activations", expected, _shown(acts))
    own = _user_activations(data.get("activation", {}), src)
    for i, act in enumerate(acts):
        _one_of(act, (*ACTIVATIONS, *own), src, f"activations[{i}]")
        if act == "softmax" and i != len(acts) - 1:
            raise input_error(src, f"activations[{i}]", "softmax on the output layer only", act)
    _output_activation(acts[-1], own, src, f"activations[{len(acts) - 1}]")
    if acts[-1] == "softmax" and layers[-1] < 2:
        raise input_error(src, "layers[-1]", "at least 2 outputs for a softmax", layers[-1])

    loss = _one_of(data["loss"], tuple(LOSSES), src, "loss")
    needed = LOSSES[loss].output_activation
    if needed is not None and acts[-1] != needed:
        raise input_error(
            src, "activations[-1]", f"{needed!r}, the output that {loss} pairs with", acts[-1]
        )

    bias = data.get("bias", True)
    if not isinstance(bias, bool):
        raise input_error(src, "bias", "true or false", _shown(bias))
    dtype = _one_of(data.get("dtype", "float64"), DTYPES, src, "dtype")

    return Spec(
        name=name,
        layers=tuple(layers),
        activations=tuple(acts),
        loss=loss,
        bias=bias,
        dtype=dtype,
        optimizer=_optimizer(data.get("optimizer", {"kind": "sgd", "learning_rate": 0.1}), src),
        training=_training(data.get("training", {}), src),
        user_activations=tuple(sorted((name, act.source) for name, act in own.items())),
    )


def _output_activation(name: str, own: dict[str, Activation], src: str, key: str) -> None:
    """Refuse on the output layer an activation whose derivative generated code cannot take
    from the output alone: a spec's own, ELU, GELU, SiLU (their f' needs z, kept for hidden
    layers only; the output rules of backprop read f' in the layer's output)."""
    if name in own:
        found = f"{name!r}, this spec's own [activation.{name}] (use it on hidden layers)"
    elif ACTIVATIONS[name].elementwise and not ACTIVATIONS[name].slope_in_output:
        found = f"{name!r} (its derivative needs z: use it on hidden layers)"
    else:
        return
    allowed = [act for act, record in ACTIVATIONS.items() if record.slope_in_output]
    raise input_error(src, key, f"an output activation ({', '.join(allowed)})", found)


def _user_activations(table: Any, src: str) -> dict[str, Activation]:
    """The spec's [activation.NAME] tables, each `expression = "..."` in x, as records."""
    if not isinstance(table, dict):
        expected = "tables [activation.NAME] (did you mean 'activations'?)"
        raise input_error(src, "activation", expected, _shown(table))
    own = {}
    for name, entry in table.items():
        key = f"activation.{name}"
        if not (name.isascii() and name.isidentifier() and not name.startswith("_")):
            raise input_error(src, key, "an activation name: letters, digits, _", name)
        if name in ACTIVATIONS:
            raise input_error(src, key, "a name no built-in activation has", name)
        if not isinstance(entry, dict):
            raise input_error(src, key, 'a table with expression = "..."', _shown(entry))
        _no_unknown_keys(entry, ("expression",), src, f"{key}.")
        if "expression" not in entry:
            raise input_error(src, f"{key}.expression", "this required key", "it missing")
        where = f"{plain(src)}: {key}.expression"
        own[name] = activations.user_defined(name, entry["expression"], where)
    return own


def _optimizer(table: Any, src: str) -> Optimizer:
    if not isinstance(table, dict):
        raise input_error(src, "optimizer", "a table ([optimizer])", _shown(table))
    kind = _one_of(table.get("kind", "sgd"), tuple(OPTIMIZERS), src, "optimizer.kind")
    defaults = OPTIMIZERS[kind]
    _no_unknown_keys(table, ("kind", *defaults), src, "optimizer.")
    hyper: dict[str, float | bool] = {}
    for key, default in defaults.items():
        value = table.get(key, default)
        where = f"optimizer.{key}"
        if key == "nesterov":
            if not isinstance(value, bool):
                raise input_error(src, where, "true or false", _shown(value))
            if value and hyper["momentum"] == 0:  # as torch.optim.SGD
                raise input_error(src, where, "false when momentum is 0", value)
            if value:
                hyper[key] = True
            continue
        if value is None:
            raise input_error(src, where, f"a number (required for {kind})", "it missing")
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or (isinstance(value, float) and not math.isfinite(value))
        ):
            raise input_error(src, where, "a finite number", _shown(value))
        # epsilon stays nonzero in float32 (where 1e-50 is 0 and 0 / 0 makes NaN)
        low_ok = {"learning_rate": value > 0, "epsilon": value >= 1e-30}.get(key, value >= 0)
        high_ok = value < 1 if key in ("momentum", "beta1", "beta2", "alpha") else value <= 1e3
        if not (low_ok and high_ok):
            expected = {
                "learning_rate": "a number in (0, 1000]",
                "epsilon": "a number in [1e-30, 1000]",
                "weight_decay": "a number in [0, 1000]",
            }
            raise input_error(src, where, expected.get(key, "a number in [0, 1)"), value)
        if kind not in FIRST_EDITION or key not in OPTIONAL_HYPER or value != default:
            hyper[key] = float(value)
    return Optimizer(kind, tuple(sorted(hyper.items())))


def _training(table: Any, src: str) -> Training:
    if not isinstance(table, dict):
        raise input_error(src, "training", "a table ([training])", _shown(table))
    _no_unknown_keys(table, TRAINING_KEYS, src, "training.")
    limits = {
        "epochs": (1, 1_000_000),
        "batch_size": (1, 1 << 24),
        "seed": (0, 2**32 - 1),
        "patience": (1, 1_000_000),
    }
    values: dict[str, Any] = {}
    for key, (low, high) in limits.items():
        if key in table:
            value = table[key]
            if not _is_int(value) or not low <= value <= high:
                raise input_error(
                    src, f"training.{key}", f"an integer from {low} to {high}", _shown(value)
                )
            values[key] = value
    if "dataset" in table:
        dataset = table["dataset"]
        if not (isinstance(dataset, str) and dataset.isascii() and dataset.isidentifier()):
            raise input_error(src, "training.dataset", "a data set name", _shown(dataset))
        values["dataset"] = dataset
    if "schedule" in table:
        values["schedule"] = _schedule(table["schedule"], src)
    if "clip_norm" in table:
        clip = table["clip_norm"]
        if not _is_number(clip) or not 0 < clip <= 1e6:
            raise input_error(src, "training.clip_norm", "a number in (0, 1000000]", _shown(clip))
        values["clip_norm"] = float(clip)
    return Training(**values)


def _schedule(table: Any, src: str) -> tuple[tuple[str, Any], ...]:
    """A [training.schedule] table as ("kind", kind) then its keys, defaults filled in."""
    if not isinstance(table, dict):
        raise input_error(src, "training.schedule", "a table with a kind", _shown(table))
    kind = _one_of(table.get("kind"), tuple(SCHEDULES), src, "training.schedule.kind")
    _no_unknown_keys(table, ("kind", *SCHEDULES[kind]), src, "training.schedule.")
    values: list[tuple[str, Any]] = [("kind", kind)]
    for key, default in sorted(SCHEDULES[kind].items()):
        value = table.get(key, default)
        expected, valid = SCHEDULE_KEYS[key]
        if value is None:
            raise input_error(src, f"training.schedule.{key}", expected, "it missing")
        if not valid(value):
            raise input_error(src, f"training.schedule.{key}", expected, _shown(value))
        values.append(
            (key, value if _is_int(value) and key in ("step_size", "t_max") else float(value))
        )
    return tuple(values)


def _shown(value: Any) -> Any:
    """A value as `found` shows it: a string quoted, a boolean as TOML writes it, so that
    `learning_rate = "0.05"` reads found '0.05' (a string), not found 0.05."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else value


def _is_number(value: Any) -> bool:
    """A finite int or float, not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _one_of(value: Any, choices: tuple[str, ...], src: str, key: str) -> str:
    if isinstance(value, str) and value in choices:
        return value
    expected = "one of " + ", ".join(repr(c) for c in choices)
    if isinstance(value, str):
        close = difflib.get_close_matches(value, choices, n=1)
        if close:
            expected += f" (did you mean {close[0]!r}?)"
    raise input_error(src, key, expected, _shown(value))


def _no_unknown_keys(table: dict[str, Any], known: tuple[str, ...], src: str, prefix: str) -> None:
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {prefix + close[0]!r}?)" if close else ""
            raise input_error(
                src,
                f"{prefix}{key}",
                f"one of the keys {', '.join(known)}{hint}",
                "an unknown key",
            )
