"""Optimizer update rules that generated `train_step`s cite, one record each.

The learning rate of sgd and momentum is folded into the output delta at generation time,
so every gradient buffer already carries it; adam keeps plain gradients.
"""

from __future__ import annotations

from derive.backprop import Derivation

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
            "opt.adam",
            "Adam",
            "m <- b1 m + (1 - b1) g; v <- b2 v + (1 - b2) g^2;"
            " W <- W - lr/(1 - b1^k) m / (sqrt(v / (1 - b2^k)) + eps) (PyTorch's rule)",
        ),
    )
}
