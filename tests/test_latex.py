"""The LaTeX front end: what each construct is read as, what is refused and where, hostile input.

Readings are compared as the SymPy-syntax text the front end translates to (the same trees
`derive verify` builds and checks), so each row says exactly how derive reads the LaTeX.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from derive.cli import main
from derive.verify import checker, claims, latex

PLAIN = latex.Settings()
INDEXED = PLAIN.for_claim({"i", "j", "k", "n"}, network=False)
NOTES = latex.Settings(layers="brackets").for_claim({"i", "l", "m"}, network=True)
NIELSEN = latex.Settings(layers="superscript").for_claim({"j", "k", "l"}, network=True)


def read(text: str, settings: latex.Settings = PLAIN) -> list[str]:
    display = latex.parse_display(text, settings)
    return [f"{ast.unparse(r.lhs)} = {ast.unparse(r.rhs)}" for r in display.relations]


@pytest.mark.parametrize(
    ("text", "settings", "expected"),
    [
        (r"e^{-x} = \exp(-x)", PLAIN, "exp(-x) = exp(-x)"),
        (
            r"\sigma'(z) = \sigma(z)(1-\sigma(z))",
            PLAIN,
            "Derivative(sigmoid(z), z) = sigmoid(z) * (1 - sigmoid(z))",
        ),
        (
            r"f'(2x) = 1",
            latex.Settings(functions=(("f", "tanh"),)),
            "Subs(Derivative(tanh(u1), u1), u1, 2 * x) = 1",
        ),
        (r"\tanh^2(x) + \ln x = \log(x)", PLAIN, "tanh(x) ** 2 + log(x) = log(x)"),
        (r"\cosh(x) = 1", PLAIN, "(exp(x) + exp(-x)) / 2 = 1"),
        (r"\max(0, x) = \left( x \right)", PLAIN, "Max(0, x) = x"),
        (r"\left[ a \right] \cdot b \times c \odot d \circ g = 1", PLAIN, "a * b * c * d * g = 1"),
        (r"(a^{L-1})^T + b^\top + c^{\intercal} = 0", PLAIN, "a ** (L - 1) + b + c = 0"),
        (
            r"\sum_{i=1}^{n} x_i = \frac{dE}{dx}",
            INDEXED.with_names("t", {"E": "x**2"}),
            "Sum(x[i], (i, 1, n)) = Derivative(x ** 2, x)",
        ),
        (
            r"\frac{\partial C}{\partial w^l_{jk}} = a^{l-1}_k \delta^l_j",
            NIELSEN.with_names("t", {"C": "Etot"}),
            "Derivative(Etot, w[l, j, k]) = a[l - 1, k] * delta[l, j]",
        ),
        (
            r"\frac{\partial E_i}{\partial a_i^{[n-1]}} = 2",
            NOTES,
            "Derivative(E[i], a[n - 1, i]) = 2",
        ),
        (
            r"w^{[l]}_{jk} + a_i^{[n-1]} = 0",
            NOTES.for_claim({"j", "k", "i"}, True),
            "w[l, j, k] + a[n - 1, i] = 0",
        ),
        (
            r"\delta_{ik} = \mathbb{1}[i = k]",
            INDEXED,
            "KroneckerDelta(i, k) = Piecewise((1, Eq(i, k)), (0, True))",
        ),
        (
            r"\hat{y}_i - \mathbf{y}_i + \vec{x} = \mathrm{x} + \text{z}",
            INDEXED,
            "y_hat[i] - y[i] + x = x + z",
        ),
        (
            r"\nabla_a C = 1",
            latex.Settings(macros=()).with_names("t", {"C": "a**2"}),
            "Derivative(a ** 2, a) = 1",
        ),
        (
            r"r = \begin{cases} x & \text{if } x > 0 \\ 0 & \text{otherwise} \end{cases}",
            PLAIN,
            "r = Piecewise((x, x > 0), (0, True))",
        ),
        (
            r"r = \begin{cases} 1 & x \in \mathbb{R}_+^* \\ 0 & x \in \mathbb{R}_- \end{cases}",
            PLAIN,
            "r = Piecewise((1, x > 0), (0, x <= 0))",
        ),
        (r"\begin{aligned} y &= a \\ &= b \\ &= c \end{aligned}", PLAIN, "y = a|y = b|y = c"),
        (r"y = a = b \quad (3)", PLAIN, "y = a|y = b"),
        (r"\frac{d}{dx} x^2 y = 2xy", PLAIN, "Derivative(x ** 2 * y, x) = 2 * x * y"),
        (
            r"\sum_{j=1, j \neq i}^n e^{z_j} = k",
            INDEXED,
            "Sum((1 - KroneckerDelta(j, i)) * exp(z[j]), (j, 1, n)) = k",
        ),
        (
            r"\frac{\partial s}{\partial z} = s, \quad \text{where } s = e^{z}",
            PLAIN,
            "Derivative(exp(z), z) = exp(z)",
        ),
        (
            r"E = \sum_{i=0}^{n} E_i, \quad E_i = (a_i - t_i)^2",
            INDEXED.for_claim({"n"}, False),
            "E = Sum((a[i] - t[i]) ** 2, (i, 0, n))",
        ),
        (r"e = mc^2", latex.Settings(symbols=frozenset({"e"})), "e = m * c ** 2"),
        (r"\sigma = 1", latex.Settings(symbols=frozenset({"sigma"})), "sigma = 1"),
    ],
)
def test_reading(text: str, settings: latex.Settings, expected: str) -> None:
    assert "|".join(read(text, settings)) == expected


def test_products_are_read_and_built(tmp_path: Path) -> None:
    assert read(r"\prod_{i=1}^{n} x_i = 1", INDEXED) == ["Product(x[i], (i, 1, n)) = 1"]
    path = tmp_path / "prod.toml"
    path.write_text(
        "[[claim]]\nid = 'right'\nlatex = '\\frac{d}{dx} \\prod_{i=1}^{3} x = 3x^2'\n"
        "[[claim]]\nid = 'wrong'\nlatex = '\\frac{d}{dx} \\prod_{i=1}^{3} x = 2x^2'\n"
    )
    assert [r.verdict for r in checker.check_file(claims.load(path))] == ["holds", "fails"]


def test_conditions_after_the_equation_restrict_the_instances() -> None:
    display = latex.parse_display(
        r"\frac{\partial f}{\partial x} = 0,\quad i \neq j.",
        latex.Settings().with_names("t", {"f": "x"}).for_claim({"i", "j"}, False),
    )
    assert [ast.unparse(c) for c in display.conditions] == ["Ne(i, j)"]


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        (r"\frac{a}{\foo} = 1", 10, r"\foo is not a function derive knows (did you mean"),
        (r"\frac{\partial z}{\partial x} = 1", 16, "nothing defines z in terms of x"),
        (r"a \leftarrow b", 3, "an update is read as gradient descent on the loss: declare it"),
        (r"x_1 + \dots + x_n = 1", 7, "elided terms"),
        (r"\begin{pmatrix} 1 \end{pmatrix} = 1", 1, "a matrix written out is read in a network"),
        (r"x = \frac{1}{2", 13, "this brace is never closed"),
        (r"x + y", 1, "an expression without '=' is not a claim"),
        (r"\sum_k x_k = 1", 1, "a sum without limits: write them, or declare [latex] sum_range"),
    ],
)
def test_refusal_points_at_the_place(text: str, column: int, message: str) -> None:
    with pytest.raises(latex.LatexError) as caught:
        latex.parse_display(text, PLAIN)
    shown = caught.value.show("rhs_latex", text)
    first, line, caret = shown.splitlines()
    assert first.startswith(f"rhs_latex: col {column}: ") and message in first
    assert line == f"    {text}" and caret == " " * (3 + column) + "^"


@pytest.mark.parametrize(
    "text",
    [
        "x+" * 5000 + "x",  # too many tokens
        "(" * 400 + "x" + ")" * 400,  # too deep
        r"\frac{" * 200 + "x" + "}{2}" * 200,
        "-" * 3000 + "x",
        "x^{" * 300 + "2" + "}" * 300,
        r"\left(" * 300 + "x" + r"\right)" * 300,
        "{" * 5000,
        r"\hat{y} \left( y , x",  # a name's argument list never closed: once a hang
    ],
)
def test_hostile_input_is_refused_with_a_message(text: str) -> None:
    with pytest.raises(latex.LatexError) as caught:
        latex.parse_side(text, PLAIN)
    assert caught.value.message


def test_a_long_flat_sum_is_read_in_one_pass_then_capped() -> None:
    """800 characters (SymPy's Earley parser takes seconds): tokenized and read, then refused
    by the claims language's depth cap before anything recurses on the tree."""
    with pytest.raises(latex.LatexError, match="too large or too deeply nested"):
        latex.parse_side("x+" * 400 + "x", PLAIN)
    assert ast.unparse(latex.parse_side("x+" * 30 + "x", PLAIN)).count("x") == 31


def test_nothing_is_evaluated(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = f"\\text{{__import__('os').system('touch {marker}')}} = 1"
    with pytest.raises(latex.LatexError):
        latex.parse_display(text, PLAIN)
    assert not marker.exists()


CHAIN = r"""
[[claim]]
id = "softmax"
sizes = { n = [2, 3] }
indices = { i = [1, "n"] }
latex = '''
\begin{aligned}
\frac{\partial s_{z_i}}{\partial z_i} &= s_{z_i} - s_{z_i}^2 \\
&= s_{z_i}(1 + s_{z_i}) \\
&= s_{z_i}(1 - s_{z_i})
\end{aligned}'''

[[claim]]
id = "typo"
latex = '\frac{a}{\foo} = 1'

[[claim]]
id = "plain"
lhs = "x"
rhs = "x"
"""


def test_a_chain_is_one_claim_per_line_and_the_report_names_the_broken_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "chain.toml"
    path.write_text('[latex]\nnames = { "s_{z_i}" = "softmax(z, i, 1, n)" }\n' + CHAIN)
    verdicts = {r.id: r.verdict for r in checker.check_file(claims.load(path))}
    assert verdicts == {
        "softmax.1": "holds",
        "softmax.2": "fails",
        "softmax.3": "holds",
        "typo": "fails",
        "plain": "holds",
    }
    assert main(["verify", str(path)]) == 1
    out = capsys.readouterr().out
    assert re.search(r"^softmax +fails +softmax\.2, n=2, i=1: at ", out, re.M)
    assert "col 10: \\foo is not a function derive knows" in out


def test_a_bad_latex_table_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[latex]\nlayers = "sideways"\n[[claim]]\nid = "c"\nlhs = "x"\nrhs = "x"\n')
    assert main(["verify", str(path)]) == 2


def test_latex_that_cannot_be_built_fails_its_claim_only(tmp_path: Path) -> None:
    """a_1 in a network claim reads as a[1], which a network does not have: that claim fails."""
    path = tmp_path / "net.toml"
    path.write_text(
        "[network]\nlayers = [[2, 2]]\n"
        '[[claim]]\nid = "short"\nkind = "network"\nlatex = \'a_1 = 0\'\n'
        '[[claim]]\nid = "fine"\nkind = "network"\nlhs = "n"\nrhs = "2"\n'
    )
    short, fine = checker.check_file(claims.load(path))
    assert short.verdict == "fails" and "a takes 2 indices in a network claim" in (
        short.condition or ""
    )
    assert fine.verdict == "holds"


def test_a_declared_name_may_be_latex(tmp_path: Path) -> None:
    path = tmp_path / "defs.toml"
    path.write_text(
        "[latex.names]  # in order: each may use the names above it\n"
        "'\\hat{y}' = { latex = '\\sigma(z)' }\n"
        "L = { latex = '-(y \\log \\hat{y} + (1 - y) \\log(1 - \\hat{y}))' }\n"
        "[[claim]]\nid = 'bce'\nlatex = '\\frac{\\partial L}{\\partial z} = \\hat{y} - y'\n"
    )
    (claim,) = claims.load(path).claims
    assert claim.statement == (
        "read as Derivative(-(y * log(sigmoid(z)) + (1 - y) * log(1 - sigmoid(z))), z)"
        " = sigmoid(z) - y"
    )
    assert [r.verdict for r in checker.check_file(claims.load(path))] == ["holds"]


def _pieces(text: str) -> list[str]:
    return text.split()


PIECES = [
    *_pieces(r"\frac { } x y _ ^ = + - ( ) [ ] \sum \partial d \sigma ' \left( \right) & \\ >"),
    *_pieces(r"0 1 , \quad \delta \mathbb{1} \in \mathbb{R} \hat{y} e \exp \log | \cdot \nabla"),
    *_pieces(r"\prod i k \neq \begin{aligned} \end{aligned} \begin{cases} \end{cases} \mathbf{x}"),
    *_pieces(r"\tanh 2 . \le"),
    r"\text{if }",
    r"\text{where }",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=16))
def test_any_token_soup_is_read_or_refused_with_a_message(pieces: list[str]) -> None:
    """Never another exception, never a hang (found: an unclosed `\\left(` after a name)."""
    text = " ".join(pieces)
    for parse in (latex.parse_display, latex.parse_side):
        try:
            parse(text, INDEXED)
        except latex.LatexError as exc:
            assert exc.message


VECTOR_X = '[symbols]\nn = { size = [2, 3] }\nx = { shape = ["n"] }\n'


@pytest.mark.parametrize(
    ("header", "text", "expected"),
    [
        ("", r"\sum_{e=1}^{3} e = 3e", "3*exp(1)"),  # the sum's e is its index
        ("", r"W^{[2]} = W^2", "a bracketed superscript (W^{[2]}) names a layer"),
        ("", r"\sum_{i=1}^{2} x^{(i)} = x + x^2", "a parenthesized superscript (x^{(i)})"),
        ("", r"(x + 1)^{(2)} = (x + 1)^2", "a parenthesized superscript"),
        ("", r"\sigma^{-1}(x) = \frac{1}{\sigma(x)}", r"\sigma^{-1} is the inverse function"),
        ("", r"x_12 = x_{12}", "2*x[1]"),  # TeX: x_1 times 2
        ("", r"f(x + y) = f(x) + f(y)", "f(...) would read as f times (...)"),
        ("", r"g(x, y) = g(y, x)", "g(...) would read as g times (...)"),
        (VECTOR_X, r"\|x\|^2 = x \odot x", "sqrt(sum(x ** 2)) ** 2 is scalar"),
        ("", r"2x = x, \quad x = 0", "would replace a variable of the equation"),
        ("", r"2x = x, \quad x = y - y", "would replace a variable of the equation"),
        ("", r"\phi(x + y) = \phi(x) + \phi(y)", "phi(...) would read as phi times (...)"),
        ("", r"u(x + y) = u(x) + u(y)", "u(...) would read as u times (...)"),
    ],
)
def test_a_false_claim_misread_never_holds(
    tmp_path: Path, header: str, text: str, expected: str
) -> None:
    """Findings of a hostile review: each of these once came out `holds`."""
    path = tmp_path / "claim.toml"
    path.write_text(f"{header}[[claim]]\nid = 'c'\nlatex = {json.dumps(text)}\n")
    (result,) = checker.check_file(claims.load(path))
    assert result.verdict == "fails"
    shown = [result.condition, result.corrected, str(result.counterexample)]
    assert expected in " ".join(filter(None, shown))


@pytest.mark.parametrize(
    ("text", "settings", "expected"),
    [
        (r"\sum_{e=1}^{3} e = 6", PLAIN, "Sum(e, (e, 1, 3)) = 6"),
        (r"\frac12 = x", PLAIN, "1 / 2 = x"),  # TeX takes one digit per argument
        (
            r"x^{(i)} = y",
            latex.Settings(layers="superscript", layered=frozenset("x")).for_claim({"i"}, False),
            "x[i] = y",
        ),
        (r"f \cdot (x + y) = f x + f y", PLAIN, "f * (x + y) = f * x + f * y"),
        (r"x (1 - x) = x - x^2", PLAIN, "x * (1 - x) = x - x ** 2"),
        (r"\sigma^2(x) = y", PLAIN, "sigmoid(x) ** 2 = y"),
    ],
)
def test_what_the_refusals_leave_readable(
    text: str, settings: latex.Settings, expected: str
) -> None:
    assert "|".join(read(text, settings)) == expected


def test_the_norm_of_a_vector_is_the_scalar_norm(tmp_path: Path) -> None:
    path = tmp_path / "norm.toml"
    path.write_text(
        f"{VECTOR_X}[[claim]]\nid = 'norm'\nlatex = '\\|x\\|^2 = \\sum x^2'\n"
        "[[claim]]\nid = 'abs'\nlatex = '|x| = x'\n"
    )
    norm, entrywise = checker.check_file(claims.load(path))
    assert norm.verdict == "holds" and entrywise.verdict == "fails"
