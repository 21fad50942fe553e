"""The lowering to preallocated-buffer calls, proved by folding the calls back into SymPy."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from derive import activations, backprop, losses
from derive.activations import logistic_as_tanh
from derive.codegen.lower import Lowering, rebuild
from derive.symbols import n, t, x, y

ACC = sp.Symbol("acc", real=True)
PAIRS = [
    (loss, act)
    for loss in losses.LOSSES
    for act in activations.ACTIVATIONS
    if losses.LOSSES[loss].output_activation in (None, act)
    and (
        activations.ACTIVATIONS[act].slope_in_output or not activations.ACTIVATIONS[act].elementwise
    )
]
ELEMENTWISE = [a for a in activations.ACTIVATIONS.values() if a.elementwise]
IN_OUTPUT = [a for a in ELEMENTWISE if a.slope_in_output]
KEPT = [a for a in ELEMENTWISE if not a.slope_in_output]


def _check(expr: sp.Expr, names: dict[sp.Symbol, str], out: str, scratch: list[str]) -> None:
    low = Lowering(dict(names), list(scratch))
    calls = low.lower(expr, out)
    env = {code: sym for sym, code in names.items()}
    result = rebuild(calls, env)[out]
    assert sp.simplify((result - expr).rewrite(sp.exp)) == 0, "\n".join(c.code() for c in calls)
    assert low.scratch == scratch or sorted(low.scratch) == sorted(scratch)  # all returned


@pytest.mark.parametrize(("loss", "act"), PAIRS)
def test_output_delta_lowers_to_its_expression(loss: str, act: str) -> None:
    expr = backprop.output_delta(loss, act).expr.subs(n, 3)
    _check(expr, {y: "a", t: "T"}, "d", ["s"])


@pytest.mark.parametrize("act", IN_OUTPUT, ids=lambda a: a.name)
def test_activation_lowers_in_place(act: activations.Activation) -> None:
    assert act.expr is not None
    _check(act.expr, {x: "a"}, "a", ["s"])


@pytest.mark.parametrize("act", KEPT, ids=lambda a: a.name)
def test_kept_slope_and_activation_lower_with_two_scratch_buffers(
    act: activations.Activation,
) -> None:
    """As the fast path does: s = f'(z) from a holding z, then f(z) in a (or aside, copied)."""
    assert act.expr is not None
    for expr, out, scratch in ((act.derivative, "s", ["q", "r"]), (act.expr, "a", ["q", "r"])):
        try:
            calls = Lowering({x: "a"}, list(scratch)).lower(expr, out)
        except ValueError:  # needs z after its first write: computed in q, then copied
            out, calls = "q", Lowering({x: "a"}, ["r"]).lower(expr, "q")
        result = rebuild(calls, {"a": x})[out]
        # GELU's sqrt(2/pi) is a float literal in the calls: compared to 1e-14, not symbolically
        points = np.linspace(-5.0, 5.0, 41)
        np.testing.assert_allclose(
            sp.lambdify(x, result)(points) + 0 * points,
            sp.lambdify(x, expr)(points) + 0 * points,
            rtol=1e-14,
            atol=1e-14,
        )


@pytest.mark.parametrize("act", IN_OUTPUT, ids=lambda a: a.name)
def test_hidden_delta_accumulates_in_place(act: activations.Activation) -> None:
    _check(ACC * act.derivative_of_output, {y: "a", ACC: "d"}, "d", ["s"])


def test_calls_write_into_their_out_buffer_and_allocate_nothing() -> None:
    calls = Lowering({y: "a", t: "T"}, ["s"]).lower(2 * (y - t) * y * (1 - y), "d", scale="k")
    assert all(call.code().endswith(f"out={call.out})") for call in calls)
    assert {call.out for call in calls} <= {"d", "s"}


def test_lowered_calls_run_in_numpy_without_allocating_new_arrays() -> None:
    expr = 2 * (y - t) * y * (1 - y)
    calls = Lowering({y: "a", t: "T"}, ["s"]).lower(expr, "d", scale="k")
    rng = np.random.default_rng(0)
    env = {"a": rng.random((4, 3)), "T": rng.random((4, 3)), "k": 0.5}
    env |= {"d": np.empty((4, 3)), "s": np.empty((4, 3))}
    d = env["d"]
    for call in calls:
        exec(call.code(), {"numpy": np}, env)  # the calls are our own generated code
    assert env["d"] is d
    a, T = env["a"], env["T"]
    np.testing.assert_allclose(d, 0.5 * 2 * (a - T) * a * (1 - a))


def test_logistic_as_tanh_is_the_logistic() -> None:
    assert sp.simplify((logistic_as_tanh(-x) - 1 / (1 + sp.exp(-x))).rewrite(sp.exp)) == 0


def test_a_step_goes_through_a_boolean_mask_when_one_is_lent() -> None:
    calls = Lowering({y: "a", ACC: "d"}, ["s"], mask="m").lower(ACC * sp.Heaviside(y, 0), "d")
    assert [call.code() for call in calls] == [
        "numpy.greater(a, 0, out=m)",
        "numpy.copyto(s, m)",
        "numpy.multiply(d, s, out=d)",
    ]


def test_numbers_are_written_by_the_callers_rule() -> None:
    calls = Lowering({y: "a"}, ["s"], number=lambda v: f"K[{v}]").lower(1 - y, "d")
    assert [call.code() for call in calls] == ["numpy.subtract(K[1], a, out=d)"]


@pytest.mark.parametrize(
    "expr", [x + sp.exp(x) + sp.tanh(x), x * sp.exp(x) * sp.tanh(x)], ids=["sum", "product"]
)
def test_an_input_read_after_its_buffer_is_overwritten_is_refused(expr: sp.Expr) -> None:
    with pytest.raises(ValueError, match="overwritten"):
        Lowering({x: "a"}, ["s", "t"]).lower(expr, "a")


def test_max_computes_its_second_argument_before_overwriting_the_first() -> None:
    _check(sp.Max(sp.tanh(x), sp.exp(x) - 2), {x: "a"}, "a", ["s", "t"])


def test_a_missing_scratch_buffer_is_an_error_not_wrong_code() -> None:
    with pytest.raises(ValueError, match="scratch"):
        Lowering({y: "a"}, []).lower((1 - y**2) * (y + sp.exp(y)), "d")
