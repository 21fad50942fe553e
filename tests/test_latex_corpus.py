"""Displays copied from public derivations: each parses and gets the verdict it deserves."""

from __future__ import annotations

from pathlib import Path

import pytest
from latex_corpus import Entry, entries

from derive.verify import checker, claims

ENTRIES = entries()


def verdicts(entry: Entry, tmp_path: Path) -> list[checker.Result]:
    path = tmp_path / f"{entry.id}.toml"
    path.write_text(entry.claims_toml, encoding="utf-8")
    return checker.check_file(claims.load(path))


def test_the_corpus_is_large_enough() -> None:
    assert len(ENTRIES) >= 40
    assert sum(len(e.verdicts) for e in ENTRIES) >= 50


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_each_display_gets_its_verdicts(entry: Entry, tmp_path: Path) -> None:
    results = verdicts(entry, tmp_path)
    errors = [r.condition for r in results if r.verdict == "fails" and r.counterexample is None]
    assert not any("col " in (e or "") for e in errors), errors
    assert [r.verdict for r in results] == list(entry.verdicts)
