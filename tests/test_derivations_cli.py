"""`derive derivations`: every id generated code cites is listed with its statement, LaTeX and
proof; and every subcommand's --help lists its choices, exit codes and two examples."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from derive import backprop, derivations, optimizers
from derive.activations import ACTIVATIONS
from derive.cli import main
from derive.losses import LOSSES
from derive.spec import OPTIMIZERS, SCHEDULES
from derive.training import datasets

GENERATED = Path(__file__).resolve().parent.parent / "generated"


def cited_ids() -> set[str]:
    """Every [id] the committed generated modules cite in a comment, but a spec's own
    activation's (def.mish, act.mish: registered when its spec is generated, proved then,
    tested in test_codegen.py::test_every_cited_derivation_is_registered)."""
    ids: set[str] = set()
    own = {f"{kind}.{name}" for name in ("mish",) for kind in ("def", "act")}
    for path in GENERATED.glob("*.py"):
        for comment in re.findall(r"#.*", path.read_text()):
            ids |= set(re.findall(r"\[([a-z_]+\.[a-z_]+)\]", comment))
    return ids - own


def test_every_cited_id_is_listed_with_latex_and_a_proof(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ids = sorted(cited_ids())
    assert "bp.hidden" in ids and "opt.adam" in ids
    assert main(["derivations", *ids]) == 0
    out = capsys.readouterr().out
    blocks = out.split("\n\n")
    assert len(blocks) == len(ids)
    for eq_id, block in zip(ids, blocks, strict=True):
        assert block.startswith(f"[{eq_id}] ")
        assert "\n  statement: " in block and "\n  latex:     " in block
        kind = "tested" if eq_id.startswith("opt.") else "proved"
        assert f"\n  {kind}:    " in block and "(no proof)" not in block


def test_every_registered_derivation_has_latex_and_is_proved() -> None:
    entries = derivations.entries()
    registered = {*backprop.DERIVATIONS, *optimizers.UPDATES}
    assert {entry.id for entry in entries} == registered
    for entry in entries:
        assert entry.latex and entry.proved_by, entry.id
    relu = next(entry for entry in entries if entry.id == "act.relu")
    assert relu.condition and "ReLU'(0) = 0" in relu.condition
    assert any("sympy.diff" in how for how in relu.proved_by)


def test_json_format_and_an_unknown_id(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["derivations", "bp.grad_w", "[loss.mse]", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [entry["id"] for entry in listed] == ["bp.grad_w", "loss.mse"]
    assert listed[0]["latex"] == r"\frac{\partial E}{\partial W_l} = \delta_l^\top A_{l-1}"
    assert main(["derivations", "bp.hiden"]) == 2
    err = capsys.readouterr().err
    assert "no registered derivation 'bp.hiden' (did you mean 'bp.hidden'?)" in err


def test_generated_modules_point_to_derive_derivations() -> None:
    for path in GENERATED.glob("*.py"):
        if path.name != "__init__.py":
            assert "`derive derivations ID`" in path.read_text(), path.name


@pytest.mark.parametrize(
    ("command", "choices"),
    [
        ("verify", ["text", "json", "markdown"]),
        (
            "generate",
            [
                *ACTIVATIONS,
                *LOSSES,
                *OPTIMIZERS,
                "float32",
                "float64",
                *SCHEDULES,
                "[activation.NAME]",
            ],
        ),
        ("train", [*datasets.DATASETS, "FILE.csv", "FILE.npz"]),
        ("derivations", ["text", "json"]),
    ],
)
def test_every_subcommand_help_lists_choices_exit_codes_and_two_examples(
    capsys: pytest.CaptureFixture[str], command: str, choices: list[str]
) -> None:
    assert main([command, "--help"]) == 0
    text = capsys.readouterr().out
    for choice in choices:
        assert choice in text, choice
    assert "exit codes: 0 " in text and " 2 " in text.split("exit codes:")[1]
    examples = text.split("examples:\n")[1].strip().splitlines()
    assert len(examples) == 2 and all(line.strip().startswith("derive ") for line in examples)
