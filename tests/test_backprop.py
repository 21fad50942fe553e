"""The vectorized backward formulas of `derive.backprop` against sympy.diff of the total loss.

Every registered network case (depth 2 and 3, bias on and off, every elementwise hidden
activation, every valid loss and output activation) and every single-function proof must hold;
deliberately wrong rules must be caught, so the checker can fail.
"""

from __future__ import annotations

import dataclasses
import itertools
import random

import mpmath
import pytest
import sympy as sp

from derive import activations, backprop, proofs
from derive.proofs import RULES, NetworkCase, prove_network

SMALL = (2, 3, 2)  # non-square, so a transposed weight changes shapes


@pytest.mark.parametrize("case", proofs.NETWORK_CASES, ids=lambda c: c.name)
def test_network_backward_equals_sympy_diff(case: NetworkCase) -> None:
    result = proofs.prove_case(case)
    assert result.holds, result.evidence
    assert result.method.startswith("exact" if proofs._exact(case) else "80 digits")


SINGLE_PROOFS = [p for p in proofs.PROOFS.values() if not p.name.startswith("net:")]


@pytest.mark.parametrize("proof", SINGLE_PROOFS, ids=lambda p: p.name)
def test_single_function_derivation_holds(proof: proofs.Proof) -> None:
    result = proof.run()
    assert result.holds, result.evidence
    assert set(result.eq_ids) <= set(proof.eq_ids)


def test_network_cases_cover_the_required_matrix() -> None:
    required = {
        (depth, bias, hidden, loss, out)
        for depth, bias, hidden, (loss, out) in itertools.product(
            (2, 3),
            (True, False),
            ("relu", "leaky_relu", "sigmoid", "tanh", "identity"),
            proofs.OUTPUT_PAIRS,
        )
    }
    newer = {
        (3, True, hidden, loss, out)
        for hidden in ("softplus", "elu", "gelu", "silu")
        for loss, out in (("mse", "identity"), ("cross_entropy", "softmax"))
    }
    cases = {(len(c.acts), c.bias, c.acts[0], c.loss, c.acts[-1]) for c in proofs.NETWORK_CASES}
    assert cases == required | newer
    assert len(proofs.NETWORK_CASES) == 5 * 9 * 4 + 8
    assert ("mse", "softmax") in proofs.OUTPUT_PAIRS  # eq. (16) of the notes
    assert all(c.batch == 2 for c in proofs.NETWORK_CASES)


def test_every_derivation_is_proved_by_some_case() -> None:
    assert proofs.unproved_derivations() == []
    cited = {i for p in proofs.PROOFS.values() for i in p.eq_ids}
    assert cited <= set(backprop.DERIVATIONS)


def test_unproved_derivations_reports_a_new_id(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = backprop.Derivation("bp.unproved", "t", "s")
    monkeypatch.setitem(backprop.DERIVATIONS, "bp.unproved", extra)
    assert proofs.unproved_derivations() == ["bp.unproved"]


def test_case_cites_the_pieces_it_uses() -> None:
    case = NetworkCase((2, 3, 2, 2), ("tanh", "tanh", "softmax"), "mse", True)
    assert set(case.eq_ids) == {
        "bp.dense",
        "bp.batch_mean",
        "bp.grad_w",
        "bp.grad_b",
        "bp.hidden",
        "act.tanh",
        "loss.mse",
        "bp.softmax_jvp",
    }
    no_bias = NetworkCase(SMALL, ("relu", "softmax"), "cross_entropy", False)
    assert "bp.grad_b" not in no_bias.eq_ids
    assert "bp.softmax_ce" in no_bias.eq_ids


@pytest.mark.parametrize(
    ("acts", "bias"), [(("tanh", "identity"), True), (("sigmoid", "sigmoid"), False)]
)
def test_symbolic_mode_proves_a_smooth_network(acts: tuple[str, str], bias: bool) -> None:
    result = prove_network((1, 2, 1), acts, "mse", bias, symbolic=True)
    assert result.holds, result.evidence
    assert result.method.startswith("symbolic")


def test_symbolic_mode_rejects_kinks() -> None:
    with pytest.raises(ValueError, match="off the kink"):
        prove_network(SMALL, ("relu", "identity"), "mse", symbolic=True)


# --- the sum(t) = 1 condition of the fused softmax + cross-entropy gradient ------------------


def _general_output(loss: str, act: str, A: sp.Matrix, T: sp.Matrix) -> sp.Matrix:
    return proofs.softmax_ce_general_delta(A, T)


def test_fused_softmax_ce_needs_sum_t_equal_one() -> None:
    args = (SMALL, ("tanh", "softmax"), "cross_entropy")
    assert prove_network(*args).holds
    without = prove_network(*args, condition=False)
    assert not without.holds
    assert without.name.endswith("sum_t_free")
    general = dataclasses.replace(RULES, output=_general_output)
    assert prove_network(*args, condition=False, rules=general).holds


def test_fused_softmax_ce_symbolically() -> None:
    assert proofs.prove_softmax_ce(condition=True).holds
    assert not proofs.prove_softmax_ce(condition=False).holds
    assert proofs.prove_softmax_ce(condition=False, general=True).holds


# --- deliberately wrong rules are detected ---------------------------------------------------


def _no_slope(delta: sp.Matrix, W: sp.Matrix, A: sp.Matrix, act: str) -> sp.Matrix:
    return delta * W  # drops f'(Z_l)


def _no_batch_mean(delta: sp.Matrix, A_prev: sp.Matrix, bias: bool) -> tuple:
    grad_w, grad_b = proofs.layer_gradients(delta, A_prev, bias)
    batch = delta.rows
    return grad_w * batch, None if grad_b is None else grad_b * batch  # misses the 1/B


def _transposed(delta: sp.Matrix, A_prev: sp.Matrix, bias: bool) -> tuple:
    grad_w, grad_b = proofs.layer_gradients(delta, A_prev, bias)
    return grad_w.T, grad_b  # A^T delta instead of delta^T A


def _diagonal_softmax(loss: str, act: str, A: sp.Matrix, T: sp.Matrix) -> sp.Matrix:
    # eq. (16) read as elementwise: 2 (s - t) s (1 - s) / n, the off-diagonal -s_i s_k dropped
    return (2 * (A - T) / A.cols).multiply_elementwise(A.applyfunc(lambda s: s * (1 - s)))


def _kink_slope_one(delta: sp.Matrix, W: sp.Matrix, A: sp.Matrix, act: str) -> sp.Matrix:
    return (delta * W).multiply_elementwise(A.applyfunc(lambda a_: sp.Heaviside(a_, 1)))


@pytest.mark.parametrize(
    ("rules", "acts", "loss", "method"),
    [
        (dataclasses.replace(RULES, hidden=_no_slope), ("sigmoid", "identity"), "mse", "80"),
        (dataclasses.replace(RULES, hidden=_no_slope), ("relu", "relu"), "mse", "exact"),
        (
            dataclasses.replace(RULES, gradients=_no_batch_mean),
            ("tanh", "softmax"),
            "cross_entropy",
            "80",
        ),
        (
            dataclasses.replace(RULES, gradients=_transposed),
            ("identity", "identity"),
            "mse",
            "shapes",
        ),
        (
            dataclasses.replace(RULES, output=_diagonal_softmax),
            ("identity", "softmax"),
            "mse",
            "80",
        ),
    ],
    ids=["no-f'", "no-f'-relu", "no-1/B", "transposed-dW", "eq16-diagonal"],
)
def test_wrong_rule_is_detected(rules, acts, loss, method) -> None:
    result = prove_network(SMALL, acts, loss, True, rules=rules)
    assert not result.holds
    assert result.method.startswith(method)
    assert result.evidence


def test_relu_convention_at_zero_matters_only_on_the_kink() -> None:
    # ReLU'(0) = 1 instead of 0 differs from the derivative only where y = 0, i.e. z < 0:
    wrong = dataclasses.replace(RULES, hidden=_kink_slope_one)
    assert not prove_network(SMALL, ("relu", "identity"), "mse", rules=wrong).holds


def test_points_are_off_every_kink_with_both_signs() -> None:
    case = NetworkCase(SMALL, ("relu", "relu"), "mse", True)
    Ws, bs, X, _ = proofs._network(case, random.Random(0), False, None)
    Zs, _ = proofs.forward(case.acts, X, Ws, bs)
    params = [s for M in Ws + bs for s in M]
    point = proofs._point(case, Zs, params, random.Random(1))
    for Z in Zs:
        values = [Z_.xreplace(point) for Z_ in Z]
        assert all(v != 0 for v in values)
        assert min(values) < 0 < max(values)
    on_kink = {s: sp.Integer(0) for s in params}
    assert not proofs._off_kinks(case, Zs, on_kink)


# --- the softmax JVP -----------------------------------------------------------------------


def test_softmax_jvp_equals_full_jacobian_transpose_product() -> None:
    zs, gs = [sp.Rational(1, 3), -2, sp.Rational(5, 4)], sp.Matrix([[2, -1, sp.Rational(1, 2)]])
    s = sp.Matrix([activations.softmax(zs)])
    full = gs * proofs.softmax_jacobian(list(sp.symbols("z0:3", real=True)))
    full = full.subs(dict(zip(sp.symbols("z0:3", real=True), zs, strict=True)))
    fast = proofs.softmax_jvp(s, gs)
    assert all(abs(sp.N(full[i] - fast[i], 50)) < 1e-45 for i in range(3))
    wrong = s.multiply_elementwise(gs)  # s * g, the diagonal of J only
    assert any(abs(sp.N(full[i] - wrong[i], 50)) > 1e-3 for i in range(3))


def test_prove_softmax_jvp_is_symbolic_and_holds() -> None:
    result = proofs.prove_softmax_jvp(4)
    assert result.holds
    assert result.method.startswith("symbolic")


def test_output_delta_kinds() -> None:
    assert backprop.output_delta("mse", "softmax").kind == "softmax_jvp"
    assert backprop.output_delta("cross_entropy", "softmax").kind == "elementwise"
    assert backprop.output_delta("mse", "tanh").kind == "elementwise"


# --- the fast oracle is sympy.diff of E ----------------------------------------------------


@pytest.mark.parametrize(
    ("layers", "acts", "loss"),
    [
        ((2, 3, 2), ("tanh", "softmax"), "cross_entropy"),
        ((2, 3, 2), ("relu", "leaky_relu"), "mse"),
        ((2, 3, 2, 2), ("sigmoid", "leaky_relu", "softmax"), "mse"),
    ],
)
def test_chained_diff_equals_literal_sympy_diff(layers, acts, loss) -> None:
    rng = random.Random(3)
    case = NetworkCase(layers, acts, loss, True)
    problem = proofs._problem(case, RULES, False, True, rng)
    point = proofs._point(case, problem.Zs, problem.symbols(), rng)
    exact = proofs._exact(case)
    (W1, _), (_, b_last) = problem.params[0], problem.params[-1]
    chosen = [W1[0, 0], W1[-1, -1], b_last[0, -1]]
    with mpmath.workdps(80):
        chained = proofs.chained_diff(problem.E, chosen, point, exact)
        value = proofs._evaluator(point, exact)
        literal = [value(sp.diff(problem.E, w)) for w in chosen]
        for a, b in zip(chained, literal, strict=True):
            assert a == b if exact else abs(a - b) < 1e-50 * max(1, abs(b))
