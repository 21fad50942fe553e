"""A NumPy printer for generated code: SymPy expression in, NumPy source text out.

`NumpyPrinter` subclasses SymPy's `NumPyPrinter` with one method per expression kind that
needs a faster, stabler or more readable form than SymPy's default:

- `Heaviside(u, h0)` prints as `numpy.heaviside(u, h0)`, honouring the convention value h0
  (SymPy would rewrite it to a three-branch `numpy.select`);
- `1/(1 + exp(u))` prints as `(1 - tanh(u/2))/2` and `log(1 + exp(u))` as
  `numpy.logaddexp(0, u)`: the sigmoid and softplus without overflow;
- `x**-1` prints as `1/x` (SymPy prints `x**(-1.0)`), `Max(a, b)` as `numpy.maximum(a, b)`,
  `Min(a, b)` as `numpy.minimum(a, b)`;
- a sum prints its positive terms first: `a2 - T`, not `-T + a2`;
- operators are spaced as `ruff format` spaces them (`2 * (a2 - T) / 3`, `a1**2`), so generated
  modules need no formatter.

Any node without a rule raises (`strict`), so nothing unsupported is printed silently.
"""

from __future__ import annotations

from typing import Any

import sympy as sp
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.precedence import PRECEDENCE

from derive.activations import logistic_as_tanh, one_plus_exp


class NumpyPrinter(NumPyPrinter):
    """SymPy's NumPy printer with derive's fast and stable forms (see the module docstring)."""

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        super().__init__({"strict": True, **(settings or {})})

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        arg, at_zero = expr.args
        return f"numpy.heaviside({self._print(arg)}, {self._print(at_zero)})"

    def _print_Max(self, expr: sp.Max) -> str:
        args = sorted(expr.args, key=lambda e: not e.is_Number)  # Max(0, z) -> maximum(z, 0)
        code = self._print(args[-1])
        for arg in reversed(args[:-1]):
            code = f"numpy.maximum({code}, {self._print(arg)})"
        return code

    def _print_Min(self, expr: sp.Min) -> str:
        args = sorted(expr.args, key=lambda e: not e.is_Number)  # Min(0, z) -> minimum(z, 0)
        code = self._print(args[-1])
        for arg in reversed(args[:-1]):
            code = f"numpy.minimum({code}, {self._print(arg)})"
        return code

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        base, exponent = expr.args
        if exponent == -1:
            inner = one_plus_exp(base)
            if inner is not None:  # the logistic sigmoid, overflow-free
                return str(self._print(logistic_as_tanh(inner)))
            return f"1 / {self.parenthesize(base, PRECEDENCE['Mul'] + 1)}"
        if exponent.is_Integer and exponent > 0:
            if base.is_Symbol or base.is_Number:  # ruff format: simple operands hug **
                return f"{self._print(base)}**{exponent}"
            return f"{self.parenthesize(base, PRECEDENCE['Pow'])} ** {exponent}"
        return str(super()._print_Pow(expr, rational=rational))

    def _print_log(self, expr: sp.log) -> str:
        inner = one_plus_exp(expr.args[0])
        if inner is not None:  # softplus, overflow-free
            return f"numpy.logaddexp(0, {self._print(inner)})"
        return f"numpy.log({self._print(expr.args[0])})"

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        terms = sorted(expr.as_ordered_terms(), key=lambda term: term.could_extract_minus_sign())
        code = self._print(terms[0])
        for term in terms[1:]:
            if term.could_extract_minus_sign():
                code += f" - {self.parenthesize(-term, PRECEDENCE['Add'])}"
            else:
                code += f" + {self.parenthesize(term, PRECEDENCE['Add'])}"
        return code

    def _print_Rational(self, expr: sp.Rational) -> str:
        return f"{expr.p} / {expr.q}"

    def _print_Mul(self, expr: sp.Mul) -> str:
        prec = PRECEDENCE["Mul"]
        coeff, _ = expr.as_coeff_Mul()
        sign = "-" if coeff < 0 else ""
        if coeff < 0:
            expr = sp.Mul(-coeff, *sp.Mul.make_args(expr)[1:], evaluate=False)
        numer: list[sp.Expr] = []
        denom: list[sp.Expr] = []
        factors = sp.Mul.make_args(expr)
        constant = [f for f in factors if f.is_number and not f.is_Rational]
        if constant:  # sqrt(2)/sqrt(pi) as one float that round-trips: 0.7978845608028654
            numer.append(sp.Symbol(repr(float(sp.Mul(*constant)))))
            factors = tuple(f for f in factors if f not in constant)
        for factor in factors:
            if factor.is_Rational and not factor.is_Integer:
                numer += [sp.Integer(factor.p)] if factor.p != 1 else []
                denom.append(sp.Integer(factor.q))
            elif factor.is_Pow and factor.exp == -1 and one_plus_exp(factor.base) is not None:
                # a logistic: printed overflow-free as one factor, not as a division
                numer.append(sp.Symbol(f"({self._print(factor)})"))
            elif factor.is_Pow and factor.exp.is_Rational and factor.exp.is_negative:
                denom.append(sp.Pow(factor.base, -factor.exp))
            elif factor != 1:
                numer.append(factor)
        numer = numer or [sp.Integer(1)]
        if len(numer) == 1 and sign and not denom:
            return sign + self.parenthesize(numer[0], 0.5 * (PRECEDENCE["Pow"] + prec))
        code = sign + " * ".join(self.parenthesize(f, prec) for f in numer)
        for factor in denom:
            code += " / " + self.parenthesize(factor, prec + 1)
        return code


_PRINTER = NumpyPrinter()


def rename(expr: sp.Expr, names: dict[sp.Symbol, str]) -> sp.Expr:
    """expr with each symbol in `names` replaced by a symbol named as its code."""
    return expr.xreplace({sym: sp.Symbol(code, real=True) for sym, code in names.items()})


def to_numpy(expr: sp.Expr, names: dict[sp.Symbol, str] | None = None) -> str:
    """NumPy source for `expr`, with each symbol printed under its name in `names`."""
    return str(_PRINTER.doprint(rename(expr, names) if names else expr))


def to_numpy_scaled(expr: sp.Expr, names: dict[sp.Symbol, str]) -> str:
    """Print expr with its numeric factor kept outside: 2 * (a2 - T) / 3, not 2 * a2 / 3 - ..."""
    coeff, rest = sp.factor_terms(rename(expr, names)).as_content_primitive()
    if coeff != 1:
        rest = sp.Mul(coeff, *sp.Mul.make_args(rest), evaluate=False)
    return str(_PRINTER.doprint(rest))
