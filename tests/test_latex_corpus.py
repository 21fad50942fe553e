"""Displays copied from public derivations: each parses and gets the verdict it deserves."""

from __future__ import annotations

from pathlib import Path

import pytest
from latex_corpus import Entry, entries

from derive import checker, claims

ENTRIES = entries()


def verdicts(entry: Entry, tmp_path: Path) -> list[checker.Result]:
    path = tmp_path / f"{entry.id}.toml"
    path.write_text(entry.claims_toml, encoding="utf-8")
    return checker.check_file(claims.load(path))


def test_the_corpus_is_large_enough() -> None:
    assert len(ENTRIES) >= 40
    assert sum(len(e.verdicts) for e in ENTRIES) >= 50


# True identities between tanh (or cosh, sinh) and exponentials that the checker does not
# prove today: it says unproven, never fails. If it learns to, this list must shrink.
UNPROVEN_TODAY = {
    "nemotron.tanh.def": (1,),
    "nemotron.tanh.quotient": (1,),
    "nemotron.tanh.identity": (1,),
    "nemotron.tanh.f": (2,),
    "nemotron.tanh.ratio": (1,),
    "dlai.tanh.def": (1,),
}


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_each_display_gets_its_verdicts(entry: Entry, tmp_path: Path) -> None:
    results = verdicts(entry, tmp_path)
    errors = [r.condition for r in results if r.verdict == "fails" and r.counterexample is None]
    assert not any("col " in (e or "") for e in errors), errors
    expected = list(entry.verdicts)
    for line in UNPROVEN_TODAY.get(entry.id, ()):
        assert expected[line - 1] == "holds"  # true, and only not proved
        expected[line - 1] = "unproven"
    assert [r.verdict for r in results] == expected
