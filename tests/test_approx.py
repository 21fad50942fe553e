"""derive.verify.approx: float values with shared subtrees computed once, never past a kink."""

from __future__ import annotations

import math

import pytest
import sympy as sp

from derive.verify.approx import Approximation, UnknownNodeError

x, y = sp.symbols("x y", real=True)


def test_a_subtree_used_twice_per_level_is_computed_once() -> None:
    expr, reference = x, 0.5
    for _ in range(60):  # 2**60 paths from the root: evalf would walk each one
        minus = sp.Mul(-1, expr, evaluate=False)
        expr = sp.Add(
            sp.Mul(sp.exp(minus, evaluate=False), expr, evaluate=False), y, evaluate=False
        )
        reference = math.exp(-reference) * reference + 0.25
    at = Approximation({x: 0.5, y: 0.25})
    assert math.isclose(at.value(expr), reference, rel_tol=1e-12)
    assert len(at.memo) < 400


def test_values_match_sympy_at_a_point() -> None:
    expr = sp.log(1 + sp.exp(x * y)) - sp.tanh(x) ** 2 / sp.sqrt(y) + sp.Max(x, y) * sp.Abs(x)
    point = {x: sp.Rational(-3, 2), y: sp.Rational(2, 3)}
    found = Approximation({s: float(v) for s, v in point.items()}).value(expr)
    assert math.isclose(found, float(sp.N(expr.subs(point), 30)), rel_tol=1e-12)


def test_a_step_or_a_condition_at_its_kink_is_left_to_sympy() -> None:
    with pytest.raises(UnknownNodeError):
        Approximation({x: math.sqrt(2)}).value(sp.Heaviside(x**2 - 2, 1))
    with pytest.raises(UnknownNodeError):
        Approximation({x: 0.0}).value(sp.Piecewise((x / 100, x < 0), (x, True)))
    assert Approximation({x: -2.0}).value(sp.Piecewise((x / 100, x < 0), (x, True))) == -0.02


def test_undefined_and_huge_values_are_nan_and_inf() -> None:
    assert math.isnan(Approximation({x: -1.0}).value(sp.Max(sp.log(x), 1)))  # max() drops nan
    at = Approximation({x: 3.0})
    assert at.value(sp.exp(sp.exp(sp.exp(x)))) == math.inf
    assert at.largest_exp > 10**8
