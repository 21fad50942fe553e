"""Every bundled claim of the seed notes, its verdict and the reason for it."""

from __future__ import annotations

import re

import pytest
import sympy as sp

from derive.activations import KINK_CONVENTION
from derive.verify import checker, claims, regions, report

KINK = "z[1,0] != 0"
EXPECTED = {  # id: (verdict, why)
    "eq1.1": ("holds", "Z = W A, row by row"),
    "eq1.2": ("fails", "last row written w_{0,1}; z runs to z_{s(l)}, a to a_n"),
    "etot": ("conditional", "n is the number of layers, the sum runs over outputs"),
    "eq2": ("fails", "cases swapped: at x > 0 stated 0, true 1"),
    "eq3.1": ("holds", "definition of E_i"),
    "eq3.2": ("holds", "2(a - t)"),
    "eq4.1": ("holds", "ReLU' by sympy.diff"),
    "eq4.2": ("conditional", "no value at z = 0"),
    "eq5.1": ("fails", "sum bounded by s(n-1), runs over layer n-2"),
    "eq5.2": ("fails", "sum bounded by s(n-1), runs over layer n-2"),
    "eq5.3": ("holds", "w_{k,m}"),
    "eq6.1": ("fails", "sum bounded by s(n-1), runs over layer n-2"),
    "eq6.2": ("fails", "sum bounded by s(n-1), runs over layer n-2"),
    "eq6.3": ("holds", "a_m"),
    "eq7.1": ("holds", "chain rule"),
    "eq7.2": ("conditional", "no value at z = 0"),
    "eq7.3": ("conditional", "no value at z = 0"),
    "eq8.1": ("holds", "chain rule"),
    "eq8.2": ("conditional", "no value at z = 0"),
    "eq8.3": ("conditional", "no value at z = 0"),
    "eq9.1": ("holds", "chain rule"),
    "eq9.2": ("conditional", "no value at z = 0"),
    "eq9.3": ("conditional", "no value at z = 0"),
    "eq10.1": ("conditional", "n read as s(n-1)"),
    "eq10.2": ("conditional", "n read as s(n-1)"),
    "eq10.3": ("conditional", "k read as i"),
    "eq11.1": ("holds", "chain rule"),
    "eq11.2": ("conditional", "no value at z = 0"),
    "eq11.3": ("conditional", "no value at z = 0"),
    "step1": ("fails", "i runs to s(n-1), one past the last output"),
    "step2": ("fails", "step 1's array is dE_tot/da, 1/s(n-1) of dE_i/da"),
    "step3": ("conditional", "dE_i/dw is s(n-1) times the gradient of E_tot"),
    "step4": ("holds", "chain rule through layer n-2"),
    "step5": ("fails", "the chain rule misses the sum over layer n-2"),
    "step6": ("fails", "dE_i/dw of a hidden weight ignores the other outputs"),
    "eq12": ("holds", "softmax"),
    **{f"eq13.{k}": ("holds", "softmax derivative") for k in range(1, 11)},
    **{f"eq14.{k}": ("conditional", "left side written ds_k/dz_k") for k in range(1, 7)},
    "eq15.1": ("holds", "s_i(1 - s_i), -s_i s_k"),
    "eq15.2": ("holds", "s_i(d_ik - s_k) = s_k(d_ik - s_i)"),
    "eq16.1": ("holds", "chain rule"),
    "eq16.2": ("conditional", "missing factor 2 unless E = (s - y)^2 / 2"),
}
EQUATIONS = {  # the worst of their lines
    "eq1": "fails",
    "eq3": "holds",
    "eq4": "conditional",
    "eq5": "fails",
    "eq6": "fails",
    "eq7": "conditional",
    "eq8": "conditional",
    "eq9": "conditional",
    "eq10": "conditional",
    "eq11": "conditional",
    "eq13": "holds",
    "eq14": "conditional",
    "eq15": "holds",
    "eq16": "conditional",
}


@pytest.fixture(scope="module")
def results() -> dict[str, checker.Result]:
    cfile = claims.load(claims.bundled_path())
    return {r.id: r for r in report.entries(checker.check_file(cfile))}


def test_every_claim_has_its_expected_verdict_listed(results: dict[str, checker.Result]) -> None:
    assert set(results) == set(EXPECTED) | set(EQUATIONS)


@pytest.mark.parametrize(("claim_id", "expected"), EXPECTED.items(), ids=list(EXPECTED))
def test_bundled_verdict(
    results: dict[str, checker.Result], claim_id: str, expected: tuple[str, str]
) -> None:
    verdict, why = expected
    assert results[claim_id].verdict == verdict, why


@pytest.mark.parametrize(("eq_id", "verdict"), EQUATIONS.items())
def test_an_equation_is_the_worst_of_its_lines(
    results: dict[str, checker.Result], eq_id: str, verdict: str
) -> None:
    assert results[eq_id].verdict == verdict


def test_eq2_fails_at_a_positive_point_stated_0_true_1(results: dict[str, checker.Result]) -> None:
    example = results["eq2"].counterexample
    assert example is not None
    assert sp.Rational(example["point"]["x"]) > 0  # type: ignore[index]
    assert (example["stated"], example["true"]) == ("0", "1")
    assert results["eq2"].corrected == "Heaviside(x, 0)"


def test_eq1_2_fails_on_the_last_row_typo(results: dict[str, checker.Result]) -> None:
    result = results["eq1.2"]
    assert result.counterexample is not None
    assert result.counterexample["at"] == "layers [3, 2], l=1, i=1"  # row s(l)-1, w_{0,1}
    assert "w[1,0,1]" in result.counterexample["point"]  # type: ignore[operator]
    assert result.corrected is not None and "w[1,1,1]" in result.corrected


@pytest.mark.parametrize("claim_id", ["eq5.1", "eq5.2", "eq6.1", "eq6.2"])
def test_eq5_eq6_sums_miss_the_neurons_of_layer_n_2(
    results: dict[str, checker.Result], claim_id: str
) -> None:
    example = results[claim_id].counterexample
    assert example is not None and example["at"] == "layers [3, 1], k=0, m=2"
    assert example["stated"] == "0"


def test_etot_needs_n_to_be_the_number_of_outputs(results: dict[str, checker.Result]) -> None:
    result = results["etot"]
    assert "number of outputs s(n-1)" in (result.condition or "")
    assert result.counterexample is not None and "layers [2, 3]" in result.counterexample["at"]


@pytest.mark.parametrize(
    "claim_id", ["eq4.2", "eq7.2", "eq7.3", "eq8.2", "eq8.3", "eq9.2", "eq9.3", "eq11.2", "eq11.3"]
)
def test_cases_without_the_kink_name_the_relu_convention(
    results: dict[str, checker.Result], claim_id: str
) -> None:
    result = results[claim_id]
    assert (result.condition or "").startswith(KINK)
    assert KINK_CONVENTION in (result.condition or "")
    assert result.counterexample is not None
    assert (result.counterexample["stated"], result.counterexample["true"]) == ("undefined", "0")


def test_claims_touching_relu_name_the_convention(results: dict[str, checker.Result]) -> None:
    for claim_id in ("eq4.1", "eq7.1", "eq8.1", "eq9.1", "eq11.1", "step4"):
        assert KINK_CONVENTION in (results[claim_id].condition or ""), claim_id


def test_eq10_3_reads_k_as_i(results: dict[str, checker.Result]) -> None:
    result = results["eq10.3"]
    assert (result.condition or "").startswith("k read as i")
    assert result.counterexample is not None and "k=1" in result.counterexample["at"]


def test_eq14_left_side_is_read_as_ds_i_dz_k(results: dict[str, checker.Result]) -> None:
    assert "ds_{z_i}/dz_k" in (results["eq14.1"].condition or "")


def test_eq16_2_misses_the_factor_2(results: dict[str, checker.Result]) -> None:
    result = results["eq16.2"]
    assert (result.corrected or "").startswith("2*(")
    assert "/ 2" in (result.condition or "")


def test_step1_runs_one_index_too_far(results: dict[str, checker.Result]) -> None:
    result = results["step1"]
    assert result.counterexample is not None
    assert "does not exist" in str(result.counterexample["missing"])
    assert (result.corrected or "").startswith("i up to s(n - 1) - 1")


def test_step3_is_a_multiple_of_the_gradient(results: dict[str, checker.Result]) -> None:
    condition = results["step3"].condition or ""
    assert "2 at layers [2, 2]" in condition and "3 at layers [2, 3]" in condition


@pytest.mark.parametrize("claim_id", ["step2", "step5", "step6"])
def test_steps_differ_from_the_true_derivative(
    results: dict[str, checker.Result], claim_id: str
) -> None:
    assert results[claim_id].counterexample is not None
    assert "point" in results[claim_id].counterexample  # type: ignore[operator]


@pytest.mark.parametrize(
    "claim_id", [cid for cid, (verdict, _) in EXPECTED.items() if verdict != "holds"]
)
def test_counterexample_and_correction_check_numerically(
    results: dict[str, checker.Result], claim_id: str
) -> None:
    result = results[claim_id]
    evidence = result.evidence
    assert evidence is not None and result.counterexample is not None
    assert result.corrected
    if evidence.point is None:  # a quantity that does not exist
        assert re.search(r"does not exist", str(result.counterexample["missing"]))
        return
    assert evidence.lhs is not None and evidence.rhs is not None
    true = evidence.lhs.xreplace(evidence.point)
    stated = evidence.rhs.xreplace(evidence.point)
    assert true is not sp.nan
    assert stated is sp.nan or abs(complex(sp.N(true - stated, 30))) > 1e-12
    assert str(result.counterexample["true"]).split(" ≈ ")[0] == regions.show(true)
    assert result.corrected_expr is not None
    assert abs(complex(sp.N(result.corrected_expr.xreplace(evidence.point) - true, 30))) < 1e-20
