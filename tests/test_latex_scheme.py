"""The network scheme in LaTeX: updates, quantifiers, sums without limits, layered vectors.

Each reading is checked twice: the claim it gives (as SymPy syntax) and the verdict derive
reaches on a small network, right and wrong, so a reading that would let a wrong step pass fails
here. Refusals name what was expected.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from derive.errors import DeriveError
from derive.verify import checker, claims, latex

HEAD = r"""
[network]
activation = "relu"
loss = "mse"
layers = [[2, 2], [2, 3, 2]]

[latex]
layers = "brackets"
loss = 'E_{tot}'
functions = { s = "s" }
names = { "E_{tot}" = "Etot" }
"""


def check(tmp_path: Path, body: str, head: str = HEAD) -> dict[str, checker.Result]:
    path = tmp_path / "scheme.toml"
    path.write_text(head + body, encoding="utf-8")
    return {r.id: r for r in checker.check_file(claims.load(path))}


def claim(cid: str, latex_text: str, extra: str = "", kind: str = "network") -> str:
    return f"\n[[claim]]\nid = {cid!r}\nkind = {kind!r}\nlatex = '{latex_text}'\n{extra}\n"


def read(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path / "read.toml"
    path.write_text(HEAD + body, encoding="utf-8")
    return [
        f"{ast.unparse(c.lhs.tree)} = {ast.unparse(c.rhs.tree)} over "  # type: ignore[arg-type]
        + ", ".join(f"{n} in {lo.text}..{hi.text}" for n, lo, hi in c.indices)
        for c in claims.load(path).claims
    ]


UPDATE = r"w_{i,j}^{[n-1]} \leftarrow w_{i,j}^{[n-1]} - \eta D_{i,j}, \quad D_{i,j} = "
OUTPUT_WEIGHTS = 'indices = { i = [0, "s(n - 1) - 1"], j = [0, "s(n - 2) - 1"] }'


def test_an_update_is_read_as_its_step_being_the_gradient_of_the_loss(tmp_path: Path) -> None:
    exact = UPDATE + r"\frac{\partial E_{tot}}{\partial w_{i,j}^{[n-1]}}"
    assert read(tmp_path, claim("gd", exact, OUTPUT_WEIGHTS, "procedure")) == [
        "Derivative(Etot, w[n - 1, i, j]) = Derivative(Etot, w[n - 1, i, j]) over "
        "i in 0..s(n - 1) - 1, j in 0..s(n - 2) - 1"
    ]
    per_output = UPDATE + r"\frac{\partial E_i}{\partial w_{i,j}^{[n-1]}}"
    stale = UPDATE + r"\frac{\partial E_i}{\partial w_{i,j}^{[n-2]}}"
    results = check(
        tmp_path,
        claim("gd", exact, OUTPUT_WEIGHTS, "procedure")
        + claim("per_output", per_output, OUTPUT_WEIGHTS, "procedure")
        + claim("as_equation", per_output, OUTPUT_WEIGHTS, "network")
        + claim("stale", stale, OUTPUT_WEIGHTS, "procedure"),
    )
    assert results["gd"].verdict == "holds"
    # dE_i/dw is the gradient of E_tot = mean of E_i times the number of outputs: a procedure
    # step up to a positive factor, an equation claim not at all
    assert results["per_output"].verdict == "conditional"
    assert "constant positive multiple of the gradient" in (results["per_output"].condition or "")
    assert results["as_equation"].verdict == "fails"
    assert results["stale"].verdict == "fails"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (r"w \leftarrow w + \eta g", r"is read as w \leftarrow w - \eta g"),
        (r"w \leftarrow v - \eta g", r"is read as w \leftarrow w - \eta g"),
        (r"w \leftarrow w - \eta g \eta", r"a rate, a name used nowhere else"),
        (r"w \leftarrow w - g", r"a rate, a name used nowhere else"),
        (r"w + 1 \leftarrow w - \eta g", "an update's left side is the parameter it changes"),
    ],
)
def test_other_updates_are_refused(text: str, message: str) -> None:
    settings = latex.Settings(loss=ast.Name("Etot", ast.Load()))
    with pytest.raises(latex.LatexError) as caught:
        latex.parse_display(text, settings)
    assert message in caught.value.message
    with pytest.raises(latex.LatexError, match="declare it in \\[latex\\]"):
        latex.parse_display(r"w \leftarrow w - \eta g", latex.Settings())


def test_a_quantifier_gives_the_range_of_its_index(tmp_path: Path) -> None:
    outputs, past = r"\llbracket 0, s(n-1) - 1 \rrbracket", r"\llbracket 0, s(n-1) \rrbracket"
    gradient = r"\frac{\partial E_{tot}}{\partial a_i^{[n-1]}}"
    defined = rf"\forall i \in {outputs}, \ {gradient}"
    past_end = rf"\forall i \in {past}, \ {gradient}"
    equation = rf"\forall i \in {outputs}, \ a_i^{{[n-1]}} = \mathrm{{ReLU}}(z_i^{{[n-1]}})"
    assert read(tmp_path, claim("eq", equation)) == [
        "a[n - 1, i] = relu(z[n - 1, i]) over i in 0..s(n - 1) - 1"
    ]
    results = check(
        tmp_path,
        claim("defined", defined)
        + claim("past_end", past_end)
        + claim("eq", equation)
        + claim("declared", equation, 'indices = { i = [0, "s(n - 1) - 1"] }')
        + claim("other", equation, 'indices = { i = [0, "s(n - 1)"] }'),
    )
    assert results["defined"].verdict == "holds"  # dE/da_i exists at every output
    assert results["past_end"].verdict == "fails"  # a_{s(n-1)} is past the last neuron
    assert results["eq"].verdict == results["declared"].verdict == "holds"
    assert results["other"].verdict == "fails"
    assert "i runs over 0..s(n - 1) - 1 in the display but over 0..s(n - 1) in indices" in (
        results["other"].condition or ""
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (r"\forall i \in [0, n], x_i = 1", r"an integer range with both ends: \llbracket"),
        (r"\forall i, x_i = 1", r"expected \in after \forall i"),
        (r"\forall i \in \llbracket 0 \rrbracket, x_i = 1", r"expected \llbracket low, high"),
        (r"x_i = 1, \quad \forall i \in \llbracket 0, n \rrbracket", "a quantifier is read only"),
    ],
)
def test_other_quantifiers_are_refused(text: str, message: str) -> None:
    with pytest.raises(latex.LatexError) as caught:
        latex.parse_display(text, latex.Settings())
    assert message in caught.value.message


SUM = r"\frac{\partial E_{tot}}{\partial w_{i,j}^{[n-2]}} = \sum_{m} "
HIDDEN_WEIGHTS = (
    'indices = { i = [0, "s(n - 2) - 1"], j = [0, "s(n - 3) - 1"] }\nlayers = [[2, 3, 2]]'
)


def test_a_sum_without_limits_runs_over_the_neurons_it_subscripts(tmp_path: Path) -> None:
    through_a = SUM + (
        r"\frac{\partial E_{tot}}{\partial a_m^{[n-2]}} \frac{\partial a_m^{[n-2]}}"
        r"{\partial w_{i,j}^{[n-2]}}"
    )
    through_outputs = SUM + (
        r"\frac{\partial E_{tot}}{\partial a_m^{[n-1]}} \frac{\partial a_m^{[n-1]}}"
        r"{\partial w_{i,j}^{[n-2]}}"
    )
    assert read(tmp_path, claim("a", through_a, HIDDEN_WEIGHTS))[0].endswith(
        "(m, 0, s(n - 2) - 1)) over i in 0..s(n - 2) - 1, j in 0..s(n - 3) - 1"
    )
    results = check(
        tmp_path,
        claim("a", through_a, HIDDEN_WEIGHTS) + claim("outputs", through_outputs, HIDDEN_WEIGHTS),
    )
    assert results["a"].verdict == "holds"
    assert results["outputs"].verdict == "holds"  # the chain rule through the outputs, too


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (r"x = \sum_{m} y", "m subscripts no neuron of a layer here"),
        (r"x = Z^{[l]} A^{[l]}", "a product of two vectors"),
        (
            r"x = \sum_{m} a_m^{[1]} w_{i,m}^{[1]}",
            "m runs over 0..s(1) - 1 in a[1, m] but over 0..s(1 - 1) - 1 in w[1, i, m]",
        ),
    ],
)
def test_a_sum_without_limits_needs_one_range(text: str, message: str) -> None:
    settings = latex.Settings(layers="brackets").for_claim({"i"}, network=True)
    with pytest.raises(latex.LatexError) as caught:
        latex.parse_display(text, settings)
    assert message in caught.value.message


def test_layered_vectors_and_matrices_are_read_row_by_row(tmp_path: Path) -> None:
    forward = r"Z^{[l]} = W^{[l]} \cdot A^{[l-1]}"
    layer = 'indices = { l = [1, "n - 1"] }'
    assert read(tmp_path, claim("z", forward, layer)) == [
        "z[l, i] = Sum(w[l, i, j] * a[l - 1, j], (j, 0, s(l - 1) - 1)) "
        "over l in 1..n - 1, i in 0..s(l) - 1"
    ]
    declared = 'indices = { l = [1, "n - 1"], i = [0, "s(l) - 1"] }'  # i is that row: taken
    assert read(tmp_path, claim("z", forward, declared)) == [
        "z[l, i] = Sum(w[l, i, k] * a[l - 1, k], (k, 0, s(l - 1) - 1)) "
        "over l in 1..n - 1, i in 0..s(l) - 1"
    ]
    results = check(
        tmp_path,
        claim("z", forward, layer)
        + claim("a", r"A^{[l]} = \mathrm{ReLU}(Z^{[l]})", layer)
        + claim("lower", r"a^{[l]} = \mathrm{ReLU}(W^{[l]} a^{[l-1]})", layer)
        + claim("wrong", r"Z^{[l]} = 2 W^{[l]} A^{[l-1]}", layer)
        + claim("lengths", r"Z^{[l]} = W^{[l]} A^{[l]}", layer)
        + claim("matrix", r"Z^{[l]} = W^{[l]}", layer),
    )
    assert [results[c].verdict for c in ("z", "a", "lower")] == ["holds"] * 3
    assert results["wrong"].verdict == "fails"
    # W^{[l]} A^{[l]} is defined only where s(l - 1) = s(l): that relation is checked too
    assert results["lengths.2"].statement == "read as s(l - 1) = s(l)"
    assert results["lengths.2"].verdict == "fails"
    assert "is read only in a product with a vector" in (results["matrix"].condition or "")


# the notes' (1), as printed: z runs to s(l) and a to n, and the last row's second entry is w_{0,1}
ELIDED = (
    r"\begin{pmatrix} z_0^{[l]} \\ z_1^{[l]} \\ \dots \\ z_{s(l)}^{[l]} \end{pmatrix} = "
    r"\begin{pmatrix} w_{0,0} & w_{0,1} & \dots & w_{0,s(l-1)-1}^{[l]} \\ "
    r"w_{1,0} & \dots & \dots & \dots \\ \dots & \dots & \dots & \dots \\ "
    r"w_{s(l)-1,0} & w_{0,1} & \dots & w_{s(l)-1,s(l-1)-1}^{[l]} \end{pmatrix} \cdot "
    r"\begin{pmatrix} a_0^{[l-1]} \\ a_1^{[l-1]} \\ \dots \\ a_n^{[l-1]} \end{pmatrix}"
)
CORRECTED = (
    r"\begin{pmatrix} z_0^{[l]} \\ \vdots \\ z_{s(l)-1}^{[l]} \end{pmatrix} = "
    r"\begin{bmatrix} w_{0,0}^{[l]} & \cdots & w_{0,s(l-1)-1} \\ \vdots & \ddots & \vdots \\ "
    r"w_{s(l)-1,0} & \cdots & w_{s(l)-1,s(l-1)-1} \end{bmatrix} "
    r"\begin{pmatrix} a_0^{[l-1]} \\ \vdots \\ a_{s(l-1)-1}^{[l-1]} \end{pmatrix}"
)


def test_elided_matrices_follow_their_first_row_and_column(tmp_path: Path) -> None:
    layer = 'indices = { l = [1, "n - 1"] }'
    assert read(tmp_path, claim("notes", ELIDED, layer)) == [
        "z[l, i] = Sum((w[l, i, j] + KroneckerDelta(i, s(l) - 1) * KroneckerDelta(j, 1) * "
        "(w[l, 0, 1] - w[l, i, j])) * a[l - 1, j], (j, 0, s(l - 1) - 1)) "
        "over l in 1..n - 1, i in 0..s(l)",
        "s(l - 1) = n + 1 over l in 1..n - 1, i in 0..s(l)",  # columns of W, entries of a
        "s(l) + 1 = s(l) over l in 1..n - 1, i in 0..s(l)",  # entries of z, rows of W
    ]
    assert read(tmp_path, claim("corrected", CORRECTED, layer)) == [
        "z[l, i] = Sum(w[l, i, j] * a[l - 1, j], (j, 0, s(l - 1) - 1)) "
        "over l in 1..n - 1, i in 0..s(l) - 1"
    ]
    results = check(tmp_path, claim("notes", ELIDED, layer) + claim("corrected", CORRECTED, layer))
    assert [results[f"notes.{k}"].verdict for k in (1, 2, 3)] == ["fails"] * 3
    assert results["corrected"].verdict == "holds"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (r"\begin{pmatrix} a_0 & a_1 \end{pmatrix} = 0", "a row vector is not read"),
        (r"\begin{pmatrix} a_0 \\ a_2 \end{pmatrix} = 0", "count up by one"),
        (r"\begin{pmatrix} a_i \\ \dots \\ a_n \end{pmatrix} = 0", "written as integers"),
        (r"\begin{pmatrix} a_0 \\ \dots \\ a_n \end{pmatrix} = 0", "write it on one at least"),
        (
            r"\begin{pmatrix} a_0^{[1]} \\ \dots \\ a_n \\ \dots \\ a_m \end{pmatrix} = 0",
            "one \\dots, just before the last entry",
        ),
        (r"\begin{pmatrix} a_0^{[1]} \\ z_1^{[1]} \end{pmatrix} = 0", "one name is read"),
        (r"\begin{pmatrix} x + 1 \\ \dots \end{pmatrix} = 0", "one indexed name"),
        (
            r"\begin{pmatrix} w_{0,0}^{[1]} & w_{1,1} \\ w_{1,0} & w_{1,1} \end{pmatrix} = 0",
            "the first row and column give the matrix's indices",
        ),
        (r"\begin{vmatrix} a_0 \end{vmatrix} = 0", "the environment vmatrix is not read"),
    ],
)
def test_other_matrices_are_refused(text: str, message: str) -> None:
    settings = latex.Settings(layers="brackets").for_claim({"l", "i", "m"}, network=True)
    with pytest.raises(latex.LatexError) as caught:
        latex.parse_display(text, settings)
    assert message in caught.value.message
    with pytest.raises(latex.LatexError, match="a matrix written out is read in a network claim"):
        latex.parse_display(r"\begin{pmatrix} a_0 \\ a_1 \end{pmatrix} = 0", latex.Settings())


def test_a_layered_vector_is_not_read_in_one_side(tmp_path: Path) -> None:
    body = '\n[[claim]]\nid = "side"\nkind = "network"\nlhs_latex = \'Z^{[l]}\'\nrhs = "0"\n'
    result = check(tmp_path, body)["side"]
    assert result.verdict == "fails"
    assert "read only in a claim given by its latex" in (result.condition or "")


def test_the_loss_is_declared_as_latex(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[latex]\nloss = '\\frac{'\n[[claim]]\nid = 'x'\nlhs = 'x'\nrhs = 'x'\n")
    with pytest.raises(DeriveError, match=r"latex\.loss: col"):
        claims.load(path)
