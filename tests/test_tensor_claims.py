"""Claims files, second edition: [symbols], [definitions], vectors and matrices, domains."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest
import sympy as sp

from derive import cli
from derive.errors import DeriveError
from derive.verify import checker, claims

NETWORK = """
[symbols]
n = { size = [1, 2] }
h = { size = [1, 2] }
m = { size = [2] }
x = { shape = ["n"] }
W1 = { shape = ["h", "n"] }
b1 = { shape = ["h"] }
W2 = { shape = ["m", "h"] }
b2 = { shape = ["m"] }
y = { shape = ["m"], domain = "one_hot" }

[definitions]
z1 = "W1 @ x + b1"
a1 = "sigmoid(z1)"
z2 = "W2 @ a1 + b2"
a2 = "softmax(z2)"
C = "-sum(y * log(a2))"
"""


def load(tmp_path: Path, text: str) -> claims.ClaimsFile:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    return claims.load(path)


def verdicts(tmp_path: Path, text: str) -> dict[str, checker.Result]:
    cfile = load(tmp_path, text)
    return {claim.id: checker.check_claim(claim, cfile) for claim in cfile.claims}


def claim(cid: str, lhs: str, rhs: str, extra: str = "") -> str:
    return f'\n[[claim]]\nid = "{cid}"\nlhs = "{lhs}"\nrhs = "{rhs}"\n{extra}'


def assert_values_at_point(result: checker.Result) -> None:
    """The counterexample's entry really differs at its point."""
    evidence = result.evidence
    assert evidence is not None and evidence.point is not None
    assert evidence.lhs is not None and evidence.rhs is not None
    true, stated = evidence.lhs.xreplace(evidence.point), evidence.rhs.xreplace(evidence.point)
    assert abs(complex(sp.N(true - stated, 30))) > 1e-12


def test_backprop_equations_in_matrix_form_hold(tmp_path: Path) -> None:
    text = NETWORK + claim("BP1", "grad(C, z2)", "a2 - y")
    text += claim("BP2", "grad(C, z1)", "(W2.T @ grad(C, z2)) * sigmoid'(z1)")
    text += claim("BP3", "grad(C, b1)", "grad(C, z1)")
    text += claim("BP4", "grad(C, W1)", "outer(grad(C, z1), x)")
    results = verdicts(tmp_path, text)
    assert {k: r.verdict for k, r in results.items()} == dict.fromkeys(results, "holds")
    # a2 - y needs sum(y) = 1: the report says the one-hot domain was used
    assert "y one_hot" in (results["BP1"].condition or "")
    assert results["BP4"].condition is None


def test_a_missing_activation_derivative_names_sizes_entry_point_and_values(
    tmp_path: Path,
) -> None:
    result = verdicts(tmp_path, NETWORK + claim("BP2", "grad(C, z1)", "W2.T @ grad(C, z2)"))["BP2"]
    assert result.verdict == "fails"
    example = result.counterexample
    assert example is not None
    assert example["at"] == "n=1, h=1, m=2, y=[1, 0], grad(C, z1)[0]"
    assert set(example["point"]) >= {"W1[0, 0]", "x[0]", "b2[1]"}  # type: ignore[arg-type]
    assert example["stated"] != example["true"]
    assert_values_at_point(result)
    assert result.corrected == "W2.T @ grad(C, z2) * sigmoid'(z1)"  # the derivative put back


def test_a_missing_transpose_fails_where_the_shapes_differ_and_is_corrected(tmp_path: Path) -> None:
    text = NETWORK.replace("m = { size = [2] }", "m = { size = [3] }")
    rhs = "(W2 @ grad(C, z2)) * sigmoid'(z1)"
    result = verdicts(tmp_path, text + claim("t", "grad(C, z1)", rhs))["t"]
    assert result.verdict == "fails"
    assert result.counterexample == {
        "at": "n=1, h=1, m=3, y=[1, 0, 0]",
        "missing": "W2 @ grad(C, z2): shapes (3, 1) and (3,) do not fit",
    }
    assert result.corrected == "W2.T @ grad(C, z2) * sigmoid'(z1)"  # the matrix form that holds


def test_chain_rule_through_a_defined_scalar(tmp_path: Path) -> None:
    text = '[symbols]\nx = {}\n[definitions]\nu = "tanh(x)"\nC = "u**2"\n'
    text += claim("by_u", "Derivative(C, u)", "2*u")
    text += claim("by_x", "Derivative(C, x)", "Derivative(C, u) * (1 - u**2)")
    results = verdicts(tmp_path, text)
    assert [r.verdict for r in results.values()] == ["holds", "holds"]


def test_a_definition_may_be_a_derivative_by_a_defined_quantity(tmp_path: Path) -> None:
    # grad(C, z) inside [definitions] once recursed: building g built every definition, g too
    text = '[symbols]\nw = {}\nx = {}\n[definitions]\nz = "w*x"\nC = "z**2"\n'
    text += 'g = "grad(C, z)"\nh = "grad(g * C, z)"\n'
    text += claim("g", "g", "2*z") + claim("g.wrong", "g", "3*z") + claim("h", "h", "6*z**2")
    text += claim("by_w", "Derivative(C, w)", "g * x")
    results = verdicts(tmp_path, text)
    assert {cid: r.verdict for cid, r in results.items()} == {
        "g": "holds",
        "g.wrong": "fails",
        "h": "holds",
        "by_w": "holds",
    }


@pytest.mark.parametrize(
    ("lhs", "rhs"),
    [
        ("tanh'(x)", "cosh(x)**(-2)"),
        ("Derivative(sinh(x), x)", "cosh(x)"),
        ("Derivative(sin(x), x)", "cos(x)"),
        ("softplus'(x)", "sigmoid(x)"),
        ("sigmoid'(x)", "sigmoid(x) * (1 - sigmoid(x))"),
        ("leaky_relu'(x, alpha)", "Piecewise((1, x > 0), (alpha, True))"),
        ("elu'(x)", "Piecewise((1, x > 0), (exp(x), True))"),
        ("relu'(z)", "indicator(z > 0)"),
        ("jacobian(softmax(z), z)", "diag(softmax(z)) - outer(softmax(z), softmax(z))"),
        ("grad(-log_softmax(z)[k], z)", "softmax(z) - eye(n)[k]"),
        ("sum(ones(n) * z)", "ones(n) @ z"),
        ("eye(n) @ z", "z"),
        ("sigmoid'(2*x)", "sigmoid(2*x) * (1 - sigmoid(2*x))"),
        ("sum(softmax(2*z + 1))", "1"),
        ("log(softmax(z)[k])", "log_softmax(z)[k]"),
    ],
)
def test_functions_of_the_language_hold(tmp_path: Path, lhs: str, rhs: str) -> None:
    text = (
        '[symbols]\nn = { size = [1, 2, 3] }\nx = {}\nalpha = { domain = "(0, 1)" }\n'
        'z = { shape = ["n"] }\nk = { domain = "label < n" }\n'
    )
    assert verdicts(tmp_path, text + claim("c", lhs, rhs))["c"].verdict == "holds"


def test_without_a_rewrite_the_true_entries_are_shown(tmp_path: Path) -> None:
    text = NETWORK + claim("c", "grad(C, z1)", "W2.T @ grad(C, z2) * a1")
    result = verdicts(tmp_path, text)["c"]
    assert result.verdict == "fails"
    corrected = result.corrected or ""
    assert corrected.startswith("at n=1, h=1, m=2, y=[1, 0]: grad(C, z1) = ")
    assert "a1[0]" in corrected and "x[0]" not in corrected  # in the defined quantities


def test_a_wrong_derivative_is_corrected_in_the_claims_own_functions(tmp_path: Path) -> None:
    text = "[symbols]\nx = {}\n" + claim("t", "Derivative(tanh(x), x)", "1 - tanh(x)")
    result = verdicts(tmp_path, text)["t"]
    assert result.verdict == "fails"
    assert result.corrected == "Derivative(tanh(x), x) = 1 - tanh(x)**2"


BATCH = """
[symbols]
N = { size = [1, 2, 3] }
n = { size = [1] }
m = { size = [1, 2] }
X = { shape = ["N", "n"] }
Y = { shape = ["N", "m"] }
W = { shape = ["m", "n"] }
b = { shape = ["m"] }

[definitions]
Z = "X @ W.T + b"
A = "Z"
C = "sum((A - Y)**2) / (2*N)"
"""


def test_a_batch_mean_is_checked_at_several_batch_sizes(tmp_path: Path) -> None:
    text = BATCH + claim("W", "grad(C, W)", "(A - Y).T @ X / N")
    text += claim("b", "grad(C, b)", "sum(A - Y, 0) / N")
    text += claim("dropped", "grad(C, W)", "(A - Y).T @ X")
    results = verdicts(tmp_path, text)
    assert (results["W"].verdict, results["b"].verdict) == ("holds", "holds")
    dropped = results["dropped"]
    assert dropped.verdict == "fails"
    assert dropped.corrected == "1/N*((A - Y).T @ X) (stated = N x true)"
    assert dropped.counterexample is not None and "N=2" in str(dropped.counterexample["at"])


def test_a_pure_scale_error_says_so(tmp_path: Path) -> None:
    text = "[symbols]\nx = {}\nt = {}\n"
    text += claim("half", "Derivative((x - t)**2 / 2, x)", "2*(x - t)")
    result = verdicts(tmp_path, text)["half"]
    assert result.verdict == "fails"
    assert result.corrected == "1/2*(2*(x - t)) (stated = 2 x true)"


def test_a_numeric_claim_is_compared_within_its_tolerance(tmp_path: Path) -> None:
    text = claim("close", "sigmoid(0.5)", "0.62", "tolerance = 0.005")
    text += claim("far", "sigmoid(0.5)", "0.60", "tolerance = 0.005")
    results = verdicts(tmp_path, text)
    assert results["close"].verdict == "holds"
    assert results["far"].verdict == "fails" and results["far"].corrected == "0.622459"


@pytest.mark.parametrize(
    ("text", "message"),
    [  # a file without [symbols] has no [symbols] to declare a name in (F19)
        (
            claim("free", "1000*x", "1001*x", "tolerance = 0.005"),
            "claim free: lhs: unknown name 'x': a claim with a tolerance compares numbers: write "
            "its value, or define it in [definitions]",
        ),
        (
            '[definitions]\ny = "x + 1"\nz = "2*y"\n'
            + claim("read", "z", "4", "tolerance = 0.005"),
            "definitions.y: unknown name 'x': a claim with a tolerance compares numbers: write its "
            "value, or define it in [definitions] (claim read uses y)",
        ),
        (
            "[network]\nlayers = [[1, 1]]\n"
            + claim("net", "Etot", "0", 'kind = "network"\ntolerance = 0.005'),
            "claim net: tolerance: expected an equation claim (a tolerance compares numbers), "
            "found network",
        ),
    ],
)
def test_a_tolerance_claim_without_symbols_says_what_to_write(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(DeriveError) as info:
        load(tmp_path, text)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_tolerance_claim_whose_sides_differ_in_shape_fails_naming_the_shapes(
    tmp_path: Path,
) -> None:
    text = "[symbols]\nn = { size = [2] }\n" + claim("s", "ones(n)", "1", "tolerance = 0.01")
    result = verdicts(tmp_path, text)["s"]
    assert result.verdict == "fails"
    assert result.counterexample == {
        "at": "n=2",
        "missing": "shapes differ: ones(n) is (2,), 1 is scalar",
    }


def test_a_tolerance_claim_reads_a_name_defined_without_symbols(tmp_path: Path) -> None:
    """What the message above says to write works."""
    text = '[definitions]\nx = "0.5"\n' + claim("c", "1000*x", "500", "tolerance = 0.005")
    assert verdicts(tmp_path, text)["c"].verdict == "holds"


def test_an_empty_symbols_table_reads_a_tolerance_claim_in_the_tensor_language(
    tmp_path: Path,
) -> None:
    text = "[symbols]\n" + claim("slope", "sigmoid'(0.5)", "0.235", "tolerance = 0.005")
    assert verdicts(tmp_path, text)["slope"].verdict == "holds"


def test_a_tolerance_claim_leaves_the_other_claims_of_a_file_without_symbols_alone(
    tmp_path: Path,
) -> None:
    """Its plain claims, families and definitions of free names are read as in the first
    edition; its claims with a tolerance compare numbers, a family's too."""
    text = '[definitions]\nhalf = "1/2"\nsq = "x**2"\n"p[i]" = "i/4"\n'
    text += claim("read", "sigmoid(half)", "0.62", "tolerance = 0.005")
    text += claim("misread", "sigmoid(0.5)", "0.6", "tolerance = 0.005")
    text += claim("plain", "Derivative(sq, x)", "2*x")
    text += claim("wrong", "Derivative(x**2, x)", "x")
    text += claim(
        "family", "Sum(KroneckerDelta(i, j), (j, 0, 3))", "1", 'indices = { i = ["0", "3"] }'
    )
    text += claim("values", "p[i]", "0.26*i", 'indices = { i = ["0", "3"] }\ntolerance = 0.02')
    slope = "Subs(Derivative(sigmoid(u), u), u, half)"  # u bound by Subs, j by Product
    text += claim("slope", slope, "Product(0.5, (j, 1, 2)) - 0.015", "tolerance = 0.005")
    cfile = load(tmp_path, text)
    assert cfile.declarations is None
    results = {c.id: checker.check_claim(c, cfile) for c in cfile.claims}
    assert {cid: r.verdict for cid, r in results.items()} == {
        "read": "holds",
        "misread": "fails",
        "plain": "holds",
        "wrong": "fails",
        "family": "holds",
        "values": "fails",
        "slope": "holds",
    }
    assert results["read"].condition == "within the tolerance 0.005 (largest gap 0.00246)"
    assert results["misread"].counterexample == {
        "at": "",
        "point": {"tolerance": "0.005"},
        "stated": "3/5",
        "true": "1/(exp(-1/2) + 1) ≈ 0.622459",
    }
    assert results["misread"].corrected == "0.622459"
    assert results["values"].counterexample is not None
    assert results["values"].counterexample["at"] == "i=3"  # 0.78 against 3/4: past 0.02


def test_a_label_indexes_a_vector(tmp_path: Path) -> None:
    text = '[symbols]\nm = { size = [2, 3] }\nz = { shape = ["m"] }\ny = { domain = "label < m" }\n'
    text += '[definitions]\na = "softmax(z)"\nC = "-log(a[y])"\n'
    text += claim("ce", "grad(C, z)", "a - eye(m)[y]")
    text += claim("wrong", "grad(C, z)", "a")
    results = verdicts(tmp_path, text)
    assert results["ce"].verdict == "holds"
    assert results["wrong"].verdict == "fails"
    assert "y=0" in str(results["wrong"].counterexample)


def test_a_domain_is_used_in_the_proof_and_named(tmp_path: Path) -> None:
    text = '[symbols]\np = { domain = "> 0" }\n' + claim("abs", "Abs(p)", "p")
    result = verdicts(tmp_path, text)["abs"]
    assert result.verdict == "holds" and "p > 0" in (result.condition or "")
    # and where it fails without the domain: a point outside it (a scalar has no entry label)
    place = re.search(r"without it the claim fails at p=(\S+)$", result.condition or "")
    assert place is not None and float(place[1]) <= 0, result.condition


def test_counterexamples_stay_inside_the_domain(tmp_path: Path) -> None:
    text = '[symbols]\np = { domain = "(0, 1)" }\n' + claim("log", "log(p)**2", "log(p)")
    result = verdicts(tmp_path, text)["log"]
    assert result.verdict == "fails"
    assert result.evidence is not None and result.evidence.point is not None
    (value,) = result.evidence.point.values()
    assert 0 < value < 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (NETWORK.replace('"W2 @ a1 + b2"', '"W3 @ a1 + b2"'), "unknown name 'W3' (did you mean"),
        (NETWORK + claim("c", "grad(C, z2)", "a2 - Y"), "claim c: rhs: unknown name 'Y'"),
        (NETWORK.replace('z1 = "W1 @ x + b1"', 'z1 = "W1 @ a1"'), "'a1' is defined further down"),
        (NETWORK + claim("c", "grad(C, z2)", "sigmod(z2)"), "did you mean 'sigmoid'"),
        (NETWORK + claim("c", "foo'(z2)", "z2"), "foo' is not a derivative derive knows"),
        (NETWORK + claim("c", "z2.shape", "z2"), "only .T"),
        ('[symbols]\nx = { shape = ["k"] }\n' + claim("c", "x", "x"), "symbols.x"),
        ('[symbols]\nx = { domain = "< 3" }\n' + claim("c", "x", "x"), "symbols.x.domain"),
        ('[symbols]\nx = {}\n[definitions]\nx = "1"\n' + claim("c", "x", "x"), "definitions.x"),
        ('[symbols]\ny = { domain = "label < 0" }\n' + claim("c", "y", "y"), "label < a size"),
        ("[symbols]\nn = { size = [1], shape = [2] }\n" + claim("c", "n", "n"), "a size alone"),
        (  # an instance with no entries would make every claim hold vacuously
            '[symbols]\nn = { size = [1] }\nx = { shape = ["n"] }\n'
            + claim("c", "sum(x)", "sum(x) + 1")
            + "sizes = { n = [0] }\n",
            "claim c: sizes.n: expected sizes 1 to 8, found 0",
        ),
    ],
)
def test_bad_declarations_are_one_line_errors(tmp_path: Path, body: str, message: str) -> None:
    if "[[claim]]" not in body:
        body += claim("c", "C", "C")
    with pytest.raises(DeriveError) as info:
        load(tmp_path, body)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_an_unknown_function_lists_only_names_a_user_can_write(tmp_path: Path) -> None:
    """sigmoid'(z) is written with a prime; its pre-lexed name sigmoid__prime is internal."""
    with pytest.raises(DeriveError) as info:
        load(tmp_path, NETWORK + claim("c", "qqqqqq(z2)", "z2"))
    allowed = str(info.value).split("(allowed: ", 1)[1]
    assert "__" not in allowed
    assert "sigmoid," in allowed and "sigmoid'," in allowed and "log_softmax;" in allowed


def test_a_derivative_by_an_unused_quantity_is_reported(tmp_path: Path) -> None:
    text = NETWORK + '\n[[claim]]\nid = "c"\nlhs = "Derivative(C, W1[1, 0])"\nrhs = "0"\n'
    cfile = load(tmp_path, text.replace('z1 = "W1 @ x + b1"', 'z1 = "b1"'))
    with pytest.raises(DeriveError, match=r"claim c: lhs: C does not depend on W1\[1, 0\]"):
        checker.check_claim(cfile.claims[0], cfile)


def test_the_cli_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(NETWORK + claim("c", "grad(C, z3)", "a2 - y"), encoding="utf-8")
    assert cli.main(["verify", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown name 'z3' (did you mean 'z2'?)" in err


HOSTILE_HEAD = """
[symbols]
n = { size = [1, 2] }
x = { shape = ["n"] }
W = { shape = ["n", "n"] }
y = { shape = ["n"], domain = "one_hot" }
k = { domain = "label < n" }
s = {}
[definitions]
C = "sum((W @ x)**2)"
"""


@pytest.mark.parametrize(
    ("lhs", "message"),
    [
        ("grad(C, 3)", "3 is not a declared or defined quantity"),
        ("grad(C, y)", "y is fixed by its domain"),
        ("x[1.5]", "must be an integer"),
        ("sum(x, 5)", "sum over axis 5"),
        ("ones(100)", "a size from 1 to 64"),
        ("jacobian(C, x)", "jacobian(u, v) takes two vectors"),
        ("x @ s", "@ takes vectors or matrices"),
        ("x ** x", "an exponent must be a scalar"),
        ("indicator(x)", "indicator takes a comparison"),
        ("sigmoid'(x, x)", "wrong number of arguments to sigmoid'"),
        ("Eq(x, x)", "x must be a scalar here"),
        ("grad(k, x)", "k does not depend on x"),
    ],
)
def test_bad_expressions_are_one_line_errors(tmp_path: Path, lhs: str, message: str) -> None:
    with pytest.raises(DeriveError) as info:
        verdicts(tmp_path, HOSTILE_HEAD + claim("c", lhs, "0"))
    assert message in str(info.value) and "claim c" in str(info.value)


@pytest.mark.parametrize(
    ("lhs", "missing"),
    [
        ("W[5, 5]", "W[5, 5] is out of range: shape (1, 1)"),
        ("outer(W, x)", "W must be a vector, found shape (1, 1)"),
        ("1/(x - x)", "1/(x - x) is not a finite real expression (zoo)"),
        ("Max(x, W)", "shapes differ: Max(x, W) is (1, 1), 0 is scalar"),
    ],
)
def test_sides_that_cannot_be_compared_fail_saying_why(
    tmp_path: Path, lhs: str, missing: str
) -> None:
    result = verdicts(tmp_path, HOSTILE_HEAD + claim("c", lhs, "0"))["c"]
    assert result.verdict == "fails"
    assert result.counterexample == {"at": "n=1", "missing": missing}


SHORTHAND = """
[symbols]
n = { size = [1, 2] }
h = { size = [1, 2] }
m = { size = [2] }

[network]
layers = ["n", "h", "m"]
activations = ["tanh", "softmax"]
loss = "cross_entropy"
"""


def test_the_network_shorthand_writes_the_definitions(tmp_path: Path) -> None:
    text = SHORTHAND + claim("out", "grad(C, z2)", "a2 - y")
    text += claim("hidden", "grad(C, z1)", "(W2.T @ (a2 - y)) * (1 - a1**2)")
    text += claim("W1", "grad(C, W1)", "outer(grad(C, z1), x)")
    cfile = load(tmp_path, text)
    assert cfile.network is None and cfile.declarations is not None
    assert dict(cfile.declarations.definitions)["z1"].text == "W1 @ x + b1"
    assert cfile.declarations.symbols["y"].domain == "one_hot"
    results = {c.id: checker.check_claim(c, cfile).verdict for c in cfile.claims}
    assert results == {"out": "holds", "hidden": "holds", "W1": "holds"}


def test_the_network_shorthand_over_a_batch(tmp_path: Path) -> None:
    text = (
        "[symbols]\nN = { size = [1, 2] }\nn = { size = [1] }\nm = { size = [1, 2] }\n"
        '[network]\nlayers = ["n", "m"]\nactivation = "sigmoid"\nloss = "mse"\nbatch = "N"\n'
    )
    text += claim("W1", "grad(C, W1)", "(2 * (a1 - Y) * a1 * (1 - a1) / (m * N)).T @ X")
    text += claim("mean", "grad(C, W1)", "(2 * (a1 - Y) * a1 * (1 - a1) / m).T @ X")
    cfile = load(tmp_path, text)
    assert dict(cfile.declarations.definitions)["C"].text == "(sum((a1 - Y)**2) / m) / N"  # type: ignore[union-attr]
    results = {c.id: checker.check_claim(c, cfile) for c in cfile.claims}
    assert results["W1"].verdict == "holds"
    assert (
        results["mean"].corrected
        == "1/N*((2 * (a1 - Y) * a1 * (1 - a1) / m).T @ X) (stated = N x true)"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ('activations = ["softmax", "softmax"]', "softmax on the output only"),
        ('activations = ["swish", "softmax"]', "network.activations"),
        ('activations = ["tanh"]', "network.activations"),
        ("activations = 3", "network.activations"),
        ('layers = ["n"]', "network.layers"),
        ("loss = 3", "network.loss"),
    ],
)
def test_a_bad_network_shorthand_is_refused(tmp_path: Path, change: str, message: str) -> None:
    key = change.split(" = ")[0]
    text = "\n".join(
        change if line.startswith(key + " = ") else line for line in SHORTHAND.splitlines()
    )
    with pytest.raises(DeriveError, match=message):
        load(tmp_path, text + claim("c", "C", "C"))


def test_the_shorthand_and_symbols_may_not_both_define_a_name(tmp_path: Path) -> None:
    text = SHORTHAND.replace("m = { size = [2] }", "m = { size = [2] }\nW1 = {}")
    with pytest.raises(DeriveError, match="network: defines 'W1', which"):
        load(tmp_path, text + claim("c", "C", "C"))


def test_probabilities_sum_to_one_in_the_proof(tmp_path: Path) -> None:
    text = '[symbols]\nm = { size = [1, 2, 3] }\nz = { shape = ["m"] }\n'
    text += 'p = { shape = ["m"], domain = "probabilities" }\n'
    text += '[definitions]\nC = "-sum(p * log_softmax(z))"\n'
    text += claim("soft", "grad(C, z)", "softmax(z) - p")
    text += claim("sum", "sum(p)", "1")
    results = verdicts(tmp_path, text)
    assert results["soft"].verdict == "holds" and "p probabilities" in (
        results["soft"].condition or ""
    )
    assert results["sum"].verdict == "holds"


def test_a_claim_checks_at_its_own_sizes_and_tries_its_readings(tmp_path: Path) -> None:
    text = '[symbols]\nm = { size = [1, 2, 3] }\na = { shape = ["m"] }\ny = { shape = ["m"] }\n'
    text += '[definitions]\nC = "sum((a - y)**2)"\n'
    reading = 'conditions = [{ text = "C halved", lhs = "grad(C / 2, a)" }]\nsizes = { m = [2] }'
    text += claim("half", "grad(C, a)", "a - y", reading)
    result = verdicts(tmp_path, text)["half"]
    assert (result.verdict, result.condition) == ("conditional", "C halved")
    assert result.counterexample is not None and result.counterexample["at"].startswith("m=2")  # type: ignore[union-attr]


def test_results_with_domain_symbols_pickle(tmp_path: Path) -> None:
    """A claim may be checked in a worker process: its result crosses by pickle."""
    text = '[symbols]\nm = { size = [3] }\np = { shape = ["m"], domain = "probabilities" }\n'
    text += 'q = { domain = "(0, 1)" }\n' + claim("c", "sum(p * p)", "q")
    result = verdicts(tmp_path, text)["c"]
    assert result.verdict == "fails" and result.evidence is not None
    again = pickle.loads(pickle.dumps(result))
    assert again.evidence.point == result.evidence.point
    assert {type(s).__name__ for s in again.evidence.point} == {"Probability3", "UnitInterval"}


def test_a_reading_that_needs_other_sizes_is_skipped(tmp_path: Path) -> None:
    text = '[symbols]\nm = { size = [1, 2] }\nk = { size = [3] }\na = { shape = ["m"] }\n'
    text += 'y = { shape = ["m"] }\nv = { shape = ["k"] }\n[definitions]\nC = "sum((a - y)**2)"\n'
    readings = 'conditions = [{ text = "v", lhs = "v" }, { text = "half", lhs = "grad(C / 2, a)" }]'
    result = verdicts(tmp_path, text + claim("c", "grad(C, a)", "a - y", readings))["c"]
    assert (result.verdict, result.condition) == ("conditional", "half")


def test_an_entry_the_checker_cannot_decide_never_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the checker neither proves nor refutes an entry, its status is the verdict."""

    def undecided(out: checker.Outcome, *args: object) -> None:
        out.status, out.reason = "unproven", "no proof and no counterexample"

    monkeypatch.setattr(checker, "_decide_instance", undecided)
    text = '[symbols]\nn = { size = [2] }\nx = { shape = ["n"] }\n'
    result = verdicts(tmp_path, text + claim("c", "grad(sum(x**2), x)", "2*x"))["c"]
    assert result.verdict == "unproven"
    assert result.tried == "n=2, grad(sum(x**2), x)[0]: no proof and no counterexample"
