"""One kink convention for every form: the left derivative, as PyTorch, named in the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sympy as sp

from derive.activations import ACTIVATIONS, LEAKY_SLOPE, differentiate
from derive.verify import checker, claims

x, y, a = sp.symbols("x y a", real=True)


@pytest.mark.parametrize(
    ("expr", "at_zero"),
    [
        (sp.Max(0, x), 0),  # ReLU'(0) = 0
        (ACTIVATIONS["leaky_relu"].expr, LEAKY_SLOPE),  # leaky ReLU'(0) = its slope
        (sp.Max(x / 100, x), sp.Rational(1, 100)),  # the same leaky ReLU written as a max
        (sp.Min(x / 100, x), 1),
        (sp.Abs(x), -1),
        (sp.Piecewise((x / 100, x < 0), (x, True)), sp.Rational(1, 100)),
        (sp.Piecewise((x, x > 0), (x / 100, True)), sp.Rational(1, 100)),
        (sp.Piecewise((x / 100, x <= 0), (x, True)), sp.Rational(1, 100)),
        (sp.Piecewise((2 * x, sp.Gt(0, x)), (x, True)), 2),  # 0 > x: a reversed inequality
        (sp.Heaviside(x) * x, 0),
        (sp.Max(-x, 3 * x), -1),
    ],
)
def test_every_form_takes_the_left_derivative_at_its_kink(expr: sp.Expr, at_zero: object) -> None:
    derivative = differentiate(expr, x)
    assert derivative.subs(x, 0) == at_zero
    left = sp.Rational(-1, 10**6)  # the derivative just left of the kink, for comparison
    assert derivative.subs(x, left) == sp.diff(expr, x).subs(x, left)


def test_a_kink_whose_direction_depends_on_another_symbol_is_relu_0() -> None:
    """relu(a*x) by x: the chain rule with ReLU'(0) = 0, as PyTorch's autograd."""
    assert differentiate(sp.Max(0, a * x), x).subs(x, 0) == 0


def test_generated_activation_derivatives_are_unchanged() -> None:
    assert ACTIVATIONS["relu"].derivative == sp.Heaviside(x, 0)
    assert ACTIVATIONS["leaky_relu"].derivative == LEAKY_SLOPE + (1 - LEAKY_SLOPE) * sp.Heaviside(
        x, 0
    )


def check(tmp_path: Path, lhs: str, rhs: str) -> checker.Result:
    path = tmp_path / "k.toml"
    path.write_text(f"[[claim]]\nid = 'k'\nlhs = {json.dumps(lhs)}\nrhs = {json.dumps(rhs)}\n")
    cfile = claims.load(path)
    return checker.check_claim(cfile.claims[0], cfile)


def test_max_of_x_over_100_and_x_holds_with_its_slope_at_0(tmp_path: Path) -> None:
    result = check(tmp_path, "Derivative(Max(x/100, x), x)", "Piecewise((1, x > 0), (1/100, True))")
    assert result.verdict == "holds"


def test_a_leaky_piecewise_claiming_1_at_0_is_conditional_on_the_kink(tmp_path: Path) -> None:
    lhs = "Derivative(Piecewise((x/100, x < 0), (x, True)), x)"
    result = check(tmp_path, lhs, "Piecewise((1/100, x < 0), (1, True))")
    assert result.verdict == "conditional"
    assert result.counterexample is not None
    assert (result.counterexample["stated"], result.counterexample["true"]) == ("1", "1/100")


def test_a_tie_of_a_general_max_is_reported_as_that_tie(tmp_path: Path) -> None:
    result = check(tmp_path, "Derivative(Max(x, y), x)", "Heaviside(x - y, 1)")
    assert result.verdict == "conditional"
    assert "at the tie of Max(x, y) (x - y = 0)" in (result.condition or "")
    assert "ReLU" not in (result.condition or "").split("while")[0]
    assert "gives 0" in (result.condition or "")


CONVENTION_GIVES_0 = (
    f"x != 0: at the kink (x = 0) the claim gives 1, while {checker.KINK_CONVENTION} gives 0"
)


@pytest.mark.parametrize(
    ("lhs", "rhs"),
    [
        ("Derivative(relu(x), x)", "Heaviside(x, 1)"),
        ("Heaviside(x, 1)", "Derivative(relu(x), x)"),  # the derivative on the right
        ("Heaviside(x, 1)", "d"),  # a definition holds it
    ],
)
def test_the_side_with_the_derivative_is_the_one_the_convention_decides(
    tmp_path: Path, lhs: str, rhs: str
) -> None:
    """ReLU'(0) = 0 whichever side differentiates: the claim's 1 is the stated value."""
    path = tmp_path / "k.toml"
    path.write_text(
        f'[definitions]\nd = "Derivative(relu(x), x)"\n[[claim]]\nid = "k"\nlhs = "{lhs}"\n'
        f'rhs = "{rhs}"\n',
        encoding="utf-8",
    )
    cfile = claims.load(path)
    result = checker.check_claim(cfile.claims[0], cfile)
    assert result.verdict == "conditional" and result.condition == CONVENTION_GIVES_0
    assert result.counterexample is not None
    assert (result.counterexample["stated"], result.counterexample["true"]) == ("1", "0")
    assert result.corrected == "Heaviside(x, 0)"
    tensor = tmp_path / "t.toml"
    tensor.write_text(
        f'[symbols]\nx = {{}}\n[definitions]\nd = "relu\'(x)"\n[[claim]]\nid = "k"\n'
        f'lhs = "{lhs}"\nrhs = "{rhs}"\n'.replace("Derivative(relu(x), x)", "relu'(x)"),
        encoding="utf-8",
    )
    entrywise = claims.load(tensor)
    result = checker.check_claim(entrywise.claims[0], entrywise)
    assert result.verdict == "conditional" and result.condition == CONVENTION_GIVES_0
    assert result.counterexample is not None
    assert (result.counterexample["stated"], result.counterexample["true"]) == ("1", "0")


def test_a_claim_without_a_derivative_is_conditional_on_heaviside_0_not_on_a_derivative(
    tmp_path: Path,
) -> None:
    """Heaviside(x) + Heaviside(-x) = 1 holds except where it jumps, where it holds only if
    Heaviside(0) = 1/2 (SymPy's value); derive reads Heaviside(0) as 0 (F14)."""
    result = check(tmp_path, "Heaviside(x) + Heaviside(-x)", "1")
    assert result.verdict == "conditional"
    assert result.condition == (
        "x != 0: at x = 0, where a Heaviside jumps, the left side gives 0 and the right side "
        f"gives 1, with {checker.HEAVISIDE_READING}; with Heaviside(0) = 1/2 it holds there too"
    )
    assert "derivative" not in result.condition
    assert "SymPy's is 1/2" in checker.HEAVISIDE_READING and sp.Heaviside(0) == sp.S.Half
    holds = check(tmp_path, "Heaviside(x)", "Heaviside(x, 0)")
    assert (
        holds.verdict == "holds" and holds.condition == f"checked with {checker.HEAVISIDE_READING}"
    )


@pytest.mark.parametrize(
    ("lhs", "rhs", "x_at"),
    [
        ("Piecewise((1, Eq(x, 7/3)), (0, True))", "0", "7/3"),  # F14's second claim
        ("Heaviside(x, 1) + Heaviside(-x, 1)", "1", "0"),
        ("Heaviside(y) + Piecewise((1, Eq(x, 1)), (0, True))", "Heaviside(y)", "1"),
    ],
)
def test_a_claim_that_writes_its_value_at_a_jump_fails_there(
    tmp_path: Path, lhs: str, rhs: str, x_at: str
) -> None:
    """No convention decides a value the claim writes: a difference there is a counterexample,
    also in a claim with a Heaviside(y) read at 0 elsewhere."""
    result = check(tmp_path, lhs, rhs)
    assert result.verdict == "fails"
    assert result.counterexample is not None
    assert result.counterexample["point"]["x"] == x_at  # type: ignore[index]


def test_a_side_with_no_value_at_a_kink_is_conditional_without_a_derivative_wording(
    tmp_path: Path,
) -> None:
    result = check(tmp_path, "Abs(x)", "Piecewise((x, x > 0), (-x, x < 0))")
    assert result.verdict == "conditional"
    assert (
        result.condition
        == "x != 0: at x = 0 the left side gives 0 and the right side gives no value"
    )


def test_a_symbols_file_reads_a_kink_without_a_derivative_the_same_way(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[symbols]\nx = {}\n[[claim]]\nid = "c"\nlhs = "Heaviside(x) + Heaviside(-x)"\nrhs = "1"\n'
        '[[claim]]\nid = "d"\nlhs = "Heaviside(x, 1)"\nrhs = "Heaviside(x, 0)"\n',
        encoding="utf-8",
    )
    cfile = claims.load(path)
    first, second = (checker.check_claim(claim, cfile) for claim in cfile.claims)
    assert first.verdict == "conditional" and "Heaviside(0) = 1/2 it holds" in (
        first.condition or ""
    )
    assert second.verdict == "fails"
