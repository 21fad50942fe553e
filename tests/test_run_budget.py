"""The run as a whole is bounded: a claim decided once per run, and a time budget for the run.

A hostile file of twenty copies of one slow claim costs one claim's time limit, and
`--total-timeout` bounds a run of different slow claims: what is left when it is spent is
`undecided`, naming the run's budget.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from derive.cli import main
from derive.verify import budget, claims
from derive.verify.report import entries, render

TOTAL = "(" + "+".join("abcdefghijkl") + ")"  # a true identity of degree 32 in 12 symbols
SLOW = f'lhs = "{TOTAL}**32"\nrhs = "{TOTAL}**31*a + {TOTAL}**31*({"+".join("bcdefghijkl")})"\n'
QUICK = 'lhs = "Derivative(x**2, x)"\nrhs = "2*x"\n'


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def claim(claim_id: str, body: str, extra: str = "") -> str:
    return f'[[claim]]\nid = "{claim_id}"\n{body}{extra}\n'


def meaning(one: claims.Claim, cfile: claims.ClaimsFile) -> object:
    return budget._meaning(one, budget._setting(cfile))


def report(capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, object]]:
    return {c["id"]: c for c in json.loads(capsys.readouterr().out)["claims"]}


def test_copies_of_a_claim_are_decided_once(tmp_path: Path) -> None:
    """The copies reuse the first one's verdict, whatever their id, source or statement.

    Each copy of the slow claim, run, would be undecided after its own 1 s with no `same_as`:
    `same_as` is set only on a verdict that was reused instead of sent to the worker.
    """
    first = write(
        tmp_path,
        "a.toml",
        claim("slow", SLOW)
        + claim("quick", QUICK)
        + claim("slow.copy", SLOW, 'source = "a copy"\nstatement = "the same again"\n')
        + claim("slow.again", SLOW, "timeout = 0.5\n"),  # less time than the first had
    )
    second = write(tmp_path, "b.toml", claim("quick", QUICK, 'source = "another file"\n'))
    files = [first, second]
    results = budget.check_bounded([claims.load(Path(f)) for f in files], timeout=1)
    payload = json.loads(render(entries(results), "json", files))
    by_id = [(c["id"], c["verdict"], c["same_as"]) for c in payload["claims"]]
    assert by_id == [
        ("slow", "undecided", None),
        ("quick", "holds", None),
        ("slow.copy", "undecided", "slow"),
        ("slow.again", "undecided", "slow"),
        ("quick", "holds", f"quick in {first}"),
    ]
    copy = payload["claims"][2]
    assert copy["tried"] == "time limit: not decided in 1 s"  # the first one's reason
    assert copy["source"] == "a copy" and copy["statement"] == "the same again"  # its own

    text = render(entries(results), "text", files)
    assert "undecided    same claim as slow (decided once): time limit: not" in text
    markdown = render(entries(results), "markdown", files)
    assert "- Same claim as `slow`: its verdict, decided once" in markdown


def test_a_copy_with_more_time_than_an_undecided_claim_had_is_run_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "c.toml", claim("short", SLOW, "timeout = 0.5\n") + claim("long", SLOW))
    assert main(["verify", path, "--timeout", "1", "--format", "json"]) == 1
    verdicts = report(capsys)
    assert verdicts["short"]["tried"] == "time limit: not decided in 0.5 s"
    assert verdicts["long"]["tried"] == "time limit: not decided in 1 s"
    assert verdicts["long"]["same_as"] is None


def test_the_same_text_read_under_other_declarations_is_decided_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Same sides, other [definitions], [symbols], domain or conditions: other verdicts."""
    same = 'lhs = "f"\nrhs = "x**2"\n'
    square = write(tmp_path, "square.toml", '[definitions]\nf = "x*x"\n\n' + claim("f", same))
    cube = write(tmp_path, "cube.toml", '[definitions]\nf = "x**3"\n\n' + claim("f", same))
    root = 'lhs = "sqrt(t**2)"\nrhs = "t"\n'
    positive = write(
        tmp_path, "positive.toml", '[symbols]\nt = { domain = "> 0" }\n\n' + claim("root", root)
    )
    real = write(tmp_path, "real.toml", "[symbols]\nt = {}\n\n" + claim("root", root))
    ramp = 'lhs = "Max(i, 1)"\nrhs = "i"\nindices = { i = [0, 3] }\n'
    double = 'lhs = "2*x"\nrhs = "x"\n'
    readings = write(
        tmp_path,
        "readings.toml",
        claim("ramp", ramp)
        + claim("ramp.domain", ramp, 'domain = "i >= 1"\n')
        + claim("double", double)
        + claim("double.halved", double, 'conditions = [{ text = "halved", lhs = "x" }]\n'),
    )
    files = [square, cube, positive, real, readings]
    assert main(["verify", *files, "--format", "json"]) == 1
    payload = json.loads(capsys.readouterr().out)
    found = [(c["id"], c["verdict"], c["same_as"]) for c in payload["claims"]]
    assert found == [
        ("f", "holds", None),
        ("f", "fails", None),
        ("root", "holds", None),
        ("root", "fails", None),
        ("ramp", "fails", None),
        ("ramp.domain", "holds", None),
        ("double", "fails", None),
        ("double.halved", "conditional", None),
    ]


def test_what_only_names_or_shows_a_claim_is_not_part_of_its_meaning(tmp_path: Path) -> None:
    """Id, source, statement, timeout and file differ: the same meaning; a network differs:
    another meaning (`Etot` is another loss)."""
    text = claim("a", QUICK, 'source = "s"\ntimeout = 5\n') + claim("b", QUICK)
    cfile = claims.load(Path(write(tmp_path, "one.toml", text)))
    other = claims.load(Path(write(tmp_path, "two.toml", claim("c", QUICK, 'statement = "t"\n'))))
    meanings = {meaning(c, f) for f in (cfile, other) for c in f.claims}
    assert len(meanings) == 1

    network = '[network]\nactivation = "{}"\nloss = "mse"\nlayers = [[2, 2]]\n\n'
    etot = claim("e", 'kind = "network"\nlhs = "Derivative(Etot, w[1, 0, 0])"\nrhs = "0"\n')
    sigmoid, relu = (
        claims.load(Path(write(tmp_path, f"{name}.toml", network.format(name) + etot)))
        for name in ("sigmoid", "relu")
    )
    assert meaning(sigmoid.claims[0], sigmoid) != meaning(relu.claims[0], relu)


def test_claims_left_when_the_run_budget_is_spent_are_undecided(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The slow claim is stopped at what is left of the run's 2 s; the claims after it are
    not started. (On a loaded machine the worker may take the 2 s to start: then the first
    claim is not started either.)"""
    text = claim("slow", SLOW) + claim("quick", QUICK) + claim("quick.copy", QUICK)
    path = write(tmp_path, "d.toml", text)
    assert main(["verify", path, "--total-timeout", "2", "--format", "json"]) == 1
    verdicts = report(capsys)
    assert {c["verdict"] for c in verdicts.values()} == {"undecided"}
    for found in verdicts.values():
        assert str(found["tried"]).startswith("run time limit: ")
        assert "the run's 2 s (--total-timeout)" in str(found["tried"])
    spent = "run time limit: the run's 2 s (--total-timeout) were spent before this claim"
    assert str(verdicts["quick"]["tried"]).startswith(spent)
    assert str(verdicts["quick.copy"]["tried"]).startswith(spent)  # never decided: not reused


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("-1", "expected seconds in (0, 86400], found -1"),
        ("0", "expected seconds in (0, 86400], found 0"),
        ("nan", "expected seconds in (0, 86400], found nan"),
        ("1e9", "expected seconds in (0, 86400], found 1e9"),
        ("soon", "expected a number of seconds, found 'soon'"),
    ],
)
def test_a_bad_total_timeout_exits_2_with_one_message(
    capsys: pytest.CaptureFixture[str], value: str, words: str
) -> None:
    assert main(["verify", "--total-timeout", value]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    errors = [line for line in captured.err.splitlines() if "error" in line]
    assert errors == [f"derive verify: error: argument --total-timeout: {words}"]
