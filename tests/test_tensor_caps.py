"""The caps of a built side apply to every entry of a tensor claim, where they make sense.

Nodes, numbers, exponents and the expansion degree are checked entry by entry, and the walk
that counts nodes stops at the cap (a matrix power repeats its subtrees exponentially often).
exp may nest deeper than in a scalar claim (a network nests one exp per sigmoid layer), but
an exp argument past 1000 at a corner of the box the checker samples from is refused. One-hot
instances are counted before any is listed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from derive import cli
from derive.errors import DeriveError
from derive.verify import checker, claims
from derive.verify.tensors import Context, Evaluator, entry_names

NETWORK = Path(__file__).parent / "data" / "three_sigmoid_softmax.toml"

HOSTILE = {
    "tower": (
        'n = { size = [2] }\nx = { shape = ["n"] }',
        "sum(exp(exp(exp(exp(x)))))",
        "exp of a number past 1000 at x[0]=3, x[1]=3, a point the checker samples",
    ),
    "tower.split": (  # the same tower through definitions: the probe sees the built value
        'n = { size = [1] }\nx = { shape = ["n"] }\n[definitions]\nu = "exp(exp(x))"\nv = "exp(u)"',
        "sum(exp(v))",
        "exp of a number past 1000 at x[0]=3",
    ),
    "deep": (
        'n = { size = [1] }\nx = { shape = ["n"] }',
        "sum(" + "exp(" * 9 + "-x" + ")" * 9 + ")",
        "exp nested more than 8 deep",
    ),
    "matrix.power": (
        'n = { size = [8] }\nW = { shape = ["n", "n"] }',
        "sum(" + " @ ".join(["W"] * 12) + ")",
        "expression larger than 20000 nodes",
    ),
    "degree": (
        'n = { size = [3] }\nx = { shape = ["n"] }',
        "sum(x * x * x * x * x * x * x * x)**16",
        "its expansion would reach degree > 64",
    ),
    "exponent": (
        'n = { size = [3] }\nx = { shape = ["n"] }',
        "(sum(x)**32)**32",
        "exponents are limited to 32",
    ),
    "one.hot": (
        'N = { size = [8] }\nm = { size = [8] }\nY = { shape = ["N", "m"], domain = "one_hot" }',
        "sum(Y)",
        "more than 400 instances",
    ),
}


def symbols_file(tmp_path: Path, symbols: str, lhs: str) -> Path:
    path = tmp_path / "hostile.toml"
    text = f'[symbols]\n{symbols}\n\n[[claim]]\nid = "c"\nlhs = "{lhs}"\nrhs = "0"\n'
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("symbols", "lhs", "message"), HOSTILE.values(), ids=list(HOSTILE))
def test_a_hostile_tensor_claim_stops_the_run_with_one_line(
    tmp_path: Path, symbols: str, lhs: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = symbols_file(tmp_path, symbols, lhs)
    assert cli.main(["verify", str(path), "--timeout", "600"]) == 2  # refused, not timed out
    err = capsys.readouterr().err
    assert message in err and "claim c" in err and err.count("\n") == 1


def test_a_nan_entry_still_fails_its_claim_alone(tmp_path: Path) -> None:
    path = symbols_file(tmp_path, 'n = { size = [1] }\nx = { shape = ["n"] }', "sum(x / 0)")
    (result,) = checker.check_file(claims.load(path))
    assert result.verdict == "fails" and "not a finite real expression" in str(
        result.counterexample
    )


def test_the_network_nests_exp_deeper_than_a_scalar_claim_may() -> None:
    cfile = claims.load(NETWORK)
    assert cfile.declarations is not None
    claim = next(c for c in cfile.claims if c.id == "hidden1")
    case = next(iter(cfile.declarations.cases(claim, [claim.lhs.tree, claim.rhs.tree])))
    ctx = Context(cfile.declarations, case.env, case.fixed, case.plain)
    value = Evaluator(ctx, None, ctx.values(None)).build(claim.lhs)
    (_, entry), *_ = entry_names(value)
    with pytest.raises(DeriveError, match="exp nested more than 3 deep"):
        claims.validate_tree(entry, "hidden1", "grad(C, z1)")  # the scalar claims' cap


def test_a_network_of_three_sigmoid_layers_and_a_softmax_decides() -> None:
    results = {r.id: r for r in checker.check_file(claims.load(NETWORK))}
    verdicts = {cid: r.verdict for cid, r in results.items()}
    assert verdicts == {
        "output": "holds",
        "hidden2": "holds",
        "hidden1": "holds",
        "W1": "holds",
        "hidden1.no.derivative": "fails",
    }
    assert results["hidden1.no.derivative"].counterexample is not None
