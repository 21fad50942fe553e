"""Activation functions, each defined once in SymPy; every derivative comes from `sympy.diff`.

An elementwise activation is an expression in `x`. Its derivative is taken by SymPy and, for
generated code, rewritten in terms of the activation's own output `y` (sigmoid' = y(1 - y),
tanh' = 1 - y**2, relu' = H(y)), which is proved equal to the derivative before it is used.

ReLU'(0) is a convention, not mathematics: SymPy's Heaviside is 1/2 at 0. derive takes the
left derivative at a kink, as PyTorch and scikit-learn do: `HEAVISIDE_AT_ZERO = 0`, so
ReLU'(0) = 0, leaky ReLU'(0) = 0.01 and ELU'(0) = 1 (H(-x), rising to the left, is 1 there).
It is set here and nowhere else, for every form a
claim may write (`differentiate`): Heaviside, Max, Min, Abs, Piecewise, relu, leaky ReLU.

This module is the registry of activations that spec validation, codegen, the proofs and the
docs read: one `Activation` record per function (definition, derivative by `sympy.diff`, the
form in terms of the output when one is proved, the initialisation, the kink convention).
A spec's own activations (`[activation.NAME] expression = "..."`) become records too, by
`user_defined`, through the same safe expression parser as claims files.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, cached_property

import sympy as sp

from derive.symbols import p, x, y

HEAVISIDE_AT_ZERO = sp.Integer(0)
KINK_CONVENTION = (
    "the left derivative at a kink (ReLU'(0) = 0, leaky ReLU'(0) = its slope, as PyTorch)"
)
LEAKY_SLOPE = sp.Rational(1, 100)
GELU_SCALE = sp.sqrt(2 / sp.pi)  # the tanh approximation's constants, as PyTorch's
GELU_CUBIC = sp.Rational(44715, 1000000)


def apply_kink_convention(expr: sp.Expr) -> sp.Expr:
    """Pin every Heaviside that carries SymPy's default value at 0 (1/2) to the project's."""
    return expr.replace(
        lambda e: isinstance(e, sp.Heaviside) and e.args[1] == sp.S.Half,
        lambda e: sp.Heaviside(e.args[0], HEAVISIDE_AT_ZERO),
    )


def stable_logistic(expr: sp.Expr) -> sp.Expr:
    """exp(u) / (1 + exp(u))**k, as sympy.diff writes softplus' and SiLU's derivatives, as
    1/(1 + exp(-u)) / (1 + exp(u))**(k - 1): the same number, without inf/inf for large u."""

    def rewrite(mul: sp.Mul) -> sp.Expr:
        factors = list(mul.args)
        for f in factors:
            if not isinstance(f, sp.exp):
                continue
            for g in factors:
                if g.is_Pow and g.base == 1 + f and g.exp.is_Integer and g.exp < 0:
                    factors.remove(f)
                    factors.remove(g)
                    logistic = 1 / (1 + sp.exp(-f.args[0]))
                    return sp.Mul(*factors, logistic, sp.Pow(g.base, g.exp + 1))
        return mul

    return expr.replace(lambda e: isinstance(e, sp.Mul), rewrite)


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
    derivative = derivative.replace(
        lambda e: isinstance(e, sp.Piecewise), lambda e: _left_cases(e, var)
    )
    return stable_logistic(derivative)


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


def one_plus_exp(expr: sp.Expr) -> sp.Expr | None:
    """u when expr is 1 + exp(u), else None."""
    if isinstance(expr, sp.Add) and len(expr.args) == 2 and sp.S.One in expr.args:
        other = expr.args[0] if expr.args[1] == 1 else expr.args[1]
        if isinstance(other, sp.exp):
            return other.args[0]
    return None


def logistic_as_tanh(u: sp.Expr) -> sp.Expr:
    """1/(1 + exp(u)) as (1 - tanh(u/2))/2: the same function, without overflow."""
    return (1 - sp.tanh(u / 2)) / 2


@dataclass(frozen=True)
class Activation:
    """An elementwise activation f(x), or the softmax when `expr` is None."""

    name: str
    title: str
    expr: sp.Expr | None
    init: str  # weight initialisation: "he" (ReLU family) or "glorot"
    # Seek f' in y = f(x) (sympy.solve for the inverse). Off for functions with no inverse
    # (GELU, SiLU) or none SymPy finds quickly (ELU, user-defined): the step keeps f'(z).
    output_form: bool = True
    source: str = ""  # a user-defined activation's expression as the spec wrote it

    @property
    def elementwise(self) -> bool:
        return self.expr is not None

    @property
    def has_kink(self) -> bool:
        return self.expr is not None and self.expr.has(sp.Max, sp.Min, sp.Abs, sp.Heaviside)

    @property
    def convention(self) -> str | None:
        """The kink convention the derivative follows, for a function with a kink."""
        return KINK_CONVENTION if self.has_kink else None

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
        if not self.output_form:
            raise ValueError(f"{self.name}' is not sought in the output: use `derivative`")
        return self.in_terms_of_output(self.derivative)

    @property
    def slope_in_output(self) -> bool:
        """Whether generated code computes f' from the output y (else from z, kept forward)."""
        return self.output_form

    def slope(self, z_: sp.Expr, a_: sp.Expr) -> sp.Expr:
        """f' at the pre-activation z_ whose activation is a_, in the form generated code uses."""
        if self.output_form:
            return self.derivative_of_output.xreplace({y: a_})
        return self.derivative.xreplace({x: z_})

    @cache  # noqa: B019 (activations live in the registry for the whole process)
    def in_terms_of_output(self, expr: sp.Expr) -> sp.Expr:
        """`expr` (in x, maybe t) rewritten in y = f(x) alone; proved equal for every real x."""
        assert self.expr is not None, f"{self.name} is not elementwise"
        for candidate in _output_forms(self.expr, expr):
            if not candidate.has(x) and _equal_everywhere(candidate.subs(y, self.expr), expr):
                return candidate
        raise ValueError(f"{expr} cannot be written in the output of {self.name}")


def _output_forms(f: sp.Expr, d: sp.Expr) -> Iterator[sp.Expr]:
    """Candidate rewritings of d in y = f(x): by substitution, by the inverse, or in place;
    one at a time, so a form found by substitution costs no `solve` (1 s for tanh)."""
    yield d.subs(f, y)
    if not f.has(sp.Max, sp.Min):
        for inverse in sp.solve(sp.Eq(y, f), x):
            yield sp.simplify(d.subs(x, inverse))
    # Piecewise-linear f keeps the sign of x, so a step in x is the same step in f(x).
    yield d.subs(x, y)


# Points where a difference that is not zero shows it at once; a value there is only ever a
# counterexample (the proof of equality stays `simplify`'s).
_WITNESSES = (sp.Rational(7, 3), sp.Rational(-5, 4))


def _differs_somewhere(difference: sp.Expr) -> bool:
    """A witness x where `difference` (in x only) is certainly not zero."""
    if difference.free_symbols - {x}:
        return False
    for point in _WITNESSES:
        value = difference.subs(x, point).evalf(30)
        if value.is_Number and value.is_real and value.is_finite and abs(value) > 1e-20:
            return True
    return False


def _equal_everywhere(lhs: sp.Expr, rhs: sp.Expr) -> bool:
    """lhs == rhs for every real x: symbolically, or region by region around a kink at 0."""
    if _differs_somewhere(lhs - rhs):
        return False
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
        Activation("softplus", "softplus", sp.log(1 + sp.exp(x)), "glorot"),
        # alpha = 1: x for x > 0, exp(x) - 1 below; f'(0) = 1 from either side
        Activation("elu", "ELU", sp.Max(0, x) + sp.exp(sp.Min(0, x)) - 1, "he", False),
        # PyTorch's approximate="tanh": NumPy has no erf
        Activation(
            "gelu",
            "GELU (tanh)",
            x / 2 * (1 + sp.tanh(GELU_SCALE * (x + GELU_CUBIC * x**3))),
            "he",
            False,
        ),
        Activation("silu", "SiLU", x / (1 + sp.exp(-x)), "he", False),
    )
}
BUILT_IN = tuple(ACTIVATIONS)


def get(name: str) -> Activation:
    """The activation called `name`; a clear error for an unknown one."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise KeyError(f"no activation {name!r}; known: {', '.join(ACTIVATIONS)}") from None


_USER: dict[tuple[str, str], Activation] = {}  # (name, expression) -> its record, checked once
# Functions a user-defined activation may use: each has a printer rule and a lowering.
USER_FUNCTIONS = (sp.exp, sp.log, sp.tanh, sp.Abs, sp.Max, sp.Min)


def user_defined(name: str, text: str, where: str) -> Activation:
    """The activation `name` of a spec: `text`, an expression in x read by the claims parser
    (an AST whitelist; never eval'd), checked finite and continuous on the reals, with its
    derivative by `sympy.diff`. A refusal is a DeriveError naming `where` and the reason."""
    from sympy.calculus.util import continuous_domain

    from derive.errors import DeriveError
    from derive.verify import claims  # claims reads this registry: imported here, at use

    def refuse(why: str) -> DeriveError:
        return DeriveError(f"{where}: {why}: {text!r:.80}")

    if name in ACTIVATIONS:
        raise DeriveError(f"{where}: {name!r} is a built-in activation: choose another name")
    if not isinstance(text, str):
        raise DeriveError(f"{where}: expected an expression in x (a string), found {text!r:.60}")
    if (name, text) in _USER:
        return _USER[name, text]
    try:  # the claims parser's reason, as what was expected and what was found
        tree = claims.parse_expression(text, where)
    except DeriveError as exc:
        found = str(exc).removeprefix(f"{where}: ")
        raise DeriveError(f"{where}: expected an expression in x, found {found}") from None
    expr = claims.build(claims.Expression(text, tree, where=where), claims.Scope())
    others = sorted(str(s) for s in expr.free_symbols if s != x)
    if others:
        raise refuse(f"expected an expression in x alone, found {', '.join(others)}")
    if x not in expr.free_symbols:
        raise refuse("expected an expression in x, found a constant")
    unsupported = sorted(
        {type(f).__name__ for f in expr.atoms(sp.Function)} - {f.__name__ for f in USER_FUNCTIONS}
    )
    if unsupported:
        allowed = ", ".join(f.__name__ for f in USER_FUNCTIONS)
        expected = f"functions that generated code computes ({allowed}, activations by name)"
        raise refuse(f"expected {expected}, found {', '.join(unsupported)}")
    try:
        domain = continuous_domain(expr, x, sp.S.Reals)
    except (NotImplementedError, ValueError, TypeError):
        domain = None
    if domain != sp.S.Reals:
        found = "undecided" if domain is None else str(domain)
        raise refuse(f"expected a function finite and continuous on all reals, found {found}")
    # |u| as Max(u, -u): a kink sympy.diff writes with Heaviside, so the convention applies
    expr = expr.replace(lambda e: isinstance(e, sp.Abs), lambda e: sp.Max(e.args[0], -e.args[0]))
    act = Activation(name, name, expr, "he", output_form=False, source=text)
    derivative = act.derivative
    if derivative.has(sp.zoo, sp.oo, sp.nan, sp.Derivative, sp.Subs, sp.DiracDelta):
        raise refuse(f"expected a derivative finite everywhere, found {derivative}")
    _USER[name, text] = act
    return act


def resolve(name: str, user: dict[str, Activation] | None = None) -> Activation:
    """A built-in activation, or one of a spec's own (`user`)."""
    if user and name in user:
        return user[name]
    return get(name)
