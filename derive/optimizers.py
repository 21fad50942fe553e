"""Optimizer update rules that generated `train_step`s cite, one record each.

Each rule is written once in SymPy (`RULES`): assignments run in order, each reading the
values the ones before it left, per entry of a parameter W with gradient g, first moment m
and second moment v (momentum's velocity is v, kept scaled by the learning rate as in the
generated code). The generated fast path's update ops are folded back with `lower.rebuild`
and proved equal to these rules (tests/test_fast_ir.py).

The learning rate of sgd and momentum is folded into the output delta at generation time,
so every gradient buffer already carries it; adam, adamw and rmsprop keep plain gradients.
"""

from __future__ import annotations

import sympy as sp

from derive.backprop import Derivation

# A parameter, its gradient, the first and second moments (momentum's velocity is v).
W, g, m, v = sp.symbols("W g m v", real=True)
# The hyperparameters, and Adam's per-step scalars lr / (1 - beta1^k), 1 / sqrt(1 - beta2^k).
lr, mu, wd, beta1, beta2, alpha, eps = sp.symbols(
    "lr momentum weight_decay beta1 beta2 alpha epsilon", positive=True
)
step_size, root_correction = sp.symbols("step_size root_correction", positive=True)
u = sp.Symbol("u", real=True)  # Nesterov's step, computed aside

Assignments = tuple[tuple[sp.Symbol, sp.Expr], ...]

RULES: dict[str, Assignments] = {
    "opt.sgd": ((W, W - lr * g),),
    "opt.momentum": ((v, mu * v + lr * g), (W, W - v)),
    "opt.nesterov": ((v, mu * v + lr * g), (u, lr * g + mu * v), (W, W - u)),
    "opt.weight_decay": ((g, g + wd * W),),
    "opt.adam": (
        (m, m + (1 - beta1) * (g - m)),
        (v, v + (1 - beta2) * (g**2 - v)),
        (W, W - step_size * m / (sp.sqrt(v) * root_correction + eps)),
    ),
    "opt.adamw": ((W, W * (1 - lr * wd)),),
    "opt.rmsprop": ((v, v + (1 - alpha) * (g**2 - v)), (W, W - lr * g / (sp.sqrt(v) + eps))),
}


def run(ids: list[str] | tuple[str, ...]) -> dict[sp.Symbol, sp.Expr]:
    """The values of W, g, m and v after the rules `ids`, in order, from W, g, m, v."""
    values: dict[sp.Symbol, sp.Expr] = {W: W, g: g, m: m, v: v, u: u}
    for eq_id in ids:
        for target, expr in RULES[eq_id]:
            values[target] = expr.xreplace(values)
    return values


UPDATES: dict[str, Derivation] = {
    d.id: d
    for d in (
        Derivation("opt.sgd", "gradient descent", "W <- W - lr dE/dW", notes="Steps 3 and 6"),
        Derivation(
            "opt.momentum",
            "heavy-ball momentum",
            "v <- mu v + lr dE/dW; W <- W - v (PyTorch's rule, v scaled by lr)",
        ),
        Derivation(
            "opt.weight_decay",
            "L2 weight decay",
            "g <- dE/dW + wd W, on every weight and bias (PyTorch's weight_decay); the [0 ... 0 1]"
            " row under a hidden layer's [W | b] block is no parameter and is left alone",
        ),
        Derivation(
            "opt.nesterov",
            "Nesterov momentum",
            "v <- mu v + lr g; W <- W - (lr g + mu v) (PyTorch's SGD(nesterov=True), v scaled"
            " by lr)",
        ),
        Derivation(
            "opt.adam",
            "Adam",
            "m <- b1 m + (1 - b1) g; v <- b2 v + (1 - b2) g^2;"
            " W <- W - lr/(1 - b1^k) m / (sqrt(v / (1 - b2^k)) + eps) (PyTorch's rule)",
        ),
        Derivation(
            "opt.adamw",
            "AdamW's decoupled weight decay",
            "W <- W (1 - lr wd), then Adam's step from dE/dW (PyTorch's AdamW); the [0 ... 0 1]"
            " row under a hidden layer's [W | b] block is left alone",
        ),
        Derivation(
            "opt.rmsprop",
            "RMSprop",
            "v <- alpha v + (1 - alpha) g^2; W <- W - lr g / (sqrt(v) + eps) (PyTorch's rule)",
        ),
    )
}
