"""The layout of a generated module: this architecture's math first, then the runtime every
module shares, in one marked section that is byte-identical in every module."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from generator_support import ROOT, spec_toml

from derive import codegen
from derive import spec as specs
from derive.codegen.render import environment as jinja_environment

START = "# ---- derive runtime: identical in every generated module ----"
END = "# ---- end of derive runtime ----"
MODULES = sorted(p for p in (ROOT / "generated").glob("*.py") if p.name != "__init__.py")
# The math a reader meets first, in this order, all above the runtime.
MATH = ["init_params", "init_optimizer", "_forward", "_loss", "_loss_and_grads", "_update"]
# Fresh specs beyond the committed ones: every optimizer and its options, every loss, the
# output kinds, no bias, one layer, a user-defined activation.
FRESH: dict[str, dict[str, Any]] = {
    "sgd_identity_mse_no_bias": {
        "layers": [3, 4, 2],
        "activations": ["tanh", "identity"],
        "loss": "mse",
        "bias": False,
    },
    "momentum_nesterov_sigmoid_bce": {
        "layers": [2, 5, 1],
        "activations": ["elu", "sigmoid"],
        "loss": "binary_cross_entropy",
        "optimizer": {"kind": "momentum", "learning_rate": 0.1, "nesterov": True},
    },
    "momentum_decay_softmax_mse": {
        "layers": [4, 6, 3],
        "activations": ["gelu", "softmax"],
        "loss": "mse",
        "optimizer": {"kind": "momentum", "learning_rate": 0.1, "weight_decay": 0.01},
    },
    "rmsprop_huber_one_layer": {
        "layers": [3, 2],
        "activations": ["identity"],
        "loss": "huber",
        "dtype": "float32",
        "optimizer": {"kind": "rmsprop", "learning_rate": 0.01, "weight_decay": 0.01},
    },
    "adam_decay_softmax_ce": {
        "layers": [2, 8, 8, 3],
        "activations": ["silu", "softplus", "softmax"],
        "loss": "cross_entropy",
        "optimizer": {"kind": "adam", "learning_rate": 0.01, "weight_decay": 0.1},
    },
    "adamw_sigmoid_mse": {
        "layers": [2, 3, 2],
        "activations": ["leaky_relu", "sigmoid"],
        "loss": "mse",
        "optimizer": {"kind": "adamw", "learning_rate": 0.01, "weight_decay": 0.1},
    },
}


def runtime(text: str, where: str) -> str:
    """The runtime section of a module's text, from its start marker to its end marker, after
    asserting each marker is there once, on a line of its own, and the section ends the file."""
    lines = text.splitlines(keepends=True)
    for marker in (START, END):
        assert text.count(marker) == 1, f"{where}: {marker!r} {text.count(marker)} times"
        assert f"{marker}\n" in lines, f"{where}: {marker!r} is not a line of its own"
    start, end = lines.index(f"{START}\n"), lines.index(f"{END}\n")
    assert start < end, f"{where}: the runtime ends before it starts"
    assert end == len(lines) - 1, f"{where}: code after the runtime's end marker"
    return "".join(lines[start : end + 1])


def first_difference(left: str, right: str) -> str:
    """The first line where two sections differ, for a readable failure."""
    pairs = zip(left.splitlines(), right.splitlines(), strict=False)
    for number, (a, b) in enumerate(pairs, 1):
        if a != b:
            return f"line {number} of the section: {a!r} != {b!r}"
    return f"lengths differ: {len(left.splitlines())} != {len(right.splitlines())} lines"


@pytest.fixture(scope="module")
def committed() -> str:
    """The runtime of the first committed module, the one every other must equal."""
    return runtime(MODULES[0].read_text(encoding="utf-8"), MODULES[0].name)


def test_the_runtime_is_byte_identical_in_every_committed_module(committed: str) -> None:
    assert len(MODULES) >= 2
    for path in MODULES[1:]:
        section = runtime(path.read_text(encoding="utf-8"), path.name)
        assert section == committed, f"{path.name}: {first_difference(section, committed)}"


@pytest.mark.parametrize("name", list(FRESH))
def test_the_runtime_is_byte_identical_in_fresh_modules(committed: str, name: str) -> None:
    spec = specs.parse(spec_toml(name=name, **FRESH[name]), source="<test>")
    section = runtime(codegen.render_module(spec), name)
    assert section == committed, f"{name}: {first_difference(section, committed)}"


def test_the_runtime_templates_have_no_substitutions() -> None:
    """Why it is identical: between the markers, model.py.j2 only includes partials (files of
    templates/, and "derive.machine", derive/machine.py's functions), and those hold no Jinja
    syntax, so no spec can change a byte of them."""
    templates = ROOT / "templates"
    source = (templates / codegen.ENTRY_TEMPLATE).read_text(encoding="utf-8")
    inner = source[source.index(START) + len(START) : source.index(END)]
    included = re.findall(r'^\{% include "([\w.]+)" %\}$', inner, flags=re.MULTILINE)
    assert included, "the runtime section includes no partial"
    assert "derive.machine" in included
    assert re.sub(r'^\{% include "[\w.]+" %\}$', "", inner, flags=re.MULTILINE).strip() == ""
    environment = jinja_environment()
    for name in included:
        text, _, _ = environment.loader.get_source(environment, name)
        for syntax in ("{{", "{%", "{#"):
            assert syntax not in text, f"{name}: {syntax!r} in the shared runtime"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_the_math_comes_first_and_the_runtime_last(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    boundary = text[: text.index(START)].count("\n") + 1  # the marker's line number
    defined = [node for node in tree.body if isinstance(node, ast.FunctionDef | ast.ClassDef)]
    above = [node.name for node in defined if node.lineno < boundary]
    below = {node.name for node in defined if node.lineno > boundary}
    assert above[: len(MATH)] == MATH, f"{path.name}: the first definitions are {above}"
    assert "train_step" in above
    # what the runtime holds: checks, training loop, files, BLAS threads; none of it above
    for name in ("fit", "forward", "save", "load", "check_gradients", "_as_inputs", "_Blas"):
        assert name in below, f"{path.name}: {name} is not in the runtime"
    assert not [name for name in above if name.startswith(("_check", "_as_"))]
    docstring = ast.get_docstring(tree) or ""
    assert "Reading order:" in docstring and '"derive runtime"' in docstring
