"""Output rules: one record per (loss, output activation), read by both paths and the templates.

A rule says, for its pair: how the module checks targets (`targets`), whether it computes
the output activation itself (`fused`: BCE's sigmoid from its softplus, cross-entropy's
softmax with its log), the readable `_loss` body, the fast path's loss value (`value`, IR
items that leave the output error's factor in d<L>), what d<L> then holds (`held`, replaced
by d in the delta of `backprop.output_delta` before it is lowered), and the derivation ids
its lines cite. Codegen looks a rule up by the spec's pair and never by a loss's name: a new
loss is a record here, its `losses.LOSSES` entry and its delta in `backprop.output_delta`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from derive import backprop, losses
from derive.codegen.ir import Item, Op, Stmt
from derive.codegen.printing import to_numpy
from derive.symbols import t, x, y


@dataclass(frozen=True)
class Output:
    """The names a rule's fast ops write with: the output layer's buffers a (its output,
    computed from z in place), d (its error), s (scratch), the targets, the per-sample
    divisor of the loss, and `number`, which names a constant."""

    a: str
    d: str
    s: str
    target: str
    per_sample: str
    number: Callable[[sp.Expr], str]


@dataclass(frozen=True)
class OutputRule:
    """The output layer of one (loss, output activation): see the module docstring."""

    loss: str
    activation: str | None  # None: after any output activation the loss allows
    targets: str  # "probabilities" (rows summing to 1), "binary" ([0, 1]), "any" (finite)
    fused: bool
    readable: Callable[[losses.Loss], list[Item]]
    value: Callable[[Output], list[Item]]
    held: Callable[[losses.Loss], sp.Expr] | None
    cites: tuple[str, ...]


def softmax_columns(o: Output, log_loss: bool = False) -> list[Item]:
    """The softmax of z<L>^T (one sample a column), shifted by its max; with `log_loss`, the
    cross-entropy's value computed on the way (from the shifted z and the log of the sums)."""
    items: list[Item] = [
        Op("copyto", ("Y.T",), "targets"),
        Op("maximum.reduce", (o.a,), "cols", ("bp.stable_softmax",), axis=0),
        Op("copyto", ("cols",), "wide"),
        Op("subtract", (o.a, "wide"), o.a),
    ]
    if log_loss:
        code = f"loss = -float(vdot(targets, {o.a}))"
        items.append(Stmt(code, ("targets", o.a), ("vdot",), ("bp.log_softmax",)))
    items += [
        Op("exp", (o.a,), o.a),
        Op("add.reduce", (o.a,), "cols", axis=0),
        Op("copyto", ("cols",), "wide"),
        Op("divide", (o.a, "wide"), o.a),
    ]
    if log_loss:
        code = "loss = (loss + float(vdot(cols, ones))) / batch"
        items += [
            Op("log", ("cols",), "cols"),
            Stmt(code, ("cols", "ones"), ("vdot",), note="vdot: a cheap sum"),
        ]
    return items


def _mean(loss: losses.Loss) -> list[Item]:
    code = to_numpy(loss.term, {y: "a", t: "T"})
    return [Stmt(f"return float(numpy.mean({code}))", cites=("bp.batch_mean",))]


def _cross_entropy(loss: losses.Loss) -> list[Item]:
    term = loss.term.subs(sp.log(y), sp.Symbol("log_softmax", real=True))
    log_softmax = "shifted - numpy.log(numpy.exp(shifted).sum(axis=1, keepdims=True))"
    return [
        Stmt("shifted = z - z.max(axis=1, keepdims=True)", cites=("bp.stable_softmax",)),
        Stmt(f"log_softmax = {log_softmax}", cites=("bp.log_softmax",)),
        Stmt(
            f"return float(numpy.sum({to_numpy(term, {t: 'T'})})) / z.shape[0]",
            cites=("bp.batch_mean",),
        ),
    ]


def _binary_cross_entropy(loss: losses.Loss) -> list[Item]:
    code = to_numpy(backprop.stable_bce_term(), {x: "z", t: "T"})
    return [Stmt(f"return float(numpy.mean({code}))", cites=("bp.stable_bce", "bp.batch_mean"))]


def _sigmoid_from_softplus(o: Output) -> list[Item]:
    """log(1 + exp(-z)) is both the loss term and, negated and exponentiated, sigmoid(z)."""
    a, zero = o.a, o.number(sp.Integer(0))
    return [
        Stmt(
            f"loss = float(add.reduce({a}, axis=None)) - float(vdot(Y, {a}))",
            (a,),
            ("add", "vdot"),
            ("bp.stable_bce",),
        ),
        Op("negative", (a,), a),
        Op("logaddexp", (a, zero), a),
        Stmt(f"loss = (loss + float(add.reduce({a}, axis=None))) / {o.per_sample}", (a,), ("add",)),
        Op("negative", (a,), a),
        Op("exp", (a,), a, ("bp.sigmoid_from_softplus",)),
    ]


def _squared_error(o: Output) -> list[Item]:
    """d = a - t, then the loss from d alone."""
    value = f"loss = float(vdot({o.d}, {o.d})) / {o.per_sample}"
    return [
        Op("subtract", (o.a, o.target), o.d, ("loss.mse",)),
        Stmt(value, (o.d,), ("vdot",), ("bp.batch_mean",)),
    ]


def _huber(o: Output) -> list[Item]:
    """g = clip(d, -1, 1) in s; the loss is g d - g**2 / 2; d then holds g."""
    a, d, s = o.a, o.d, o.s
    one, minus_one = o.number(sp.Integer(1)), o.number(sp.Integer(-1))
    return [
        Op("subtract", (a, o.target), d),
        Op("minimum", (d, one), s, ("loss.huber",)),
        Op("maximum", (s, minus_one), s),
        Stmt(
            f"loss = float(vdot({s}, {d})) - float(vdot({s}, {s})) / 2",
            (s, d),
            ("vdot",),
            ("bp.huber_value",),
        ),
        Stmt(f"loss = loss / {o.per_sample}", cites=("bp.batch_mean",)),
        Op("copyto", (s,), d),
    ]


RULES: dict[tuple[str, str | None], OutputRule] = {
    (rule.loss, rule.activation): rule
    for rule in (
        OutputRule(
            "cross_entropy",
            "softmax",
            targets="probabilities",
            fused=True,
            readable=_cross_entropy,
            value=lambda o: softmax_columns(o, log_loss=True),
            held=None,
            cites=("bp.stable_softmax", "bp.log_softmax", "bp.batch_mean", "bp.softmax_ce"),
        ),
        OutputRule(
            "binary_cross_entropy",
            "sigmoid",
            targets="binary",
            fused=True,
            readable=_binary_cross_entropy,
            value=_sigmoid_from_softplus,
            held=None,
            cites=("bp.stable_bce", "bp.batch_mean", "bp.sigmoid_from_softplus", "bp.sigmoid_bce"),
        ),
        OutputRule(
            "mse",
            None,
            targets="any",
            fused=False,
            readable=_mean,
            value=_squared_error,
            held=lambda loss: y - t,
            cites=("loss.mse", "bp.batch_mean"),
        ),
        OutputRule(
            "huber",
            None,
            targets="any",
            fused=False,
            readable=_mean,
            value=_huber,
            held=lambda loss: loss.gradient,  # clip(a - t, -1, 1)
            cites=("loss.huber", "bp.huber_value", "bp.batch_mean"),
        ),
    )
}


def output_rule(loss: str, activation: str) -> OutputRule:
    """The output rule of `loss` after `activation`: its own record, or the loss's for any
    output activation."""
    found = RULES.get((loss, activation)) or RULES.get((loss, None))
    if found is None:
        raise ValueError(f"no output rule for {loss} after {activation}")
    return found
