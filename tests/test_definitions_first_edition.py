"""[definitions] in a first-edition file (no [symbols]): names written once, claims use them.

A definition is `name` or `name[i, j]` = an expression; its body is read in the scope of the
claim that uses it (sizes, indices, the network's quantities), its own indices bound. A
derivative by a defined quantity is the chain rule's: the quantity is held free while the
expression is differentiated, then its value is put back (what Subs wrote by hand).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sympy as sp

from derive import cli
from derive.errors import DeriveError
from derive.verify import checker, claims

SOFTMAX = """
[definitions]
"sz[i]" = "softmax(z, i, 1, n)"
"k[i]" = "Sum((1 - KroneckerDelta(j, i)) * exp(z[j]), (j, 1, n))"
"E[i]" = "(sz[i] - y[i])**2"
"""


def claim(cid: str, lhs: str, rhs: str, family: bool = True) -> str:
    extra = 'sizes = { n = [1, 2, 3] }\nindices = { i = [1, "n"], m = [1, "n"] }\n' * family
    return f'\n[[claim]]\nid = "{cid}"\n{extra}lhs = "{lhs}"\nrhs = "{rhs}"\n'


def verdicts(tmp_path: Path, text: str) -> dict[str, checker.Result]:
    path = tmp_path / "claims.toml"
    path.write_text(text, encoding="utf-8")
    return {r.id: r for r in checker.check_file(claims.load(path))}


def test_claims_read_the_defined_names(tmp_path: Path) -> None:
    text = SOFTMAX + claim(
        "k", "Derivative(sz[i], z[i])", "k[i] * exp(z[i]) / (k[i] + exp(z[i]))**2"
    )
    text += claim("jac", "Derivative(sz[i], z[m])", "sz[i] * (KroneckerDelta(i, m) - sz[m])")
    text += claim("wrong", "Derivative(sz[i], z[m])", "sz[i] * (1 - sz[m])")
    found = verdicts(tmp_path, text)
    assert (found["k"].verdict, found["jac"].verdict, found["wrong"].verdict) == (
        "holds",
        "holds",
        "fails",
    )


def test_a_derivative_by_a_defined_quantity_is_the_chain_rule(tmp_path: Path) -> None:
    chain = "Derivative(E[i], sz[i]) * Derivative(sz[i], z[m])"
    by_hand = "Subs(Derivative((u - y[i])**2, u), u, softmax(z, i, 1, n)) * Derivative(sz[i], z[m])"
    text = SOFTMAX + claim("chain", "Derivative(E[i], z[m])", chain)
    text += claim("subs", by_hand, chain)
    text += claim("dE_ds", "Derivative(E[i], sz[i])", "2*(sz[i] - y[i])")
    text += claim("not.total", "Derivative(E[i], sz[i])", "Derivative(E[i], z[i])")
    found = verdicts(tmp_path, text)
    assert [found[c].verdict for c in ("chain", "subs", "dE_ds")] == ["holds"] * 3
    assert found["not.total"].verdict == "fails"  # held free: not the total derivative by z_i


def test_the_value_is_put_back_after_the_derivative(tmp_path: Path) -> None:
    text = '[definitions]\nq = "x**2"\n' + claim("dq", "Derivative(q**3, q)", "3*x**4", False)
    text += claim("d2q", "Derivative(Derivative(q**3, q), q)", "6*x**2", False)
    text += claim("dx", "Derivative(q**3, x)", "6*x**5", False)
    found = verdicts(tmp_path, text)
    assert {cid: r.verdict for cid, r in found.items()} == {
        "dq": "holds",
        "d2q": "holds",
        "dx": "holds",
    }


def test_a_definition_is_read_in_the_claims_scope(tmp_path: Path) -> None:
    text = '[definitions]\nS = "Sum(x[j], (j, 1, n))"\n'
    text += claim("mean", "Derivative(S / n, x[i])", "1 / n")
    text += claim("twice", "Derivative(S, x[i])", "2")
    found = verdicts(tmp_path, text)
    assert found["mean"].verdict == "holds" and found["twice"].verdict == "fails"
    assert found["twice"].counterexample is not None


def test_network_claims_use_definitions_of_the_network_quantities(tmp_path: Path) -> None:
    text = """
[network]
layers = [[2, 2], [3, 2]]
[definitions]
"delta[i]" = "Derivative(Etot, z[n - 1, i])"
[[claim]]
id = "step"
kind = "network"
indices = { i = [0, "s(n - 1) - 1"], m = [0, "s(n - 2) - 1"] }
lhs = "Derivative(Etot, w[n - 1, i, m])"
rhs = "delta[i] * a[n - 2, m]"
"""
    assert verdicts(tmp_path, text)["step"].verdict == "holds"


def test_a_file_with_definitions_alone_is_first_edition(tmp_path: Path) -> None:
    path = tmp_path / "claims.toml"
    path.write_text('[definitions]\nf = "x**2"\n' + claim("c", "f", "x*x", False), "utf-8")
    cfile = claims.load(path)
    assert cfile.declarations is None and [d.key for d in cfile.definitions] == ["f"]
    assert cli.main(["verify", str(path)]) == 0


@pytest.mark.parametrize(
    ("definitions", "message"),
    [
        ('f = "g + 1"\ng = "x"', "definitions.f: 'g' is defined further down"),
        ('f = "f + 1"', "definitions.f: f is used in its own definition"),
        ('exp = "x"', "definitions.exp: expected a name that is not a function"),
        ('"f[i, i]" = "x[i]"', "definitions.f[i, i]: expected distinct index names"),
        ('"f[1]" = "x"', "definitions.f[1]: expected a name, or a name with indices"),
        ('f = "x"\n"f[i]" = "x[i]"', "definitions.f[i]: expected each name defined once"),
        ('f = "import os"', "definitions.f: not an expression"),
    ],
)
def test_bad_definitions_stop_the_run(
    tmp_path: Path, definitions: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "claims.toml"
    path.write_text(f"[definitions]\n{definitions}\n" + claim("c", "x", "x", False), "utf-8")
    assert cli.main(["verify", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_network_quantity_cannot_be_redefined(tmp_path: Path) -> None:
    path = tmp_path / "claims.toml"
    path.write_text(
        '[network]\nlayers = [[2, 2]]\n[definitions]\nEtot = "0"\n' + claim("c", "x", "x", False)
    )
    with pytest.raises(
        DeriveError,
        match=re.escape("definitions.Etot: expected a name that is not a function or a network"),
    ):
        claims.load(path)


def test_an_index_cannot_hide_a_plain_definition(tmp_path: Path) -> None:
    path = tmp_path / "claims.toml"
    path.write_text('[definitions]\nm = "x"\n' + claim("c", "x", "x"))
    with pytest.raises(
        DeriveError,
        match=re.escape("claim c: indices.m: expected an index name that is not defined"),
    ):
        claims.load(path)


@pytest.mark.parametrize(
    ("lhs", "message"),
    [
        ("k", "k takes 1 index (defined as k[i])"),
        ("k[i, i]", "k takes 1 index (defined as k[i])"),
        ("Derivative(E[i], sz[i], sz[m])", "a Derivative by a defined quantity takes one variable"),
    ],
)
def test_a_defined_name_used_wrongly_names_the_claim(
    tmp_path: Path, lhs: str, message: str
) -> None:
    path = tmp_path / "claims.toml"
    path.write_text(SOFTMAX + claim("c", lhs, "0"), encoding="utf-8")
    with pytest.raises(DeriveError, match=re.escape(f"claim c: lhs: {message}")):
        checker.check_file(claims.load(path))


def test_the_built_side_has_the_definitions_value() -> None:
    scope = claims.Scope()
    tree = claims.parse_expression("x**2 + 1", "test")
    scope.definitions = {"f": claims.Definition("f", (), claims.Expression("x**2 + 1", tree))}
    side = claims.build(
        claims.Expression(
            "Derivative(f**2, f)", claims.parse_expression("Derivative(f**2, f)", "t")
        ),
        scope,
    )
    x = sp.Symbol("x", real=True)
    assert sp.expand(side - 2 * (x**2 + 1)) == 0
