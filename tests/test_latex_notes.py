"""The seed notes checked from their LaTeX as printed: the same verdicts as the SymPy encoding.

Each claim of derive/data/notes.toml keeps the notes' LaTeX in `latex`. Here every claim is
checked a second time from that LaTeX alone (lhs and rhs removed), with the notes' indexing
scheme declared once in a [latex] table. A display with several relations (`a = b, \\quad
c = d`) must get, as its worst verdict, the verdict of the SymPy-syntax claim. Every display is
read, none refused: the updates of steps 3 and 6 (`w \\leftarrow w - \\eta D_{i,j}`, read as D
being the gradient of the declared loss), step 1's `\\forall i \\in \\llbracket 0, s(n-1)
\\rrbracket`, step 4's `\\sum_{m}` (m over the neurons it subscripts), (1)'s `Z^{[l]} = W^{[l]}
\\cdot A^{[l-1]}` and its matrices elided with `\\dots` (the last row's w_{0,1} as written).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from derive.verify import checker, claims

NOTES = claims.bundled_path()
RANK = {"holds": 0, "conditional": 1, "fails": 2}

# The notes' scheme, declared once: [l] superscripts are layers, s(l) the layer size, E_{tot}
# the loss; in section 4 (softmax) s_{z_i} is the softmax, k and c the sums the notes define
# in (13) and (14) with "where".
LATEX_TABLE = r"""
[latex]
layers = "brackets"
loss = 'E_{tot}'
functions = { ReLU = "relu", s = "s" }
[latex.names]
"E_{tot}" = "Etot"
"s_{z_i}" = "softmax(z, i, 1, n)"
k = "Sum((1 - KroneckerDelta(j, i)) * exp(z[j]), (j, 1, n))"
c = "Sum((1 - KroneckerDelta(j, k)) * exp(z[j]), (j, 1, n))"
"""
# Section 4's E_i is the softmax's error, (s_{z_i} - y_i)^2, and z_k^{(n-1)} is z_k.
SOFTMAX_ERROR = {
    "E_i": "(softmax(z, i, 1, n) - y[i])**2",
    "z_k^{(n-1)}": "z[k]",
    "\\hat{y}_i": "y[i]",
}


def _latex_only(table: str) -> str:
    """A claim table with its SymPy sides removed, so that its `latex` is what is checked."""
    kept = [line for line in table.splitlines() if not re.match(r"(lhs|rhs) = ", line)]
    return re.sub(r'^id = "([^"]+)"', r'id = "\1-latex"', "\n".join(kept), flags=re.M)


def latex_file(tmp_path: Path) -> Path:
    text = NOTES.read_text(encoding="utf-8")
    head, *tables = text.split("\n[[claim]]\n")
    body = []
    for table in tables:
        cid = re.search(r'^id = "([^"]+)"', table, re.M)
        assert cid is not None
        extra = ""
        if cid.group(1).startswith("eq16"):
            pairs = ", ".join(f"{_quoted(k)} = {_quoted(v)}" for k, v in SOFTMAX_ERROR.items())
            extra = f"\nlatex_names = {{ {pairs} }}"
        body.append("[[claim]]\n" + _latex_only(table) + extra)
    path = tmp_path / "notes_latex.toml"
    path.write_text(head + LATEX_TABLE + "\n" + "\n\n".join(body) + "\n", encoding="utf-8")
    return path


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\") + '"'


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[checker.Result]]:
    by_claim: dict[str, list[checker.Result]] = {}
    path = latex_file(tmp_path_factory.mktemp("notes"))
    for result in checker.check_file(claims.load(path)):
        by_claim.setdefault(re.sub(r"-latex(\.\d+)?$", "", result.id), []).append(result)
    return by_claim


SYMPY = {c.id: c for c in claims.load(NOTES).claims}
ORIGINAL = tomllib.loads(NOTES.read_text(encoding="utf-8"))["claim"]


def test_the_notes_file_parses_as_toml() -> None:
    assert len(ORIGINAL) == len(SYMPY) >= 50


@pytest.mark.parametrize("cid", [c["id"] for c in ORIGINAL])
def test_latex_gets_the_verdict_of_the_sympy_encoding(
    cid: str, verdicts: dict[str, list[checker.Result]]
) -> None:
    results = verdicts[cid]
    assert all(" col " not in (r.condition or "") for r in results), results[0].condition
    expected = checker.check_claim(SYMPY[cid], claims.load(NOTES)).verdict
    worst = max((r.verdict for r in results), key=RANK.__getitem__)
    assert worst == expected
