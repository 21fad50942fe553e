"""Shared helpers for generator tests: make a module for any spec, and data that fits it."""

from __future__ import annotations

import itertools
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from derive import codegen
from derive import spec as specs

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "generated" / "specs").glob("*.toml"))
_counter = itertools.count()


def spec_toml(**fields: Any) -> str:
    """TOML text for a spec; `optimizer` is a dict, the rest top-level keys."""
    optimizer = fields.pop("optimizer", {"kind": "sgd", "learning_rate": 0.1})
    lines = [f"{key} = {_toml(value)}" for key, value in fields.items()]
    lines.append("[optimizer]")
    lines += [f"{key} = {_toml(value)}" for key, value in optimizer.items()]
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def build(folder: Path, **fields: Any) -> ModuleType:
    """Generate and import the module of a spec given by its fields, in `folder`."""
    fields.setdefault("name", f"net{next(_counter)}")
    spec = specs.parse(spec_toml(**fields), source="<test>")
    (folder / f"{spec.name}.py").write_text(codegen.render_module(spec), encoding="utf-8")
    return codegen.load_module(spec.name, folder)


def batch(net: ModuleType, size: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random inputs and targets that fit `net`'s output kind."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((size, net.N_IN))
    if net.ACTIVATIONS[-1] == "softmax":
        return X, np.eye(net.N_OUT)[rng.integers(0, net.N_OUT, size)]
    if net.LOSS == "binary_cross_entropy":
        return X, rng.integers(0, 2, (size, net.N_OUT)).astype(float)
    return X, rng.standard_normal((size, net.N_OUT))
