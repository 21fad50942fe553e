"""LaTeX in a file with [symbols]: products read by shape, transposes, gradients, definitions.

A product is a matrix product only between operands that both have components (declared
shapes decide); the verdicts below show that a correct gradient holds and a wrong one (a missing
factor, a missing transpose) fails, from LaTeX alone.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from derive.errors import DeriveError
from derive.verify import checker, claims

HEAD = r"""
[symbols]
n = { size = [2, 3] }
h = { size = [2] }
x = { shape = ["n"] }
W = { shape = ["h", "n"] }
b = { shape = ["h"] }
y = { shape = ["h"] }
eta = { domain = "> 0" }

[definitions]
z = { latex = 'W \mathbf{x} + b' }
a = { latex = '\sigma(z)' }
C = { latex = '\frac{1}{2} \sum (a - y)^2' }
"""


def load(tmp_path: Path, body: str, head: str = HEAD) -> claims.ClaimsFile:
    path = tmp_path / "tensors.toml"
    path.write_text(head + body, encoding="utf-8")
    return claims.load(path)


def claim(cid: str, text: str) -> str:
    return f"\n[[claim]]\nid = {cid!r}\nlatex = '''{text}'''\n"


def test_definitions_and_products_are_read_by_shape(tmp_path: Path) -> None:
    cfile = load(tmp_path, claim("dW", r"\frac{\partial C}{\partial W} = \delta x^T"))
    assert cfile.declarations is not None
    read = {name: ast.unparse(e.tree) for name, e in cfile.declarations.definitions}  # type: ignore[arg-type]
    assert read == {"z": "W @ x + b", "a": "sigmoid(z)", "C": "1 / 2 * sum((a - y) ** 2)"}
    rows = {
        r"2 W x = \eta W^T y": "2 * W @ x = eta * W.T @ y",
        r"x^T x = \eta \cdot 1": "x.T @ x = eta * 1",
        r"y^T W x = 1": "y.T @ W @ x = 1",
        r"y x^\top = W": "outer(y, x) = W",
        r"(a - y) \odot \sigma'(z) = a \circ b": "(a - y) * sigmoid__prime(z) = a * b",
        r"\frac{\partial C}{\partial a} = \nabla_z C": "grad(C, a) = grad(C, z)",
        r"\frac{\partial a}{\partial z} = 1": "jacobian(a, z) = 1",
    }
    for text, expected in rows.items():
        (only,) = load(tmp_path, claim("c", text)).claims
        assert f"{ast.unparse(only.lhs.tree)} = {ast.unparse(only.rhs.tree)}" == expected  # type: ignore[arg-type]


def test_layer_names_spell_the_declared_name(tmp_path: Path) -> None:
    head = '[symbols]\nn = { size = [2] }\nW1 = { shape = ["n", "n"] }\nx = { shape = ["n"] }\n'
    (only,) = load(tmp_path, claim("c", r"W_1 x = W^{[1]} W^{(1)T} x"), head).claims
    assert f"{ast.unparse(only.lhs.tree)} = {ast.unparse(only.rhs.tree)}" == (  # type: ignore[arg-type]
        "W1 @ x = W1 @ W1.T @ x"
    )


def test_gradients_from_latex_get_their_verdicts(tmp_path: Path) -> None:
    delta = r"(a - y) \odot \sigma^{\prime}(z)"
    body = (
        claim("delta", rf"\frac{{\partial C}}{{\partial z}} = {delta}")
        + claim("dW", rf"\frac{{\partial C}}{{\partial W}} = \left({delta}\right) x^T")
        + claim("dx", rf"\frac{{\partial C}}{{\partial x}} = W^T ({delta})")
        + claim("dx_no_transpose", rf"\frac{{\partial C}}{{\partial b}} = 2 ({delta})")
        + claim("no_derivative", r"\frac{\partial C}{\partial x} = W^\top (a - y)")
    )
    verdicts = {r.id: r.verdict for r in checker.check_file(load(tmp_path, body))}
    assert verdicts == {
        "delta": "holds",
        "dW": "holds",
        "dx": "holds",
        "dx_no_transpose": "fails",
        "no_derivative": "fails",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (r"q x = 1", "cannot tell whether q is a scalar, a vector or a matrix"),
        (r"\mathbf{1}^T x = 1", "a transpose of a scalar"),
        (r"a y = 1", "a times y is not a matrix product of these shapes"),
        (r"x W = 1", "x times W is not a matrix product"),
        (r"W x^T = 1", "W times x.T is not a matrix product"),
        (r"\frac{\partial C}{\partial x_1} = 1", "differentiate by a declared or defined name"),
        (r"\sigma''(z) = 1", "is not a derivative the tensor language has"),
    ],
)
def test_what_shapes_do_not_decide_is_refused(tmp_path: Path, text: str, message: str) -> None:
    (only,) = load(tmp_path, claim("c", text)).claims
    assert message in only.error


def test_a_latex_definition_is_checked_like_any(tmp_path: Path) -> None:
    for definition, message in (
        ("z = { latex = 'W \\frac{' }", "definitions.z: col"),
        ("z = { text = 'W x' }", "expected an expression string or { latex = '...' }"),
        ("z = { latex = 'W q' }", "cannot tell whether q is"),
    ):
        head = HEAD.replace("z = { latex = 'W \\mathbf{x} + b' }", definition)
        with pytest.raises(DeriveError, match=message.replace("{", "\\{").replace("}", "\\}")):
            load(tmp_path, claim("c", "x = x"), head)
