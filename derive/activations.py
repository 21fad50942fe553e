"""Activation functions, each defined once in SymPy; every derivative comes from `sympy.diff`.

An elementwise activation is an expression in `x`. Its derivative is taken by SymPy and, for
generated code, rewritten in terms of the activation's own output `y` (sigmoid' = y(1 - y),
tanh' = 1 - y**2, relu' = H(y)), which is proved equal to the derivative before it is used.

ReLU'(0) is a convention, not mathematics: SymPy's Heaviside is 1/2 at 0. derive takes the
left derivative at a kink, as PyTorch and scikit-learn do: `HEAVISIDE_AT_ZERO = 0`, so
ReLU'(0) = 0 and leaky ReLU'(0) = 0.01. It is set here and nowhere else, for every form a
claim may write (`differentiate`): Heaviside, Max, Min, Abs, Piecewise, relu, leaky ReLU.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property

import sympy as sp

from derive.symbols import p, x, y

HEAVISIDE_AT_ZERO = sp.Integer(0)
KINK_CONVENTION = (
    "the left derivative at a kink (ReLU'(0) = 0, leaky ReLU'(0) = its slope, as PyTorch)"
)
LEAKY_SLOPE = sp.Rational(1, 100)


def apply_kink_convention(expr: sp.Expr) -> sp.Expr:
    """Pin every Heaviside that carries SymPy's default value at 0 (1/2) to the project's."""
    return expr.replace(
        lambda e: isinstance(e, sp.Heaviside) and e.args[1] == sp.S.Half,
        lambda e: sp.Heaviside(e.args[0], HEAVISIDE_AT_ZERO),
    )


KINK_SOURCES: dict[sp.Expr, str] = {}  # kink argument -> the Max, Min or Abs it came from


def differentiate(expr: sp.Expr, var: sp.Symbol) -> sp.Expr:
    """`sympy.diff` with the kink convention applied: the one way derive differentiates.

    At a kink the derivative is the left one, d/dvar from below, whatever form wrote it:
    a Heaviside that `sympy.diff` makes (from Max, Min, relu) takes at 0 the value its
    argument has just left of the kink; Abs(u) is differentiated as Piecewise((u, u > 0),
    (-u, True)); a Piecewise derivative takes at each boundary the case that holds just
    left of it. Where the kink's direction in `var` depends on other quantities (a weighted
    input differentiated by a weight), Heaviside(0) = 0: ReLU'(0) = 0 through the chain
    rule, as PyTorch's autograd.
    """
    _remember_kinks(expr)
    expr = expr.replace(
        lambda e: isinstance(e, sp.Abs) and e.args[0].has(var),
        lambda e: sp.Piecewise((e.args[0], e.args[0] > 0), (-e.args[0], True)),
    )
    derivative = sp.diff(expr, var)
    derivative = derivative.replace(
        lambda e: isinstance(e, sp.Heaviside) and e.args[1] == sp.S.Half,
        lambda e: sp.Heaviside(e.args[0], _left_value(e.args[0], var)),
    )
    return derivative.replace(lambda e: isinstance(e, sp.Piecewise), lambda e: _left_cases(e, var))


def _left_value(kink: sp.Expr, var: sp.Symbol) -> sp.Expr:
    """Heaviside(kink) just left of kink = 0 in `var`: 1 when kink falls as var grows."""
    slope = sp.diff(kink, var)
    return sp.Integer(1) if slope.is_negative else HEAVISIDE_AT_ZERO


def _left_cases(piecewise: sp.Piecewise, var: sp.Symbol) -> sp.Piecewise:
    """The Piecewise with each inequality in `var` made true on its boundary when it is true
    just left of it, false when false there: the cases of the left limit."""

    def left(rel: sp.Basic) -> sp.Basic:
        kink = rel.lhs - rel.rhs
        slope = sp.diff(kink, var)
        if not (slope.is_positive or slope.is_negative):
            return rel
        below = bool(slope.is_positive)  # just left of the boundary, kink < 0
        if isinstance(rel, sp.StrictLessThan | sp.LessThan):
            return sp.Le(kink, 0) if below else sp.Lt(kink, 0)
        return sp.Gt(kink, 0) if below else sp.Ge(kink, 0)

    inequality = (sp.StrictLessThan, sp.LessThan, sp.StrictGreaterThan, sp.GreaterThan)
    cases = [
        (value, condition.replace(lambda e: isinstance(e, inequality), left))
        for value, condition in piecewise.args
    ]
    return sp.Piecewise(*cases)


def kink_key(kink: sp.Expr) -> sp.Expr:
    """The kink up to a constant factor: x for 99*x/100 and for -x."""
    primitive = sp.expand(kink).as_content_primitive()[1]
    return -primitive if primitive.could_extract_minus_sign() else primitive


def _remember_kinks(expr: sp.Expr) -> None:
    for node in sp.preorder_traversal(expr):
        if isinstance(node, sp.Max | sp.Min) and len(node.args) == 2 and 0 not in node.args:
            kink = kink_key(node.args[0] - node.args[1])
            KINK_SOURCES.setdefault(kink, f"the tie of {sp.sstr(node)}")
        if isinstance(node, sp.Abs):
            KINK_SOURCES.setdefault(kink_key(node.args[0]), f"the kink of {sp.sstr(node)}")


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
