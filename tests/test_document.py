"""`derive verify notes.md`: every display equation of a document is a claim, by its line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from derive.cli import main

NOTES = r"""# Sigmoid notes

Inline math is not checked: $\sigma(x) = 2$.

$$
\frac{d\sigma(x)}{dx} = \frac{e^{-x}}{(1+e^{-x})^2}
$$

\begin{align}
\frac{d\sigma(x)}{dx} &= \sigma(x)(1 + \sigma(x)) \\
&= \sigma(x)(1 - \sigma(x))
\end{align}

A goal, not a claim: \[ \frac{\partial \mathcal{L}}{\partial W} \]

```python
x = "$$ a = b $$"  # a code block: not read
```

$$ y'(x) = 2 \cdot x, \quad \text{where } y = x^2 $$

```derive
title = "Sigmoid notes"
[latex.names]
y = "x**2"
```
"""


def test_each_display_gets_a_verdict_by_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "notes.md"
    path.write_text(NOTES, encoding="utf-8")
    assert main(["verify", "--format", "json", str(path)]) == 1
    claims = {c["id"]: c for c in json.loads(capsys.readouterr().out)["claims"]}
    verdicts = {cid: claim["verdict"] for cid, claim in claims.items()}
    assert verdicts == {
        "line5": "holds",
        "line9": "fails",
        "line9.1": "fails",
        "line9.2": "holds",
        "line20": "fails",
    }
    assert claims["line9.2"]["source"] == "notes.md, line 10"
    assert "y' is a derivative of a function" in claims["line20"]["condition"]


def test_a_document_without_equations_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.tex"
    path.write_text("No display here: $a = b$.\n", encoding="utf-8")
    assert main(["verify", str(path)]) == 2


@pytest.mark.parametrize("tail", ["$$ 1 = 2\n\nnever closed\n", "\\begin{align}\n1 &= 2\n"])
def test_a_display_never_closed_is_an_input_error_naming_its_line(
    tmp_path: Path, tail: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Once dropped silently: the closed displays held, the unclosed one was never read."""
    path = tmp_path / "open.md"
    path.write_text(f"Text.\n\n$$ x^2 = x \\cdot x $$\n\n{tail}", encoding="utf-8")
    assert main(["verify", str(path)]) == 2
    assert "open.md: line 5: expected a display closed" in capsys.readouterr().err


def test_a_bad_derive_block_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.md"
    path.write_text("$$a = a$$\n```derive\n[latex\n```\n", encoding="utf-8")
    assert main(["verify", str(path)]) == 2


def test_the_notes_softmax_section_as_a_document(capsys: pytest.CaptureFixture[str]) -> None:
    """Eq. (13) of the seed notes, read from the document: ten lines, each of which holds."""
    path = Path(__file__).parent / "data" / "notes_softmax.md"
    assert main(["verify", "--format", "json", str(path)]) == 1
    verdicts = {c["id"]: c["verdict"] for c in json.loads(capsys.readouterr().out)["claims"]}
    eq13 = [cid for cid in verdicts if cid.startswith("line12.")]
    assert len(eq13) == 10 and all(verdicts[cid] == "holds" for cid in eq13)
    assert verdicts["line8"] == "holds"  # (12), the softmax
    assert verdicts["line38"] == "holds"  # (15): s_{z_i} (delta_ik - s_{z_k})
    # (14) writes ds_{z_k}/dz_{k != i} for ds_{z_i}/dz_k: as written, every line fails
    assert {verdicts[f"line27.{n}"] for n in range(1, 7)} == {"fails"}
    assert verdicts["line45.2"] == "fails"  # (16) drops the 2 of E_i = (s - y)^2
