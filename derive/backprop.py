"""The layer-level chain rule and its stable forms, as registered derivations with ids.

Generated code cites these ids on every line that implements one (`# [bp.hidden]`). Each
expression here is obtained from `sympy.diff` of the definitions in `activations` and
`losses`, or is an identity that `derive.proofs` checks against direct differentiation.

Notation (samples as rows, as in generated code): A_0 = X; Z_l = A_{l-1} W_l^T + b_l;
A_l = f_l(Z_l); E = (1/B) sum over the B samples of the loss of each sample.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, cached_property

import sympy as sp

from derive import activations, losses
from derive.symbols import n, t, x, y


@dataclass(frozen=True)
class Derivation:
    """A registered derivation: an id that code cites, what it states, and its condition."""

    id: str
    title: str
    # The statement, or a function that writes it: an activation's slope in its output takes
    # SymPy a second, so it is derived when first read, not for every activation at import.
    stated: str | Callable[[], str]
    condition: str | None = None
    notes: str | None = None  # the equations of the seed notes it corresponds to

    @cached_property
    def statement(self) -> str:
        """What the derivation states."""
        return self.stated if isinstance(self.stated, str) else self.stated()


_REGISTERED = (
    Derivation("bp.dense", "weighted input", "Z_l = A_{l-1} W_l^T (+ b_l)", notes="eq. (1)"),
    Derivation(
        "bp.delta_out",
        "output delta",
        "delta_L = dE/dA_L * f_L'(Z_L), with dE/dA_L from the loss",
        notes="eqs. (3), (4), (9), (10)",
    ),
    Derivation(
        "bp.hidden",
        "hidden delta",
        "delta_l = (delta_{l+1} W_{l+1}) * f_l'(Z_l)",
        notes="eqs. (5), (7), (11)",
    ),
    Derivation(
        "bp.grad_w", "weight gradient", "dE/dW_l = delta_l^T A_{l-1}", notes="eqs. (6), (8)"
    ),
    Derivation("bp.grad_b", "bias gradient", "dE/db_l = sum over the batch of delta_l"),
    Derivation("bp.batch_mean", "batch mean", "E = (1/B) sum over the batch of each sample's loss"),
    Derivation(
        "bp.softmax_ce",
        "fused softmax + cross-entropy",
        "dE/dz_i = s_i sum_j t_j - t_i = s_i - t_i",
        condition="sum_j t_j = 1 (one-hot or probability targets)",
    ),
    Derivation(
        "bp.sigmoid_bce",
        "fused sigmoid + binary cross-entropy",
        "dE/dz_i = (a_i - t_i) / n",
    ),
    Derivation(
        "bp.softmax_jvp",
        "softmax Jacobian-vector product",
        "sum_k g_k ds_k/dz_i = s_i (g_i - sum_k g_k s_k), O(n) instead of the O(n^2) Jacobian",
        notes="eqs. (15), (16)",
    ),
    Derivation(
        "bp.stable_softmax",
        "shifted softmax",
        "softmax(z) = softmax(z - max_j z_j): no overflow",
        notes="eq. (12)",
    ),
    Derivation(
        "bp.log_softmax",
        "log-sum-exp cross-entropy",
        "-sum_i t_i log s_i = sum_i t_i (m + log sum_j exp(z_j - m) - z_i), m = max_j z_j",
    ),
    Derivation(
        "bp.stable_bce",
        "binary cross-entropy from the logit",
        "-(t log s(z) + (1 - t) log(1 - s(z))) = log(1 + exp(-z)) + (1 - t) z",
    ),
)
DERIVATIONS: dict[str, Derivation] = {d.id: d for d in _REGISTERED}
DERIVATIONS["bp.sigmoid_from_softplus"] = Derivation(
    "bp.sigmoid_from_softplus",
    "sigmoid from softplus",
    "sigmoid(z) = exp(-log(1 + exp(-z))): the BCE term log(1 + exp(-z)) gives the output too",
)


# The derivations of activations a spec defines itself: registered when a module is made
# for the spec (after `proofs.prove_slope` holds), kept apart from the built-in registry.
SPEC_DERIVATIONS: dict[str, Derivation] = {}


def register_activation(
    act: activations.Activation, registry: dict[str, Derivation] | None = None
) -> None:
    """Register def.<name> and act.<name>, the derivations generated code cites for `act`."""
    registry = DERIVATIONS if registry is None else registry
    if not act.elementwise:
        return

    def slope() -> str:
        if act.slope_in_output:
            return f"f'(z) = {act.derivative_of_output} with y = f(z)"
        return f"f'(z) = {act.derivative}, kept from the forward pass"

    registry[f"def.{act.name}"] = Derivation(
        f"def.{act.name}",
        f"{act.title} definition",
        f"f(z) = {act.expr}, computed in an overflow-free form where one is needed",
    )
    registry[f"act.{act.name}"] = Derivation(
        f"act.{act.name}", f"{act.title} derivative", slope, condition=act.convention
    )


for _act in activations.ACTIVATIONS.values():
    register_activation(_act)
DERIVATIONS["bp.huber_value"] = Derivation(
    "bp.huber_value",
    "Huber loss from its gradient",
    "huber(d) = g d - g^2 / 2 with g = clip(d, -1, 1), the gradient computed anyway",
)
for _loss in losses.LOSSES.values():
    DERIVATIONS[f"loss.{_loss.name}"] = Derivation(
        f"loss.{_loss.name}", f"{_loss.title} derivative", f"dE/dy = {_loss.gradient}"
    )


def derivation(eq_id: str) -> Derivation:
    """The registered derivation `eq_id`; a clear error when there is none."""
    try:
        return DERIVATIONS[eq_id] if eq_id in DERIVATIONS else SPEC_DERIVATIONS[eq_id]
    except KeyError:
        raise KeyError(f"no registered derivation {eq_id!r}") from None


@dataclass(frozen=True)
class OutputDelta:
    """How generated code computes delta_L = dE/dZ_L for one sample's outputs.

    kind "elementwise": delta = expr(y, t), y the output activation, t the target.
    kind "softmax_jvp": g = expr(y, t) is dE/dA_L; delta = s * (g - sum(g * s)).
    The 1/n of a mean over outputs is in expr, with n the number of outputs.
    """

    kind: str
    expr: sp.Expr
    eq_ids: tuple[str, ...]


@cache
def output_delta(loss_name: str, act_name: str) -> OutputDelta:
    """The output delta for a loss after an output activation, each piece from sympy.diff."""
    loss = losses.get(loss_name)
    act = activations.get(act_name)
    if loss.output_activation not in (None, act_name):
        raise ValueError(
            f"{loss_name} pairs with a {loss.output_activation} output, not {act_name}"
        )
    scale = 1 / n if loss.mean_over_outputs else sp.Integer(1)
    if loss_name == "cross_entropy":
        return OutputDelta("elementwise", softmax_ce_delta(), ("bp.softmax_ce",))
    if loss_name == "binary_cross_entropy":
        return OutputDelta("elementwise", scale * sigmoid_bce_delta(), ("bp.sigmoid_bce",))
    dloss = scale * loss.gradient
    if not act.elementwise:  # softmax after an elementwise loss: eq. (16)
        return OutputDelta("softmax_jvp", dloss, (f"loss.{loss.name}", "bp.softmax_jvp"))
    return OutputDelta(
        "elementwise",
        dloss * act.derivative_of_output,
        (f"loss.{loss.name}", f"act.{act.name}", "bp.delta_out"),
    )


@cache
def sigmoid_bce_delta() -> sp.Expr:
    """d/dz of the binary cross-entropy of sigmoid(z), from sympy.diff, written in y = s(z)."""
    sigmoid = activations.get("sigmoid")
    term = losses.get("binary_cross_entropy").term.subs(y, sigmoid.of(x))
    return sigmoid.in_terms_of_output(sp.simplify(sp.diff(term, x)))


@cache
def softmax_ce_delta(size: int = 3) -> sp.Expr:
    """dE/dz_0 of cross-entropy after softmax, from sympy.diff on `size` outputs, under sum t = 1.

    The general derivative is s_i sum_j t_j - t_i; with the condition it is y - t.
    """
    zs = [sp.Symbol(f"z_{i}", real=True) for i in range(size)]
    ts = [sp.Symbol(f"t_{i}", real=True) for i in range(size)]
    s = activations.softmax(zs)
    loss = losses.get("cross_entropy").of(s, ts)
    d0 = sp.diff(loss, zs[0]).subs(ts[-1], 1 - sum(ts[:-1]))  # the condition sum t = 1
    fused = y - t
    assert sp.simplify(d0 - fused.subs({y: s[0], t: ts[0]})) == 0, "softmax + CE is not s - t"
    return fused


@cache
def stable_bce_term() -> sp.Expr:
    """BCE of sigmoid(x) written from the logit x: log(1 + exp(-x)) + (1 - t) x, checked."""
    stable = sp.log(1 + sp.exp(-x)) + (1 - t) * x
    direct = losses.get("binary_cross_entropy").term.subs(y, activations.get("sigmoid").of(x))
    assert sp.simplify(sp.expand_log(direct - stable, force=True)) == 0, "stable BCE differs"
    return stable
