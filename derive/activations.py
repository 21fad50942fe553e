"""Activation functions, each defined once in SymPy; every derivative comes from `sympy.diff`.

An elementwise activation is an expression in `x`. Its derivative is taken by SymPy and, for
generated code, rewritten in terms of the activation's own output `y` (sigmoid' = y(1 - y),
tanh' = 1 - y**2, relu' = H(y)), which is proved equal to the derivative before it is used.

ReLU'(0) is a convention, not mathematics: SymPy's Heaviside is 1/2 at 0. derive takes the
left derivative at a kink, as PyTorch and scikit-learn do: `HEAVISIDE_AT_ZERO = 0`, so
ReLU'(0) = 0 and leaky ReLU'(0) = 0.01. It is set here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property

import sympy as sp

from derive.symbols import p, x, y

HEAVISIDE_AT_ZERO = sp.Integer(0)
KINK_CONVENTION = "ReLU'(0) = 0 (Heaviside(0) = 0, the left derivative, as PyTorch)"
LEAKY_SLOPE = sp.Rational(1, 100)


def apply_kink_convention(expr: sp.Expr) -> sp.Expr:
    """Pin every Heaviside that carries SymPy's default value at 0 (1/2) to the project's."""
    return expr.replace(
        lambda e: isinstance(e, sp.Heaviside) and e.args[1] == sp.S.Half,
        lambda e: sp.Heaviside(e.args[0], HEAVISIDE_AT_ZERO),
    )


def differentiate(expr: sp.Expr, var: sp.Symbol) -> sp.Expr:
    """`sympy.diff` with the kink convention applied: the one way derive differentiates."""
    return apply_kink_convention(sp.diff(expr, var))


@dataclass(frozen=True)
class Activation:
    """An elementwise activation f(x), or the softmax when `expr` is None."""

    name: str
    title: str
    expr: sp.Expr | None
    init: str  # weight initialisation: "he" (ReLU family) or "glorot"

    @property
    def elementwise(self) -> bool:
        return self.expr is not None

    @property
    def has_kink(self) -> bool:
        return self.expr is not None and self.expr.has(sp.Max)

    def of(self, arg: sp.Expr) -> sp.Expr:
        """f(arg) for an elementwise activation."""
        assert self.expr is not None, f"{self.name} is not elementwise"
        return self.expr.subs(x, arg)

    @cached_property
    def derivative(self) -> sp.Expr:
        """f'(x), from `sympy.diff`, kink convention applied."""
        assert self.expr is not None, f"{self.name} is not elementwise"
        return differentiate(self.expr, x)

    @cached_property
    def homogeneous(self) -> bool:
        """f(x) = x f'(x) for every real x (ReLU, leaky ReLU, identity): the derivative at the
        weighted input, computed on the way forward, gives the output by one product."""
        return self.expr is not None and _equal_everywhere(x * self.derivative, self.expr)

    @cached_property
    def derivative_of_output(self) -> sp.Expr:
        """f'(x) written in y = f(x) alone, proved equal to `derivative` before it is returned."""
        return self.in_terms_of_output(self.derivative)

    @cache  # noqa: B019 (activations live in the registry for the whole process)
    def in_terms_of_output(self, expr: sp.Expr) -> sp.Expr:
        """`expr` (in x, maybe t) rewritten in y = f(x) alone; proved equal for every real x."""
        assert self.expr is not None, f"{self.name} is not elementwise"
        for candidate in _output_forms(self.expr, expr):
            if not candidate.has(x) and _equal_everywhere(candidate.subs(y, self.expr), expr):
                return candidate
        raise ValueError(f"{expr} cannot be written in the output of {self.name}")


def _output_forms(f: sp.Expr, d: sp.Expr) -> list[sp.Expr]:
    """Candidate rewritings of d in y = f(x): by substitution, by the inverse, or in place."""
    forms = [d.subs(f, y)]
    if not f.has(sp.Max):
        for inverse in sp.solve(sp.Eq(y, f), x):
            forms.append(sp.simplify(d.subs(x, inverse)))
    # Piecewise-linear f keeps the sign of x, so a step in x is the same step in f(x).
    forms.append(d.subs(x, y))
    return forms


def _equal_everywhere(lhs: sp.Expr, rhs: sp.Expr) -> bool:
    """lhs == rhs for every real x: symbolically, or region by region around a kink at 0."""
    if sp.simplify(lhs - rhs) == 0:
        return True
    if not (lhs.has(sp.Heaviside) or rhs.has(sp.Heaviside)):
        return False
    return all(sp.simplify((lhs - rhs).subs(x, point)) == 0 for point in (p, -p, sp.Integer(0)))


def softmax(zs: list[sp.Expr]) -> list[sp.Expr]:
    """s_i = exp(z_i) / sum_j exp(z_j), eq. (12) of the notes."""
    total = sp.Add(*[sp.exp(zj) for zj in zs])
    return [sp.exp(zi) / total for zi in zs]


ACTIVATIONS: dict[str, Activation] = {
    act.name: act
    for act in (
        Activation("relu", "ReLU", sp.Max(0, x), "he"),
        Activation(
            "leaky_relu", "leaky ReLU", LEAKY_SLOPE * x + (1 - LEAKY_SLOPE) * sp.Max(0, x), "he"
        ),
        Activation("sigmoid", "sigmoid", 1 / (1 + sp.exp(-x)), "glorot"),
        Activation("tanh", "tanh", sp.tanh(x), "glorot"),
        Activation("identity", "identity", x, "glorot"),
        Activation("softmax", "softmax", None, "glorot"),
    )
}


def get(name: str) -> Activation:
    """The activation called `name`; a clear error for an unknown one."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise KeyError(f"no activation {name!r}; known: {', '.join(ACTIVATIONS)}") from None
