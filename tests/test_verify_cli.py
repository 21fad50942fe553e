"""`derive verify`: formats and exit codes, through derive.cli.main."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from derive.cli import main

HOLDS = """
[[claim]]
id = "mse"
source = "my notes (1)"
statement = "d(a - t)^2/da = 2(a - t)"
lhs_latex = '\\frac{\\partial (a - t)^2}{\\partial a}'
rhs_latex = '2(a - t)'
"""
FAILS = """
[[claim]]
id = "wrong"
statement = "d(a - t)^2/da = (a - t)"
lhs_latex = '\\frac{\\partial (a - t)^2}{\\partial a}'
rhs_latex = 'a - t'
"""
CONDITIONAL = """
[[claim]]
id = "relu"
latex = '\\frac{d ReLU(x)}{dx} = [x > 0]'
lhs = "Derivative(relu(x), x)"
rhs = "Piecewise((1, x > 0), (0, x < 0))"
"""


def write(tmp_path: Path, text: str, name: str = "claims.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_latex_claim_that_holds_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", write(tmp_path, HOLDS)]) == 0
    out = capsys.readouterr().out
    assert (
        "mse" in out
        and "holds" in out
        and "1 claim: 1 holds, 0 conditional, 0 unproven, 0 undecided, 0 fails." in out
    )


def test_latex_claim_that_fails_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", write(tmp_path, FAILS), "--format", "json"]) == 1
    payload = json.loads(capsys.readouterr().out)
    (claim,) = payload["claims"]
    assert set(claim) == {
        "id",
        "verdict",
        "statement",
        "source",
        "counterexample",
        "condition",
        "corrected",
        "tried",
        "same_as",
    }
    assert claim["verdict"] == "fails" and claim["corrected"] == "2*(a - t)"
    assert set(claim["counterexample"]) == {"at", "point", "stated", "true"}
    assert payload["summary"]["fails"] == 1 and payload["summary"]["total"] == 1


def test_conditional_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", write(tmp_path, CONDITIONAL)]) == 1
    assert "holds only if x != 0" in capsys.readouterr().out


def test_several_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = [write(tmp_path, HOLDS, "a.toml"), write(tmp_path, CONDITIONAL, "b.toml")]
    assert main(["verify", *files, "--format", "json"]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in payload["claims"]] == ["mse", "relu"]
    assert payload["summary"]["files"] == files


def test_markdown_shows_latex_counterexample_and_correction(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["verify", write(tmp_path, FAILS + CONDITIONAL), "--format", "markdown"])
    out = capsys.readouterr().out
    assert "## `wrong`: fails" in out and "```math" in out and "\\frac{d ReLU(x)}{dx}" in out
    assert "- Counterexample: at a=" in out and "- Corrected (from SymPy): `2*(a - t)`" in out
    assert "- Holds only if: x != 0" in out and "**Summary:**" in out


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[[claim]\n", "not valid TOML"),
        ('[[claim]]\nid = "c"\nlhs = "x"\n', "claim c"),
        ('[[claim]]\nid = "c"\nlhs = "x"\nrhs = "x"\nnote = "?"\n', "unknown key 'note'"),
        ('[[claim]]\nid = "c"\nlhs = "import os"\nrhs = "x"\n', "claim c: lhs"),
        ('[[claim]]\nid = "c"\nlhs = "y[i]"\nrhs = "x"\n', "must be an integer"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str
) -> None:
    path = write(tmp_path, text)
    assert main(["verify", path, "--format", "json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("derive: error: ") and path in lines[0]
    assert key in lines[0] and "Traceback" not in captured.err


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(tmp_path / "none.toml")]) == 2
    assert "none.toml" in capsys.readouterr().err


def test_unknown_format_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--format", "yaml"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_bundled_notes_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--format", "json"]) == 1
    payload = json.loads(capsys.readouterr().out)
    ids = [c["id"] for c in payload["claims"]]
    expected = {f"eq{k}" for k in range(1, 17)} | {"etot"} | {f"step{k}" for k in range(1, 7)}
    assert expected <= set(ids) and "eq13.3" in ids
    for claim in payload["claims"]:
        assert claim["verdict"] in ("holds", "fails", "conditional")
        if claim["verdict"] == "fails":
            assert claim["counterexample"] and claim["corrected"], claim["id"]
    summary = payload["summary"]
    assert (
        summary["total"] == len(ids) == summary["holds"] + summary["fails"] + summary["conditional"]
    )
    assert "ReLU'(0) = 0" in summary["convention"]


def test_bundled_notes_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify"]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["id", "verdict", "why"]
    assert "eq2        fails        at x=" in out
    assert out.rstrip().splitlines()[-1].startswith("70 claims:")


@pytest.mark.parametrize(
    ("latex", "message", "place"),
    [
        (r"\\frac{d}{dx} \\foo(x)", "col 14: \\foo is not a function derive knows", "\\foo"),
        (r"\\frac{d}{dx} x + \u001b", "col 18: '\\x1b' is not LaTeX derive reads", "\\x1b"),
        (r"a\t\t+ \\foo(x)", "col 6: \\foo is not a function", "\\foo"),  # shown as \t
        (  # a message past the report's cut: the line and its caret are still shown whole
            "a" * 60 + r" + \\text{" + r"\u200b" * 200 + "}",
            "col 64: \\text{\\u200b",
            "\\text",
        ),
    ],
)
def test_a_latex_error_shows_its_line_with_a_caret_under_the_place(
    latex: str, message: str, place: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = f'[[claim]]\nid = "typo"\nlhs_latex = "{latex}"\nrhs = "1"\n'  # TOML decodes \u001b
    assert main(["verify", write(tmp_path, text)]) == 1
    rows = capsys.readouterr().out.splitlines()
    first = next(i for i, row in enumerate(rows) if row.startswith("typo"))
    at = next(i for i, row in enumerate(rows) if row.strip() == "^")  # the message may wrap
    assert message in " ".join(row.strip() for row in rows[first : at - 1])
    line, caret = rows[at - 1], rows[at]
    assert caret.strip() == "^" and line.index(place) == caret.index("^")
    assert "\x1b" not in "".join(rows)  # a control character from the file stays escaped
