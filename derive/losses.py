"""Losses, each defined once in SymPy as a per-output term and a reduction over the outputs.

Every loss is then averaged over the batch. `mse` is the notes' E_tot = (1/n) sum_i E_i with
E_i = (a_i - t_i)^2; `cross_entropy` is -sum_i t_i log s_i over a softmax output;
`binary_cross_entropy` is the mean over outputs of -(t log a + (1 - t) log(1 - a)) over a
sigmoid output; `huber` (delta 1, PyTorch's HuberLoss) is the mean over outputs of d**2/2 for
|d| <= 1 and |d| - 1/2 beyond, d = a - t. Derivatives come from `sympy.diff`; where a simpler
form is used (Huber's clip(d, -1, 1)), `proofs.prove_loss` proves it equal region by region.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from derive.activations import differentiate
from derive.symbols import t, y


@dataclass(frozen=True)
class Loss:
    """A loss: `term(y, t)` per output, then a mean (`mean_over_outputs`) or a sum over them."""

    name: str
    title: str
    term: sp.Expr  # in y (an output) and t (its target)
    mean_over_outputs: bool
    output_activation: str | None  # the activation this loss must follow, if any
    classifier: bool
    simpler: sp.Expr | None = None  # d term / d y in a form generated code computes, proved

    @property
    def gradient(self) -> sp.Expr:
        """d term / d y as generated code computes it: `simpler` when given, else `derivative`."""
        return self.derivative if self.simpler is None else self.simpler

    def of(self, outputs: Sequence[sp.Expr], targets: Sequence[sp.Expr]) -> sp.Expr:
        """The loss of one sample: the reduction of term(y_i, t_i) over the outputs."""
        total = sp.Add(
            *[self.term.subs({y: yi, t: ti}) for yi, ti in zip(outputs, targets, strict=True)]
        )
        return total / len(outputs) if self.mean_over_outputs else total

    @cached_property
    def derivative(self) -> sp.Expr:
        """d term / d y, from `sympy.diff` (the 1/n of a mean is applied by the caller)."""
        return differentiate(self.term, y)


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        Loss("mse", "mean squared error", (y - t) ** 2, True, None, False),
        Loss("cross_entropy", "cross-entropy", -t * sp.log(y), False, "softmax", True),
        Loss(
            "binary_cross_entropy",
            "binary cross-entropy",
            -(t * sp.log(y) + (1 - t) * sp.log(1 - y)),
            True,
            "sigmoid",
            True,
        ),
        Loss(
            "huber",
            "Huber (delta 1)",
            (y - t) ** 2 / 2 - sp.Max(0, y - t - 1) ** 2 / 2 - sp.Max(0, t - y - 1) ** 2 / 2,
            True,
            None,
            False,
            simpler=sp.Max(-1, sp.Min(1, y - t)),  # clip(a - t, -1, 1)
        ),
    )
}


def get(name: str) -> Loss:
    """The loss called `name`; a clear error for an unknown one."""
    try:
        return LOSSES[name]
    except KeyError:
        raise KeyError(f"no loss {name!r}; known: {', '.join(LOSSES)}") from None
