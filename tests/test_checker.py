"""Deciding claims: holds, fails with an exact counterexample, conditional, families, networks."""

from __future__ import annotations

from pathlib import Path

import sympy as sp

from derive.activations import KINK_CONVENTION
from derive.verify import checker, claims, regions

NETWORK = '[network]\nactivation = "relu"\nloss = "mse"\nlayers = [[2, 2], [3, 1], [2, 2, 2]]\n'


def check(tmp_path: Path, body: str, network: bool = False) -> checker.Result:
    path = tmp_path / "c.toml"
    path.write_text((NETWORK if network else "") + "[[claim]]\n" + body, encoding="utf-8")
    cfile = claims.load(path)
    return checker.check_claim(cfile.claims[0], cfile)


def assert_evidence(result: checker.Result) -> None:
    """The counterexample's values and the corrected form, recomputed at the point."""
    evidence = result.evidence
    assert evidence is not None and evidence.point is not None
    assert evidence.lhs is not None and evidence.rhs is not None
    true = evidence.lhs.xreplace(evidence.point)
    stated = evidence.rhs.xreplace(evidence.point)
    assert true != stated
    assert result.counterexample is not None
    assert result.counterexample["true"].split(" ≈ ")[0] == regions.show(true)  # type: ignore[union-attr]
    assert result.corrected_expr is not None
    corrected = result.corrected_expr.xreplace(evidence.point)
    assert abs(complex(sp.N(corrected - true, 30))) < 1e-20


def test_an_identity_holds(tmp_path: Path) -> None:
    result = check(tmp_path, 'id = "sq"\nlhs = "Derivative((a - t)**2, a)"\nrhs = "2*(a - t)"\n')
    assert (result.verdict, result.counterexample, result.corrected) == ("holds", None, None)


def test_a_wrong_claim_fails_with_a_counterexample_and_a_correction(tmp_path: Path) -> None:
    result = check(tmp_path, 'id = "half"\nlhs = "Derivative((a - t)**2, a)"\nrhs = "a - t"\n')
    assert result.verdict == "fails"
    assert result.corrected == "2*(a - t)"  # the constant factor SymPy finds
    assert_evidence(result)


def test_sigmoid_derivative_in_its_output_holds(tmp_path: Path) -> None:
    body = 'id = "sig"\nlhs = "Derivative(sigmoid(x), x)"\nrhs = "sigmoid(x)*(1 - sigmoid(x))"\n'
    assert check(tmp_path, body).verdict == "holds"


def test_piecewise_is_decided_region_by_region(tmp_path: Path) -> None:
    body = 'id = "r"\nlhs = "Derivative(relu(x), x)"\nrhs = "Piecewise((1, x > 0), (0, True))"\n'
    result = check(tmp_path, body)
    assert result.verdict == "holds" and result.condition == f"checked with {KINK_CONVENTION}"


def test_a_claim_silent_at_the_kink_is_conditional(tmp_path: Path) -> None:
    body = 'id = "r"\nlhs = "Derivative(relu(x), x)"\nrhs = "Piecewise((1, x > 0), (0, x < 0))"\n'
    result = check(tmp_path, body)
    assert result.verdict == "conditional"
    assert result.condition is not None and result.condition.startswith("x != 0")
    assert KINK_CONVENTION in result.condition
    assert result.counterexample == {
        "at": "",
        "point": {"x": "0"},
        "stated": "undefined",
        "true": "0",
        "kink": "x = 0",
    }


def test_another_value_at_the_kink_is_conditional(tmp_path: Path) -> None:
    body = 'id = "r"\nlhs = "Derivative(relu(x), x)"\nrhs = "Heaviside(x, 1)"\n'
    result = check(tmp_path, body)
    assert result.verdict == "conditional" and "gives 1" in (result.condition or "")


def test_swapped_cases_fail(tmp_path: Path) -> None:
    body = 'id = "r"\nlhs = "Derivative(relu(x), x)"\nrhs = "Piecewise((0, x > 0), (1, x < 0))"\n'
    result = check(tmp_path, body)
    assert result.verdict == "fails"
    assert_evidence(result)
    assert result.corrected == "Heaviside(x, 0)"


def test_families_run_over_sizes_and_indices(tmp_path: Path) -> None:
    body = (
        'id = "soft"\nsizes = { n = [1, 2, 3, 4] }\nindices = { i = [1, "n"], k = [1, "n"] }\n'
        'lhs = "Derivative(softmax(z, k, 1, n), z[i])"\n'
        'rhs = "softmax(z, k, 1, n) * (KroneckerDelta(i, k) - softmax(z, i, 1, n))"\n'
    )
    assert check(tmp_path, body).verdict == "holds"
    cfile = claims.load(tmp_path / "c.toml")
    assert len(checker.instances(cfile.claims[0], cfile)) == 1 + 4 + 9 + 16


def test_a_named_condition_makes_a_claim_conditional(tmp_path: Path) -> None:
    body = (
        'id = "half"\nlhs = "Derivative((a - t)**2, a)"\nrhs = "a - t"\n'
        'conditions = [{ text = "E = (a - t)^2 / 2", lhs = "Derivative((a - t)**2 / 2, a)" }]\n'
    )
    result = check(tmp_path, body)
    assert (result.verdict, result.condition) == ("conditional", "E = (a - t)^2 / 2")
    assert_evidence(result)  # the counterexample of the claim as written stays


def test_network_derivative_follows_the_chain_rule(tmp_path: Path) -> None:
    body = (
        'id = "d"\nkind = "network"\n'
        'indices = { i = [0, "s(n - 1) - 1"], m = [0, "s(n - 2) - 1"] }\n'
        'lhs = "Derivative(E[i], a[n - 2, m])"\n'
        'rhs = "2*(a[n - 1, i] - t[i]) * Heaviside(z[n - 1, i]) * w[n - 1, i, m]"\n'
    )
    assert check(tmp_path, body, network=True).verdict == "holds"


def test_a_missing_neuron_fails_with_the_index_to_fix(tmp_path: Path) -> None:
    body = (
        'id = "range"\nkind = "network"\nindices = { i = [0, "s(n - 1)"] }\n'
        'lhs = "a[n - 1, i]"\nrhs = "a[n - 1, i]"\n'
    )
    result = check(tmp_path, body, network=True)
    assert result.verdict == "fails"
    assert result.counterexample == {
        "at": "layers [2, 2], i=2",
        "missing": "a[1,2] does not exist: layer 1 has 2 neuron(s), 0..1",
    }
    assert (result.corrected or "").startswith("i up to s(n - 1) - 1, not s(n - 1)")


def test_a_procedure_off_by_a_positive_factor_is_conditional(tmp_path: Path) -> None:
    body = (
        'id = "step"\nkind = "procedure"\n'
        'indices = { i = [0, "s(n - 1) - 1"], j = [0, "s(n - 2) - 1"] }\n'
        'lhs = "Derivative(Etot, w[n - 1, i, j])"\nrhs = "Derivative(E[i], w[n - 1, i, j])"\n'
    )
    result = check(tmp_path, body, network=True)
    assert result.verdict == "conditional"
    assert "2 at layers [2, 2]" in (result.condition or "")


def test_the_same_equation_as_a_network_claim_fails(tmp_path: Path) -> None:
    body = (
        'id = "eq"\nkind = "network"\n'
        'indices = { i = [0, "s(n - 1) - 1"], j = [0, "s(n - 2) - 1"] }\n'
        'lhs = "Derivative(Etot, w[n - 1, i, j])"\nrhs = "Derivative(E[i], w[n - 1, i, j])"\n'
    )
    result = check(tmp_path, body, network=True)
    assert result.verdict == "fails"
    assert_evidence(result)


def test_regions_split_nested_kinks() -> None:
    x, y = sp.symbols("x y", real=True)
    expr = sp.Heaviside(sp.Max(0, x) - y, 0)
    leaves = list(regions.regions(expr))
    assert all(not r.leaf.has(sp.Heaviside, sp.Max) for r in leaves)
    assert len(leaves) == 9
