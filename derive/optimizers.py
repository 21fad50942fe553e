"""Optimizer update rules that generated `train_step`s cite, one record each.

The learning rate of sgd and momentum is folded into the output delta at generation time,
so every gradient buffer already carries it; adam, adamw and rmsprop keep plain gradients.
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
