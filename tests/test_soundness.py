"""`holds` is a proof: false claims never hold, sampling never proves, regions are exact."""

from __future__ import annotations

import itertools
import json
from fractions import Fraction
from pathlib import Path

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive.verify import checker, claims, regions


def verdict_of(tmp_path: Path, lhs: str, rhs: str) -> checker.Result:
    path = tmp_path / "c.toml"
    path.write_text(
        f"[[claim]]\nid = 'c'\nlhs = {json.dumps(lhs)}\nrhs = {json.dumps(rhs)}\n", "utf-8"
    )
    cfile = claims.load(path)
    return checker.check_claim(cfile.claims[0], cfile)


@pytest.mark.parametrize(
    ("lhs", "rhs", "where"),
    [
        ("relu(x - 4)", "0", lambda x: x > 4),  # a kink outside [-3, 3]
        ("Max(x, 5)", "5", lambda x: x > 5),
        ("Min(relu(x), 6)", "relu(x)", lambda x: x > 6),  # ReLU6 is not ReLU
        ("relu(x - 20000)", "0", lambda x: x > 20000),  # far away
        ("relu(-x - 20000)", "0", lambda x: x < -20000),  # far away on the other side
        ("Heaviside(x**2 - 4)", "1", lambda x: abs(x) < 2),  # a nonlinear kink
        ("Max(x*y, 0)", "x*y", lambda x, y: x * y < 0),  # a kink in two symbols
    ],
)
def test_false_claims_fail_with_a_counterexample_in_their_region(
    tmp_path: Path, lhs: str, rhs: str, where: object
) -> None:
    result = verdict_of(tmp_path, lhs, rhs)
    assert result.verdict == "fails"
    assert result.counterexample is not None
    point = {k: Fraction(str(v)) for k, v in result.counterexample["point"].items()}  # type: ignore[attr-defined]
    assert where(*point.values())  # type: ignore[operator]


def test_a_difference_only_at_an_irrational_kink_is_found_there(tmp_path: Path) -> None:
    """Both values at the jump are written, so the claim fails there (no convention decides)."""
    result = verdict_of(tmp_path, "Heaviside(x**2 - 2, 1)", "Heaviside(x**2 - 2, 0)")
    assert result.verdict == "fails"
    assert result.counterexample is not None
    assert result.counterexample["point"] in (
        {"x": "sqrt(2) ≈ 1.41421"},
        {"x": "-sqrt(2) ≈ -1.41421"},
    )


def test_a_kink_sympy_cannot_solve_leaves_the_claim_unproven(tmp_path: Path) -> None:
    kink = "x**5 - x - 1"  # its one real root has no radical form
    result = verdict_of(tmp_path, f"Heaviside({kink}, 1)", f"Heaviside({kink}, 0)")
    assert result.verdict == "unproven"
    assert result.tried is not None and "-x**5 + x + 1 = 0" in result.tried
    assert "points tried" in result.tried


def test_more_regions_than_the_cap_is_unproven_not_holds(tmp_path: Path) -> None:
    lhs, rhs = "Sum(relu(x - i), (i, 1, 8))", "Sum((x - i + Abs(x - i)) / 2, (i, 1, 8))"
    result = verdict_of(tmp_path, lhs, rhs)
    assert result.verdict == "unproven"
    assert f"more than {checker.MAX_REGIONS} regions" in (result.tried or "")


def test_more_regions_than_the_cap_still_finds_a_far_counterexample(tmp_path: Path) -> None:
    lhs = "Sum(relu(x - i), (i, 1, 8))"
    rhs = "Sum((x - i + Abs(x - i)) / 2, (i, 1, 8)) + relu(x - 20000)"
    assert verdict_of(tmp_path, lhs, rhs).verdict == "fails"


def test_a_true_claim_with_nested_kinks_never_fails(tmp_path: Path) -> None:
    # true for every real x: holds when SymPy proves it, else unproven, never fails
    lhs, rhs = "Max(x, 0)**2 * Heaviside(Max(x, 0) - 7)", "relu(x)**2 * Heaviside(relu(x) - 7)"
    assert verdict_of(tmp_path, lhs, rhs).verdict in ("holds", "unproven")


def test_an_empty_region_is_shown_empty_by_sympy() -> None:
    x = sp.Symbol("x", real=True)
    empty = regions.Region(sp.Integer(1), ((x - 4, 1), (x - 3, -1)), ())
    assert regions.region_point(empty, [x]) == (True, None)
    inside = regions.Region(sp.Integer(1), ((x - 10**7, 1),), ())
    decided, point = regions.region_point(inside, [x])
    assert decided and point is not None and point[x] > 10**7


def test_a_true_piecewise_claim_still_holds(tmp_path: Path) -> None:
    assert verdict_of(tmp_path, "Max(x, 5)", "5 + relu(x - 5)").verdict == "holds"
    assert verdict_of(tmp_path, "Min(relu(x), 6)", "relu(x) - relu(x - 6)").verdict == "holds"


# --- random piecewise-linear claims against dense exact evaluation ---------------------------

X = sp.Symbol("x", real=True)
OFFSET = st.one_of(
    st.integers(-5, 5), st.integers(-(10**6), 10**6), st.fractions(-10, 10, max_denominator=7)
)
SLOPE = st.sampled_from([Fraction(1), Fraction(-1), Fraction(2), Fraction(1, 3), Fraction(-5)])
KINKS = st.sampled_from(["relu", "Heaviside", "Abs", "Max0", "Min0"])


def text(value: Fraction) -> str:
    return f"({value.numerator}/{value.denominator})"


@st.composite
def pieces(draw: st.DrawFn) -> tuple[str, list[Fraction]]:
    """A sum of kinked functions of linear arguments: its text and its kink roots."""
    terms, roots = [], []
    for _ in range(draw(st.integers(1, 3))):
        slope, offset, kind = draw(SLOPE), Fraction(draw(OFFSET)), draw(KINKS)
        arg = f"{text(slope)}*x + {text(offset)}"
        roots.append(-offset / slope)
        weight = text(Fraction(draw(st.integers(-3, 3))))
        body = {"Max0": f"Max({arg}, 0)", "Min0": f"Min({arg}, 0)"}.get(kind, f"{kind}({arg})")
        terms.append(f"{weight}*{body}")
    return " + ".join(terms), roots


def dense_points(roots: list[Fraction]) -> list[sp.Rational]:
    """Every kink, two points inside every interval between kinks, two past each end."""
    ordered = sorted(set(roots))
    found = set(ordered) | {ordered[0] - 1, ordered[0] - 2, ordered[-1] + 1, ordered[-1] + 2}
    for low, high in itertools.pairwise(ordered):
        found |= {low + (high - low) / 3, low + 2 * (high - low) / 3}
    return [sp.Rational(p.numerator, p.denominator) for p in sorted(found)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(left=pieces(), right=pieces(), same=st.booleans())
def test_random_piecewise_claims_never_hold_where_dense_evaluation_differs(
    tmp_path_factory: pytest.TempPathFactory,
    left: tuple[str, list[Fraction]],
    right: tuple[str, list[Fraction]],
    same: bool,
) -> None:
    lhs, rhs = left[0], (left[0] + " + 0*x" if same else right[0])
    result = verdict_of(tmp_path_factory.mktemp("h"), lhs, rhs)
    cfile_sides = [claims.build(side, claims.Scope()) for side in _sides(lhs, rhs)]
    points = dense_points(left[1] + right[1])
    differs = any(
        cfile_sides[0].xreplace({X: p}) != cfile_sides[1].xreplace({X: p}) for p in points
    )
    if differs:
        assert result.verdict != "holds", (lhs, rhs)
    if same:
        assert result.verdict == "holds", (lhs, rhs)


def _sides(lhs: str, rhs: str) -> list[claims.Expression]:
    return [
        claims.Expression(t, claims.parse_expression(t, "test"), where="test") for t in (lhs, rhs)
    ]


ATOMS = st.sampled_from(["x", "y", "x*y", "2*x - 1", "x - 4", "10000 - x", "x**2 - 2", "log(x)"])


@st.composite
def kinked(draw: st.DrawFn, depth: int = 0) -> str:
    """A random expression nesting kinks, logs and roots: a claim side SymPy may stumble on."""
    if depth >= 2 or draw(st.booleans()):
        return draw(ATOMS)
    a, b = draw(kinked(depth + 1)), draw(kinked(depth + 1))
    return draw(
        st.sampled_from(
            [
                f"relu({a})",
                f"Heaviside({a}, 1)",
                f"Abs({a}) * sqrt({b})",
                f"Max({a}, {b})",
                f"Min({a}, {b})",
                f"Piecewise(({a}, {b} > 0), ({b}, True))",
            ]
        )
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lhs=kinked(), rhs=kinked(), derivative=st.booleans())
def test_nested_kinks_give_a_verdict_never_an_exception(
    tmp_path_factory: pytest.TempPathFactory, lhs: str, rhs: str, derivative: bool
) -> None:
    side = f"Derivative({lhs}, x)" if derivative else lhs
    result = verdict_of(tmp_path_factory.mktemp("n"), side, rhs)
    assert result.verdict in ("holds", "fails", "conditional", "unproven")


def results_of(tmp_path: Path, text: str) -> dict[str, checker.Result]:
    path = tmp_path / "d.toml"
    path.write_text(text, "utf-8")
    cfile = claims.load(path)
    return {c.id: checker.check_claim(c, cfile) for c in cfile.claims}


DOMAIN_CLAIMS = """
[symbols]
m = { size = [3] }
x = { domain = "(0, 1)" }
u = { domain = "> 0" }
p = { shape = ["m"], domain = "probabilities" }

[[claim]]
id = "unit.max"
lhs = "Max(x, 1)"
rhs = "1"

[[claim]]
id = "unit.min"
lhs = "Min(x, 1/2)"
rhs = "x"

[[claim]]
id = "positive.heaviside"
lhs = "Heaviside(u + 1)"
rhs = "1"

[[claim]]
id = "last.probability"
lhs = "relu(p[2])"
rhs = "p[2]"

[[claim]]
id = "two.probabilities"
lhs = "Max(p[0] + p[1], 1)"
rhs = "1"

[[claim]]
id = "two.probabilities.half"
lhs = "Max(p[0] + p[1], 1/2)"
rhs = "1/2"
"""


def test_a_counterexample_lies_inside_the_declared_domain(tmp_path: Path) -> None:
    """A region outside the domain is empty there: no point of it is a counterexample."""
    results = results_of(tmp_path, DOMAIN_CLAIMS)
    for true in ("unit.max", "positive.heaviside", "last.probability", "two.probabilities"):
        assert results[true].verdict == "holds", (true, results[true].counterexample)
    for false, inside in (
        ("unit.min", lambda v: 0 < v["x"] < 1),
        ("two.probabilities.half", lambda v: v["p[0]"] > 0 and v["p[1]"] > 0),
    ):
        result = results[false]
        assert result.verdict == "fails"
        assert result.counterexample is not None
        point = {k: Fraction(str(v)) for k, v in result.counterexample["point"].items()}  # type: ignore[attr-defined]
        assert inside(point)
        if "p[0]" in point:
            assert point["p[0]"] + point["p[1]"] < 1


def test_a_region_point_stays_inside_the_domain() -> None:
    """The simplex looks for a point of the region inside the domain, or shows there is none."""
    from derive.verify import declarations

    x = declarations.UnitInterval("x", real=True, positive=True)
    outside = regions.Region(sp.Integer(1), ((x - 1, 1),), ())
    assert regions.region_point(outside, [x]) == (True, None)
    inside = regions.Region(sp.Integer(1), ((x - sp.Rational(1, 2), 1),), ())
    decided, point = regions.region_point(inside, [x])
    assert decided and point is not None and sp.Rational(1, 2) < point[x] < 1
