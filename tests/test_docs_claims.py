"""Every example of docs/claims.md is a test: each TOML file, run, prints the report under it.

After a deliberate change to the report, rewrite the reports in the guide with
`python tests/test_docs_claims.py --update` and read the diff.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile
from pathlib import Path

import pytest

from derive import cli
from derive.errors import DeriveError
from derive.verify import checker, claims

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "claims.md"
EXAMPLE = re.compile(  # a TOML block and the report right under it; neither holds a fence
    r"```toml\n(?P<toml>(?:(?!```).)*?)\n```\n\n```text\n(?P<report>(?:(?!```).)*?)\n```", re.S
)
WIDTH = "100"  # the terminal width the reports in the guide were printed at


def examples() -> list[tuple[str, str]]:
    return [(m["toml"], m["report"]) for m in EXAMPLE.finditer(GUIDE.read_text("utf-8"))]


def report(toml: str, folder: Path) -> tuple[int, str]:
    """derive verify on the example, as a user runs it: exit code and standard output."""
    path = folder / "example.toml"
    path.write_text(toml + "\n", encoding="utf-8")
    out = io.StringIO()
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        with contextlib.redirect_stdout(out):
            code = cli.main(["verify", str(path)])
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved
    return code, out.getvalue().rstrip("\n")


def test_the_guide_has_its_examples() -> None:
    titles = [toml.splitlines()[0] for toml, _ in examples()]
    assert len(titles) == 13
    assert any("Nielsen" in title for title in titles)


@pytest.mark.parametrize(("toml", "expected"), examples(), ids=lambda v: str(v)[:30])
def test_each_example_prints_the_report_shown(toml: str, expected: str, tmp_path: Path) -> None:
    code, printed = report(toml, tmp_path)
    assert printed == expected
    verdicts = [line.split()[1] for line in printed.splitlines()[1:-1] if line[:1] != " "]
    assert code == (0 if set(verdicts) == {"holds"} else 1)


def test_nielsen_holds_and_every_kind_of_mistake_fails() -> None:
    reports = "\n".join(report for _, report in examples())
    for cid in ("BP1", "BP2", "BP3", "BP4", "ce.delta", "W1", "b1", "decay"):
        assert re.search(rf"^{re.escape(cid)} +holds", reports, re.M), cid
    mistakes = ("no.activation.derivative", "no.transpose", "no.mean", "twice", "stale.weights")
    for cid in mistakes:
        assert re.search(rf"^{re.escape(cid)} +fails", reports, re.M), cid
    assert "corrected: 1/N*((Z - Y).T @ X) (stated = N x true)" in reports
    assert reports.count("corrected: W2.T @ grad(C, z2) * sigmoid'(z1)") == 3
    assert "(stated = 2 x true)" in reports


def nielsen(tmp_path: Path, old: str, new: str) -> claims.ClaimsFile:
    toml = next(toml for toml, _ in examples() if "Nielsen" in toml)
    assert old in toml
    path = tmp_path / "nielsen.toml"
    path.write_text(toml.replace(old, new, 1), encoding="utf-8")
    return claims.load(path)


def test_the_errors_shown_in_the_guide(tmp_path: Path) -> None:
    guide = GUIDE.read_text("utf-8")
    with pytest.raises(DeriveError) as info:
        nielsen(tmp_path, "W2.T @ grad(C, z2)", "W3.T @ grad(C, z2)")
    shown = str(info.value).replace(str(tmp_path) + "/", "")
    assert f"derive: error: {shown}" in guide
    cfile = nielsen(tmp_path, 'z1 = "W1 @ x + b1"', 'z1 = "W1 @ x"')
    with pytest.raises(DeriveError) as info:
        checker.check_claim(cfile.claims[2], cfile)
    assert str(info.value).endswith("claim BP3: lhs: C does not depend on b1")
    assert "`claim BP3: lhs: C does not depend on b1`" in guide


def update() -> None:
    """Rewrite each report in the guide with what derive prints now."""
    text = GUIDE.read_text("utf-8")
    with tempfile.TemporaryDirectory() as folder:

        def rerun(match: re.Match[str]) -> str:
            _, printed = report(match["toml"], Path(folder))
            return f"```toml\n{match['toml']}\n```\n\n```text\n{printed}\n```"

        GUIDE.write_text(EXAMPLE.sub(rerun, text), encoding="utf-8")


def test_the_readme_example_holds(tmp_path: Path) -> None:
    readme = (GUIDE.parents[1] / "README.md").read_text("utf-8")
    (toml,) = [b for b in re.findall(r"```toml\n(.*?)\n```", readme, re.S) if "[[claim]]" in b]
    code, printed = report(toml, tmp_path)
    assert code == 0 and printed.splitlines()[-1].startswith("2 claims: 2 hold")


if __name__ == "__main__" and sys.argv[1:] == ["--update"]:
    update()
