"""A floating-point value of a SymPy expression at a point, each shared subtree computed once.

Two uses, neither a proof: `differs` screens a point in floats before the exact 30-digit
evaluation (a network's sides repeat the same subexpressions thousands of times, which
`evalf` walks every time), and the tensor claims' cap on exp arguments probes the corners of
the box the counterexample points are drawn from.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import sympy as sp

__all__ = ["Approximation", "UnknownNodeError"]

_FUNCTIONS: dict[type, Callable[[float], float]] = {
    sp.tanh: math.tanh,
    sp.Abs: abs,
    sp.sinh: math.sinh,
    sp.cosh: math.cosh,
    sp.sin: math.sin,
    sp.cos: math.cos,
}


class UnknownNodeError(Exception):
    """A node this evaluator does not know: the caller falls back to SymPy."""


class Approximation:
    """Values at one point; the memo is shared by every expression evaluated with it."""

    def __init__(self, point: dict[sp.Symbol, float]) -> None:
        self.point = point
        self.memo: dict[sp.Basic, float] = {}
        self.largest_exp = -math.inf  # the largest argument of an exp met

    def value(self, node: sp.Basic) -> float:
        known = self.memo.get(node)
        if known is None:
            known = self.memo[node] = self._value(node)
        return known

    def _value(self, node: sp.Basic) -> float:
        if node.is_Number:
            return float(node)
        if node.is_Symbol:
            if node not in self.point:
                raise UnknownNodeError(str(node))
            return self.point[node]
        args = node.args
        if isinstance(node, sp.Add):
            return sum(self.value(a) for a in args)
        if isinstance(node, sp.Mul):
            return math.prod(self.value(a) for a in args)
        if isinstance(node, sp.Pow):
            return _power(self.value(args[0]), self.value(args[1]))
        if isinstance(node, sp.exp):
            argument = self.value(args[0])
            self.largest_exp = max(self.largest_exp, argument)
            return math.inf if argument > 709 else math.exp(argument)
        if isinstance(node, sp.log):
            inner = self.value(args[0])
            return math.log(inner) if inner > 0 else math.nan
        if isinstance(node, sp.Heaviside):
            inner = self.value(args[0])
            if math.isnan(inner):
                return math.nan
            if abs(inner) < 1e-9:  # at a kink floats cannot tell the side: SymPy decides
                raise UnknownNodeError("a step at its kink")
            return 1.0 if inner > 0 else 0.0
        if isinstance(node, sp.Max | sp.Min):
            values = [self.value(a) for a in args]
            if any(math.isnan(v) for v in values):  # max() would drop a nan
                return math.nan
            return max(values) if isinstance(node, sp.Max) else min(values)
        if isinstance(node, sp.Piecewise):
            for value, condition in args:
                if self.holds(condition):
                    return self.value(value)
            return math.nan
        if type(node) in _FUNCTIONS:
            try:
                return _FUNCTIONS[type(node)](self.value(args[0]))
            except (OverflowError, ValueError):
                return math.nan
        raise UnknownNodeError(type(node).__name__)

    def holds(self, condition: sp.Basic) -> bool:
        """A Piecewise condition at the point; UnknownNodeError on its boundary."""
        if condition in (sp.true, sp.false):
            return bool(condition)
        if isinstance(condition, sp.And | sp.Or):
            found = [self.holds(c) for c in condition.args]
            return all(found) if isinstance(condition, sp.And) else any(found)
        if isinstance(condition, sp.core.relational.Relational) and type(condition) in _COMPARE:
            gap = self.value(condition.lhs) - self.value(condition.rhs)
            if math.isnan(gap) or abs(gap) < 1e-9:  # on the boundary: SymPy decides
                raise UnknownNodeError("a condition on its boundary")
            return _COMPARE[type(condition)](gap)
        raise UnknownNodeError(type(condition).__name__)


_COMPARE: dict[type, Callable[[float], bool]] = {
    sp.StrictLessThan: lambda gap: gap < 0,
    sp.LessThan: lambda gap: gap < 0,
    sp.StrictGreaterThan: lambda gap: gap > 0,
    sp.GreaterThan: lambda gap: gap > 0,
    sp.Ne: lambda gap: True,
}


def _power(base: float, exponent: float) -> float:
    try:
        result = base**exponent
    except OverflowError:
        return math.inf
    except ZeroDivisionError:
        return math.nan
    return result if isinstance(result, float | int) else math.nan  # a complex root
