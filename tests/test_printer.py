"""The NumPy printer: exact strings for every form derive relies on."""

import sympy as sp

from derive.codegen.printing import to_numpy, to_numpy_scaled
from derive.symbols import t, x, y


def test_heaviside_prints_the_pinned_value_at_zero() -> None:
    assert to_numpy(sp.Heaviside(x, 0)) == "numpy.heaviside(x, 0)"
    assert to_numpy(sp.Heaviside(x, 1)) == "numpy.heaviside(x, 1)"
    assert "select" not in to_numpy(sp.Heaviside(x, 0))


def test_sigmoid_and_softplus_print_overflow_free() -> None:
    assert to_numpy(1 / (1 + sp.exp(-x))) == "numpy.tanh(x / 2) / 2 + 1 / 2"
    assert to_numpy(sp.log(1 + sp.exp(-x))) == "numpy.logaddexp(0, -x)"


def test_powers_and_quotients_print_as_ruff_formats_them() -> None:
    assert to_numpy(1 / x) == "1 / x"
    assert to_numpy(x / (y + 1)) == "x / (y + 1)"
    assert to_numpy(1 - y**2) == "1 - y**2"
    assert to_numpy((x - y) ** 2) == "(x - y) ** 2"
    assert to_numpy(-2 * x) == "-2 * x"
    assert to_numpy(sp.Rational(1, 3) * x) == "x / 3"


def test_sums_print_positive_terms_first() -> None:
    assert to_numpy(y - t) == "y - t"
    assert to_numpy(-t + y) == "y - t"
    assert to_numpy(-x - y) == "-x - y"


def test_max_prints_numpy_maximum_with_the_array_first() -> None:
    assert to_numpy(sp.Max(0, x)) == "numpy.maximum(x, 0)"


def test_scaled_printing_keeps_the_factor_outside_the_sum() -> None:
    expr = 2 * y / 3 - 2 * t / 3
    assert to_numpy_scaled(expr, {y: "a2", t: "T"}) == "2 * (a2 - T) / 3"


def test_symbols_print_under_their_code_names() -> None:
    assert to_numpy(y * (1 - y), {y: "a1"}) == "a1 * (1 - a1)"


def test_printing_is_stable_across_calls() -> None:
    expr = sp.exp(-x) / (1 + sp.exp(-x)) ** 2 + sp.Heaviside(y, 0) * t
    assert len({to_numpy(expr) for _ in range(5)}) == 1
