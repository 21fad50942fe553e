"""Kinks, the regions they cut the real space into, and exact points inside those regions.

A kink is the argument of a Heaviside, Abs, Max, Min or a Piecewise condition: an
expression whose sign picks a branch. `regions` resolves every kink, innermost first, into
each sign (+, -, 0), so each leaf is a kink-free expression valid on one region. Whether a
region is empty is decided by SymPy, never by the absence of sampled points: exactly by
linear programming (`sympy.solvers.simplex.lpmax`) when its inequalities are linear, and
otherwise it stays open. `Points` draws exact rational points for counterexamples: small
values, large magnitudes and both sides of every kink, near it and far from it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

import sympy as sp
from sympy.core.relational import Relational
from sympy.printing.str import StrPrinter
from sympy.solvers.simplex import InfeasibleLPError, lpmax

from derive.verify import approx

__all__ = [
    "KINKED",
    "Points",
    "Region",
    "all_kinks",
    "differs",
    "domain_constraints",
    "in_domain",
    "region_point",
    "regions",
    "show",
    "sign_at",
    "value",
]

KINKED = (sp.Heaviside, sp.Max, sp.Min, sp.Abs, sp.Piecewise)
SMALL = [sp.Rational(v) for v in ("-3", "-2", "-1", "-1/2", "1/3", "1/2", "1", "3/2", "2", "3")]
LARGE = [sp.Integer(v) for v in (-(10**6), -(10**4), -100, -7, 7, 100, 10**4, 10**6)]
OFFSETS = [sp.Rational(v) for v in ("1/3", "1", "10", "1000", "1000000")]
PRECISION = 30  # digits of a numeric evaluation where exact arithmetic gives no rational


class _Printer(StrPrinter):
    """SymPy's str printer, with Euler's number as exp(1): a bare E reads as a loss E[i]."""

    def _print_Exp1(self, expr: sp.Basic) -> str:
        return "exp(1)"


def show(expr: sp.Basic) -> str:
    """The text of an expression in reports: SymPy syntax that reads back the same."""
    return _Printer().doprint(expr)


@dataclass(frozen=True)
class Region:
    """One leaf of the split: the expression there, the kinks' signs, the solved symbols."""

    leaf: sp.Expr
    constraints: tuple[tuple[sp.Expr, int], ...]  # (kink, sign): kink > 0, < 0 or = 0
    subs: tuple[tuple[sp.Symbol, sp.Expr], ...]  # symbols fixed by the kinks that are 0
    solved: bool = True  # False: a kink = 0 that SymPy could not solve (leaf unresolved)

    def describe(self) -> str:
        shown = [
            f"{show(k)} {'>' if s > 0 else '<' if s < 0 else '='} 0" for k, s in self.constraints
        ]
        return " and ".join(shown) or "everywhere"

    def substituted(self, expr: sp.Expr) -> sp.Expr:
        """expr with the solved symbols replaced, outermost solution first."""
        return _substitute(expr, self.subs)


# --- kinks -------------------------------------------------------------------------------


def all_kinks(expr: sp.Expr) -> list[sp.Expr]:
    """Every kink argument that depends on a symbol, in traversal order."""
    found: dict[sp.Expr, None] = {}
    for node in sp.preorder_traversal(expr):
        arg = kink_arg(node)
        if arg is not None and arg.free_symbols:
            found[arg] = None
    return list(found)


def kink_arg(node: sp.Basic) -> sp.Expr | None:
    """The expression whose sign decides `node`'s branch, or None for a smooth node."""
    if isinstance(node, sp.Heaviside | sp.Abs):
        return node.args[0]
    if isinstance(node, sp.Max | sp.Min) and len(node.args) == 2:
        return node.args[0] - node.args[1]
    if isinstance(node, Relational):
        return node.lhs - node.rhs
    return None


def _innermost_kink(expr: sp.Expr) -> sp.Expr | None:
    for arg in all_kinks(expr):
        if not arg.has(*KINKED):
            arg = sp.expand(arg)
            return -arg if arg.could_extract_minus_sign() else arg
    return None


def regions(expr: sp.Expr, region: Region | None = None) -> Iterator[Region]:
    """Leaves of the split: the expression with every kink resolved, and the region's signs.

    A branch SymPy cannot resolve (a kink that is undefined or complex there) is a leaf left
    open (`solved=False`): nothing is claimed about it.
    """
    region = region or Region(expr, (), ())
    kink = _innermost_kink(expr)
    if kink is None:
        yield Region(expr, region.constraints, region.subs, region.solved)
        return
    for sign in (1, -1, 0):
        constraints = (*region.constraints, (kink, sign))
        resolved = expr
        try:
            resolved = _resolve(expr, kink, sign)
            solutions = [()] if sign != 0 else _solve(kink)
            branches = [
                (_substitute(resolved, piece), (*region.subs, *piece)) for piece in solutions or []
            ]
        except (ValueError, TypeError, ArithmeticError):
            solutions = None
        if solutions is None:  # the region stays open: nothing is claimed about it
            yield Region(resolved, constraints, region.subs, solved=False)
            continue
        for leaf, subs in branches:
            yield from regions(leaf, Region(leaf, constraints, subs))


def _resolve(expr: sp.Expr, kink: sp.Expr, sign: int) -> sp.Expr:
    """expr with every function of `kink` evaluated as if kink had the given sign."""

    def sign_of(arg: sp.Expr) -> int | None:
        arg = sp.expand(arg)
        return sign if arg == kink else -sign if arg == -kink else None

    def known(node: sp.Basic) -> bool:
        arg = kink_arg(node)
        return arg is not None and sign_of(arg) is not None

    def resolved(node: sp.Basic) -> sp.Basic:
        arg = kink_arg(node)
        assert arg is not None
        s = sign_of(arg)
        assert s is not None
        if isinstance(node, sp.Heaviside):
            return {1: sp.Integer(1), -1: sp.Integer(0), 0: node.args[1]}[s]
        if isinstance(node, sp.Abs):
            return node.args[0] if s >= 0 else -node.args[0]
        if isinstance(node, sp.Max):
            return node.args[0] if s >= 0 else node.args[1]
        if isinstance(node, sp.Min):
            return node.args[0] if s <= 0 else node.args[1]
        assert isinstance(node, Relational)
        return node.func(sp.Integer(s), 0)

    return expr.replace(known, resolved)


Subs = tuple[tuple[sp.Symbol, sp.Expr], ...]


def _solve(kink: sp.Expr, depth: int = 0) -> list[Subs] | None:
    """The set kink = 0 as substitutions, one tuple per piece; None when SymPy cannot tell.

    Linear in a symbol: that symbol = -rest/slope where slope != 0, and the set where the
    slope is 0 as further pieces. Else the real roots of a one-symbol polynomial, when SymPy
    writes them with radicals (sqrt(2)); roots it can only number (CRootOf) leave it open.
    """
    kink = sp.expand(kink)
    if kink == 0:
        return [()]
    if not kink.free_symbols:
        return []
    if depth > 4:
        return None
    symbols = sorted(kink.free_symbols, key=str)
    for symbol in symbols:
        slope = kink.diff(symbol)
        if slope == 0 or slope.has(symbol):
            continue
        pieces: list[Subs] = [((symbol, sp.expand(symbol - kink / slope)),)]
        if slope.is_nonzero:
            return pieces
        flat = _solve(slope, depth + 1)
        if flat is None:
            continue
        for subs in flat:
            rest = _solve(_substitute(kink, subs), depth + 1)
            if rest is None:
                return None
            pieces += [subs + more for more in rest]
        return pieces
    if len(symbols) == 1:
        try:
            roots = sp.Poly(kink, symbols[0]).real_roots()
        except (sp.PolynomialError, NotImplementedError):
            return None
        if not any(root.has(sp.CRootOf) for root in roots):  # rational or radicals: exact
            return [((symbols[0], root),) for root in sorted(set(roots), key=sp.default_sort_key)]
    return None


def _substitute(expr: sp.Expr, subs: Subs) -> sp.Expr:
    for symbol, solution in subs:
        expr = expr.xreplace({symbol: solution})
    return expr


# --- exact values at points ----------------------------------------------------------------


def value(expr: sp.Expr, point: dict[sp.Symbol, sp.Expr]) -> sp.Expr | None:
    """expr at a point: exact when rational, else a 30-digit number; None where undefined."""
    try:
        exact = expr.xreplace(point)
        if exact.is_Rational:
            return exact
        if exact.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
            return None
        number = sp.N(exact, PRECISION)
    except (TypeError, ValueError, ArithmeticError, RecursionError):  # e.g. Max of a complex
        return None
    if not number.is_number or number.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
        return None
    return number


def sign_at(expr: sp.Expr, point: dict[sp.Symbol, sp.Expr]) -> int | None:
    """The sign of a kink at a point, or None when it is undefined or too close to 0 to tell."""
    number = value(expr, point)
    if number is None or not number.is_real:
        return None
    if number.is_Rational:
        return int(sp.sign(number))
    return None if abs(number) < sp.Float(10) ** (5 - PRECISION) else int(sp.sign(number))


def differs(lhs: sp.Expr, rhs: sp.Expr, point: dict[sp.Symbol, sp.Expr]) -> bool:
    """lhs and rhs differ at the point: exactly for rationals, else by far more than rounding.

    The true side (lhs) must be defined there; an undefined stated side differs.
    """
    if _floats_agree(lhs, rhs, point):
        return False  # equal to 12 digits: not a counterexample worth 30 digits of evalf
    true, stated = value(lhs, point), value(rhs, point)
    if true is None:
        return False
    if stated is None:
        return True
    if true.is_Rational and stated.is_Rational:
        return bool(true != stated)
    gap = abs(sp.N(true - stated, PRECISION))
    return bool(gap > sp.Float(10) ** (10 - PRECISION) * max(1, abs(true)))


def _floats_agree(lhs: sp.Expr, rhs: sp.Expr, point: dict[sp.Symbol, sp.Expr]) -> bool:
    """Both sides finite and equal to 12 digits in floats (each shared subtree computed once)."""
    try:
        at = approx.Approximation({s: float(v) for s, v in point.items()})
        true, stated = at.value(lhs), at.value(rhs)
    except (approx.UnknownNodeError, TypeError, ValueError, ArithmeticError, RecursionError):
        return False
    finite = math.isfinite(true) and math.isfinite(stated)
    return finite and abs(true - stated) <= 1e-12 * max(1.0, abs(true))


# --- points --------------------------------------------------------------------------------


class Points:
    """Exact candidate values per symbol: small ones, large ones, both sides of each kink.

    Draws alternate between the near values (small numbers and points close to each
    one-symbol kink) and all values (with large magnitudes and points far past each kink),
    so a counterexample is usually small enough to read.
    """

    def __init__(self, symbols: list[sp.Symbol], rng: random.Random) -> None:
        self.rng = rng
        self.near = {symbol: list(SMALL) for symbol in symbols}
        self.every = {symbol: [*SMALL, *LARGE] for symbol in symbols}
        for (
            symbol
        ) in symbols:  # a symbol with a domain (derive.verify.declarations) stays inside it
            inside = list(getattr(symbol, "sample_values", ()))
            if inside:
                self.near[symbol], self.every[symbol] = inside, list(inside)
        self.drawn = 0

    def around(self, kinks: list[sp.Expr]) -> None:
        """Add both sides of every kink linear in one symbol, near it and far from it."""
        for kink in kinks:
            if len(kink.free_symbols) != 1:
                continue
            (symbol,) = kink.free_symbols
            small_only = bool(
                getattr(symbol, "sample_values", ())
            )  # see derive.verify.declarations
            if small_only and not getattr(symbol, "near_kinks", False):
                continue  # its domain's values only
            slope = kink.diff(symbol)
            if symbol not in self.every or not slope.is_Number or slope == 0:
                continue
            root = -kink.xreplace({symbol: 0}) / slope
            if not (root.is_Rational and abs(root) <= 10**6):
                continue
            for offset in OFFSETS[:2] if small_only else OFFSETS:
                for candidate in (root + offset, root - offset):
                    if offset <= 1 and candidate not in self.near[symbol]:
                        self.near[symbol].append(candidate)
                    if candidate not in self.every[symbol]:
                        self.every[symbol].append(candidate)

    def draw(self, symbols: list[sp.Symbol]) -> dict[sp.Symbol, sp.Expr]:
        """One random point over the given symbols."""
        pool = self.near if self.drawn % 2 == 0 else self.every
        self.drawn += 1
        return {s: self.rng.choice(pool.get(s, SMALL)) for s in symbols}


def _linear(expr: sp.Expr) -> bool:
    try:
        return bool(sp.Poly(expr, *sorted(expr.free_symbols, key=str)).is_linear)
    except sp.PolynomialError:  # a rational function: a kink solved by a symbolic slope
        return False


def domain_constraints(symbols: list[sp.Symbol]) -> list[tuple[sp.Expr, bool]]:
    """The declared domains of these symbols as (expr, strict): expr > 0, or expr >= 0.

    A counterexample must lie inside them, and a region outside them holds nothing to find
    (derive.verify.declarations: `> 0`, `>= 0`, `(0, 1)` and probabilities, whose last entry
    of a row is 1 minus the others, so the others sum to less than 1).
    """
    from derive.verify import declarations  # the domains' symbol kinds; imported late (a cycle)

    found: list[tuple[sp.Expr, bool]] = []
    rows: dict[str, list[sp.Symbol]] = {}
    for symbol in symbols:
        if symbol.is_positive:
            found.append((symbol, True))
        elif symbol.is_nonnegative:
            found.append((symbol, False))
        if isinstance(symbol, declarations.UnitInterval):
            found.append((1 - symbol, True))
        elif isinstance(symbol, declarations.Sampled) and type(symbol).__name__.startswith(
            "Probability"
        ):
            name = symbol.name
            row = name.rsplit(", ", 1)[0] if ", " in name else name.split("[", 1)[0]
            rows.setdefault(f"{type(symbol).__name__} {row}", []).append(symbol)
    found.extend((1 - sp.Add(*row), True) for row in rows.values())
    return found


def in_domain(constraints: list[tuple[sp.Expr, bool]], point: dict[sp.Symbol, sp.Expr]) -> bool:
    """The point satisfies every domain constraint (undecidable counts as outside)."""
    for expr, strict in constraints:
        sign = sign_at(expr, point)
        if sign is None or sign < 0 or (strict and sign == 0):
            return False
    return True


def region_point(region: Region, free: list[sp.Symbol]) -> tuple[bool, dict | None]:
    """(decided, point): a linear region decided exactly by SymPy's simplex.

    (True, None): the region is empty. (True, point): a point strictly inside it, solved
    symbols filled in. (False, None): its inequalities are not linear, so undecided here.
    """
    slack = sp.Dummy("slack")
    inequalities: list[sp.Basic] = [slack <= 1]
    solved = [symbol for symbol, _ in region.subs]
    for expr, strict in domain_constraints([*free, *solved]):  # a point inside the domain
        expr = sp.expand(region.substituted(expr))
        if not expr.free_symbols:
            if not expr.is_real or expr < 0 or (strict and expr == 0):
                return True, None  # the region lies outside the domain
            continue
        if not expr.is_real or not _linear(expr):
            return False, None
        inequalities.append(expr >= slack if strict else expr >= 0)
    for kink, sign in region.constraints:
        expr = sp.expand(region.substituted(kink))
        if not expr.free_symbols:
            known = sp.sign(expr) if expr.is_real else None
            if known not in (-1, 0, 1):
                return False, None  # undefined there (a solved slope of 0): not decided here
            if known != sign:
                return True, None
            continue
        if not expr.is_real or not _linear(expr):
            return False, None
        inequalities.append(sp.Eq(expr, 0) if sign == 0 else sign * expr >= slack)
    if len(inequalities) == 1:
        return True, {}
    try:
        best, solution = lpmax(slack, inequalities)
    except InfeasibleLPError:  # the equalities alone admit no point
        return True, None
    except (sp.PolynomialError, ValueError, TypeError):
        return False, None
    if best <= 0:  # no point satisfies every strict inequality: the region is empty
        return True, None
    point = {s: solution.get(s, sp.Integer(0)) for s in free}
    for symbol, solution_value in reversed(region.subs):
        point[symbol] = solution_value.xreplace(point)
    return True, point
