"""The claims file format: loading, validation messages, LaTeX sides."""

from __future__ import annotations

from pathlib import Path

import pytest
import sympy as sp

from derive.errors import DeriveError
from derive.verify import claims


def write(tmp_path: Path, text: str, name: str = "claims.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_claim_has_defaults(tmp_path: Path) -> None:
    cfile = claims.load(write(tmp_path, '[[claim]]\nid = "c1"\nlhs = "x + x"\nrhs = "2*x"\n'))
    (claim,) = cfile.claims
    assert (claim.id, claim.kind, claim.source, claim.assumptions) == ("c1", "equation", "", ())
    assert claim.lhs.text == "x + x" and cfile.network is None


def test_all_fields_are_read(tmp_path: Path) -> None:
    text = """
[network]
activation = "relu"
loss = "mse"
layers = [[2, 2]]

[[claim]]
id = "full"
kind = "network"
source = "notes (3)"
statement = "dE/da = 2(a - t)"
latex = '\\frac{\\partial E_i}{\\partial a_i} = 2(a_i - t_i)'
assumptions = ["E_i = (a_i - t_i)^2"]
indices = { i = [0, "s(n - 1) - 1"] }
domain = "i >= 0"
lhs = "Derivative(E[i], a[n - 1, i])"
rhs = "2*(a[n - 1, i] - t[i])"
conditions = [{ text = "always", where = "Eq(i, i)" }]
"""
    cfile = claims.load(write(tmp_path, text))
    claim = cfile.claims[0]
    assert cfile.network == claims.Network("relu", "mse", ((2, 2),))
    assert claim.latex.startswith("\\frac") and claim.indices[0][0] == "i"
    assert claim.conditions[0].text == "always" and claim.domain is not None


def test_bundled_notes_load_and_cover_every_equation() -> None:
    cfile = claims.load(claims.bundled_path())
    ids = {claim.id for claim in cfile.claims}
    equations = {cid.split(".")[0] for cid in ids}
    assert {f"eq{k}" for k in range(1, 17)} <= equations
    assert {"etot", *(f"step{k}" for k in range(1, 7))} <= ids
    assert all(claim.latex and claim.statement and claim.source for claim in cfile.claims)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[claim]\nid = 1", "not valid TOML"),
        ('title = "only a title"\n', "claim: expected one or more [[claim]] tables, found none"),
        ('[[claim]]\nid = "c"\nlhs = "x"\n', "claim c: expected exactly one of rhs, rhs_latex"),
        ('[[claim]]\nlhs = "x"\nrhs = "x"\n', "claim #1: id: expected an id"),
        (
            '[[claim]]\nid = "c"\nlhs = "x"\nrhs = "x"\ncolour = "red"\n',
            "unknown key 'colour' (allowed",
        ),
        ('[[claim]]\nid = "c"\nlsh = "x"\nrhs = "x"\n', "unknown key 'lsh' (did you mean 'lhs'?)"),
        (
            '[[claims]]\nid = "c"\nlhs = "x"\nrhs = "x"\n',
            "definitions (did you mean 'claim'?), found",
        ),
        ('name = "n"\nlayers = [2, 1]\n', "(this looks like a spec: `derive generate`"),
        ('[[claim]]\nid = "c"\nkind = "proof"\nlhs = "x"\nrhs = "x"\n', "kind: expected one of"),
        ('[[claim]]\nid = "c"\nkind = "network"\nlhs = "x"\nrhs = "x"\n', "a [network] table"),
        (
            '[[claim]]\nid = "c"\nlhs = "x"\nrhs = "x"\n' * 2,
            "a unique id",
        ),
        ('extra = 1\n[[claim]]\nid = "c"\nlhs = "x"\nrhs = "x"\n', "extra: expected one of"),
        (
            '[network]\nlayers = [[9, 9]]\n[[claim]]\nid = "c"\nlhs = "x"\nrhs = "x"\n',
            "network.layers: expected a list of layer-size lists",
        ),
        (
            '[network]\nactivation = "softmax"\n[[claim]]\nid = "c"\nlhs = "x"\nrhs = "x"\n',
            "network.activation",
        ),
        ('[[claim]]\nid = "c"\nlhs = "x"\nrhs = "x"\nindices = { i = [0] }\n', "indices.i"),
        (
            '[[claim]]\nid = "c"\nlhs = "x"\nrhs = "x"\nconditions = [{ text = "t" }]\n',
            "conditions #1",
        ),
        ('[[claim]]\nid = "c"\nlhs = 3\nrhs = "x"\n', "expected an expression string"),
        ('[[claim]]\nid = "c"\nlhs = "x +"\nrhs = "x"\n', "not an expression"),
    ],
)
def test_bad_files_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(DeriveError) as info:
        claims.load(path)
    assert str(path) in str(info.value) and message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(DeriveError, match=r"expected an existing claims file, found no such file$"):
        claims.load(tmp_path / "nope.toml")


def test_undecodable_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "bytes.toml"
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(DeriveError, match="UTF-8"):
        claims.load(path)


def test_latex_sides_are_parsed(tmp_path: Path) -> None:
    text = (
        '[[claim]]\nid = "latex"\n'
        "lhs_latex = '\\frac{\\partial (a - t)^2}{\\partial a}'\n"
        "rhs_latex = '2(a - t)'\n"
    )
    claim = claims.load(write(tmp_path, text)).claims[0]
    a, t = sp.symbols("a t", real=True)
    lhs, rhs = (claims.build(side, claims.Scope()) for side in (claim.lhs, claim.rhs))
    assert sp.simplify(lhs - 2 * (a - t)) == 0 and sp.simplify(rhs - 2 * (a - t)) == 0
    assert lhs.free_symbols == {a, t}


def test_latex_that_cannot_be_read_fails_its_claim_only(tmp_path: Path) -> None:
    text = (
        '[[claim]]\nid = "bad"\nlhs_latex = \'\\frac{\'\nrhs = "x"\n'
        '[[claim]]\nid = "good"\nlhs = "x"\nrhs = "x"\n'
    )
    bad, good = claims.load(write(tmp_path, text)).claims
    assert bad.error.startswith("lhs_latex: col 6: this brace is never closed\n")
    assert not good.error


def test_build_binds_indices_and_sums() -> None:
    scope = claims.Scope()
    scope.env = {"n": 3}
    expr = claims.Expression("s", claims.parse_expression("Sum(z[j]**2, (j, 1, n))", "t"))
    z = [sp.Symbol(f"z[{j}]", real=True) for j in (1, 2, 3)]
    assert claims.build(expr, scope) == sum(v**2 for v in z)


def test_heaviside_takes_the_kink_convention() -> None:
    expr = claims.Expression("H", claims.parse_expression("Heaviside(x)", "t"))
    x = sp.Symbol("x", real=True)
    assert claims.build(expr, claims.Scope()) == sp.Heaviside(x, 0)
