"""The examples of docs/claims.md's LaTeX section are claims files that give what they say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from derive.verify import checker, claims

DOC = Path(__file__).resolve().parents[1] / "docs" / "claims.md"
SECTION = DOC.read_text(encoding="utf-8").split("\n## LaTeX\n", 1)[1]
BLOCKS = re.findall(r"```toml\n(.*?)```", SECTION, re.S)


def test_the_section_has_examples() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.startswith("# verdicts:")])
def test_example_gets_the_verdicts_it_states(block: str, tmp_path: Path) -> None:
    stated = block.splitlines()[0].removeprefix("# verdicts:").replace(" ", "").split(",")
    path = tmp_path / "example.toml"
    path.write_text(block, encoding="utf-8")
    assert [r.verdict for r in checker.check_file(claims.load(path))] == stated


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.startswith("[latex]")])
def test_the_latex_table_example_is_valid(block: str, tmp_path: Path) -> None:
    path = tmp_path / "table.toml"
    path.write_text('[[claim]]\nid = "c"\nlhs = "x"\nrhs = "x"\n\n' + block, encoding="utf-8")
    assert claims.load(path).claims[0].id == "c"
