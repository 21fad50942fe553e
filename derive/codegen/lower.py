"""Lowering: an elementwise SymPy expression -> NumPy calls writing into preallocated buffers.

Input: an expression, the buffer it must land in, the code name of each symbol, scratch
buffers of the same shape, and how numbers are written. Output: `ir.Op`s, three-address code
such as `numpy.subtract(a2, T, out=d2)`, that allocate nothing. A symbol whose buffer is the
output is an accumulator, consumed in place; an argument that needs calls of its own is
computed in the output first when nothing else still reads it, else in a scratch buffer.
`rebuild` runs the calls symbolically, so a test can prove a lowering equals its expression.

Two forms are chosen for speed and range, each an identity SymPy checks in the tests:
the logistic 1/(1 + exp(u)) is lowered as (1 - tanh(u/2))/2 (no overflow, and tanh is
fast in float32 where logaddexp is not), and a step H(u) with H(0) = 0 is a comparison
written into a boolean mask, then copied into the float buffer (no casting buffer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sympy as sp

from derive.activations import logistic_as_tanh, one_plus_exp
from derive.codegen.ir import Op
from derive.codegen.printing import to_numpy

# SymPy function -> NumPy ufunc of one argument.
_UNARY = {sp.exp: "exp", sp.log: "log", sp.tanh: "tanh", sp.Abs: "absolute"}


def literal(value: sp.Expr) -> str:
    """A number as a Python literal: 2, 1 / 100, 0.9."""
    return to_numpy(sp.nsimplify(value)) if value.is_Rational else repr(float(value))


@dataclass
class Lowering:
    """Lower expressions into calls.

    `names` maps symbols to code, `scratch` lends float buffers of the output's shape, `mask`
    is a boolean buffer of that shape (for steps), `number` writes a numeric constant.
    """

    names: dict[sp.Symbol, str]
    scratch: list[str]
    mask: str | None = None
    number: Callable[[sp.Expr], str] = literal
    calls: list[Op] = field(default_factory=list)
    # Update order (optimizer rules): what reads the output first, then what needs calls of
    # its own (computed in the output, no scratch), arrays, inverse terms, scalars last.
    scalars: frozenset[str] | None = None

    def lower(
        self, expr: sp.Expr, out: str, scale: str | None = None, factor: bool = True
    ) -> list[Op]:
        """Ops computing `scale * expr` into `out`; returns the calls added.

        With `factor`, a common numeric factor is taken out first and applied last (where
        the caller can fold it into `scale`); without, the expression is lowered as it is.
        """
        start = len(self.calls)
        coeff, rest = expr.as_content_primitive() if factor else (sp.Integer(1), expr)
        self._into(rest, out)
        # callers fold the coefficient into `scale` to save a call; unfolded, it costs one
        for by in ([self.number(coeff)] if coeff != 1 else []) + ([scale] if scale else []):
            self._emit("multiply", out, out, by)
        return self.calls[start:]

    def _emit(self, func: str, out: str, *args: str) -> None:
        self.calls.append(Op(func, args, out))

    def _operand(self, expr: sp.Expr) -> str | None:
        """Code of an operand needing no call (a named symbol or a number), else None."""
        if expr.is_number:  # a rational, or a constant such as sqrt(2/pi), folded
            return self.number(expr)
        if isinstance(expr, sp.Symbol):
            return self.names[expr]
        return None

    def _operand_free(self, expr: sp.Expr) -> bool:
        """Whether `expr` is an operand (a number or a named symbol), without naming it."""
        return bool(expr.is_number) or (isinstance(expr, sp.Symbol) and expr in self.names)

    def _reads(self, expr: sp.Expr, buffer: str) -> bool:
        return any(self.names.get(sym) == buffer for sym in expr.free_symbols)

    def _arg(self, expr: sp.Expr, out: str) -> str:
        """The sole argument of a call into out: an operand, or computed in out itself."""
        code = self._operand(expr)
        if code is None:
            self._into(expr, out)
            return out
        return code

    def _value(self, expr: sp.Expr) -> tuple[str, str | None]:
        """An operand for expr: its own code, or a scratch buffer computed now (to release)."""
        code = self._operand(expr)
        if code is not None:
            return code, None
        if not self.scratch:
            raise ValueError(f"no scratch buffer left to compute {expr}")
        tmp = self.scratch.pop()
        self._into(expr, tmp)
        return tmp, tmp

    def _combine(self, func: str, args: list[sp.Expr], out: str, invert: str) -> None:
        """Fold a sum or product of args into out; terms of the inverse kind use `invert`."""

        def inverse(arg: sp.Expr) -> sp.Expr | None:
            if func == "add" and arg.could_extract_minus_sign():
                return -arg
            if func == "multiply" and isinstance(arg, sp.Pow) and arg.exp == -1:
                # a logistic 1/(1 + exp(u)) is computed overflow-free, never divided by
                return arg.base if one_plus_exp(arg.base) is None else None
            return None

        # the accumulator (out's own symbol) first, then plain terms, inverse terms last
        def default_order(e: sp.Expr) -> tuple[bool, ...]:
            return (self.names.get(e) != out, inverse(e) is not None, not e.is_Symbol)

        def update_order(e: sp.Expr) -> tuple[bool, ...]:
            operand, inv = self._operand_free(e), inverse(e) is not None
            scalar = bool(e.is_number) or self.names.get(e) in (self.scalars or ())
            return (self.names.get(e) != out, not self._reads(e, out), operand or inv, scalar, inv)

        key = default_order if self.scalars is None else update_order
        args = sorted(args, key=key)
        first, rest = args[0], args[1:]
        # after the first write into out, no later argument may still read out's old value
        readers = [arg for arg in rest[1:] if self._reads(arg, out)]
        if readers:
            raise ValueError(f"{readers[0]} would read {out} after it is overwritten")
        if self.names.get(first) != out:
            if any(self._reads(arg, out) for arg in rest):
                raise ValueError(f"computing {first} into {out} would overwrite an input")
            operand = self._operand(first)
            if operand is not None and rest:  # two operands in the first call
                second = rest.pop(0)
                inv = inverse(second)
                right, tmp = self._value(second if inv is None else inv)
                self._emit(func if inv is None else invert, out, operand, right)
                self._release(tmp)
            else:
                self._into(first, out)
        for arg in rest:
            inv = inverse(arg)
            right, tmp = self._value(arg if inv is None else inv)
            self._emit(func if inv is None else invert, out, out, right)
            self._release(tmp)

    def _release(self, tmp: str | None) -> None:
        if tmp is not None:
            self.scratch.append(tmp)

    def _into(self, expr: sp.Expr, out: str) -> None:
        """Ops computing expr (no pending coefficient) into out."""
        if isinstance(expr, sp.Add):
            const, terms = expr.as_coeff_Add()
            parts = terms.as_ordered_terms()
            if const != 0 and len(parts) == 1 and parts[0].could_extract_minus_sign():
                self._emit("subtract", out, self.number(const), self._arg(-parts[0], out))
                return  # c - u in one call
            self._combine("add", parts + ([const] if const != 0 else []), out, "subtract")
        elif isinstance(expr, sp.Mul):
            coeff, rest = expr.as_coeff_Mul()
            if coeff == -1:
                self._emit("negative", out, self._arg(rest, out))
                return
            constant, rest = rest.as_independent(*rest.free_symbols, as_Add=False)
            coeff *= constant  # one number, sqrt(2/pi) included, is one multiplication
            args = list(sp.Mul.make_args(rest)) + ([coeff] if coeff != 1 else [])
            self._combine("multiply", args, out, "divide")
        elif isinstance(expr, sp.Pow) and expr.exp == -1 and one_plus_exp(expr.base) is not None:
            self._into(logistic_as_tanh(one_plus_exp(expr.base)), out)
        elif isinstance(expr, sp.log) and one_plus_exp(expr.args[0]) is not None:
            inner = self._arg(one_plus_exp(expr.args[0]), out)  # softplus, overflow-free
            self._emit("logaddexp", out, inner, self.number(sp.Integer(0)))
        elif isinstance(expr, sp.Pow):
            base, exponent = expr.args
            arg = self._arg(base, out)
            if exponent == 2:
                self._emit("square", out, arg)
            elif exponent == -1:
                self._emit("reciprocal", out, arg)
            elif exponent == sp.S.Half:
                self._emit("sqrt", out, arg)
            else:
                self._emit("power", out, arg, self.number(exponent))
        elif isinstance(expr, sp.Heaviside):
            arg = self._arg(expr.args[0], out)
            if expr.args[1] != 0:
                self._emit("heaviside", out, arg, self.number(expr.args[1]))
            elif self.mask is not None:  # u > 0 as booleans, then as numbers
                self._emit("greater", self.mask, arg, self.number(sp.Integer(0)))
                self._emit("copyto", out, self.mask)
            else:
                self._emit("greater", out, arg, self.number(sp.Integer(0)))
        elif isinstance(expr, sp.Max | sp.Min) and len(expr.args) == 2:
            numbers = [e for e in expr.args if e.is_Number]
            others = [e for e in expr.args if not e.is_Number]
            second, tmp = self._value((others[1:] + numbers)[0])  # before out is written
            if self._operand(others[0]) is None and (tmp is None and self._reads(expr, out)):
                raise ValueError(f"{others[0]} would overwrite {out} that {expr} still reads")
            func = "maximum" if isinstance(expr, sp.Max) else "minimum"
            self._emit(func, out, self._arg(others[0], out), second)
            self._release(tmp)
        elif type(expr) in _UNARY:
            self._emit(_UNARY[type(expr)], out, self._arg(expr.args[0], out))
        elif isinstance(expr, sp.Symbol) or expr.is_Number:
            code = str(self._operand(expr))
            if code != out:
                self._emit("positive", out, code)  # a copy
        else:
            raise ValueError(f"no lowering for {type(expr).__name__}: {expr}")


_REBUILD: dict[str, Callable[..., sp.Expr]] = {
    "add": lambda a, b: a + b,
    "subtract": lambda a, b: a - b,
    "multiply": lambda a, b: a * b,
    "divide": lambda a, b: a / b,
    "logaddexp": lambda a, b: sp.log(sp.exp(a) + sp.exp(b)),
    "maximum": lambda a, b: sp.Max(a, b),
    "minimum": lambda a, b: sp.Min(a, b),
    "greater": lambda a, b: sp.Heaviside(a - b, 0),
    "copyto": lambda a: a,
    "heaviside": lambda a, h: sp.Heaviside(a, h),
    "power": lambda a, b: a**b,
    "square": lambda a: a**2,
    "reciprocal": lambda a: 1 / a,
    "sqrt": sp.sqrt,
    "negative": lambda a: -a,
    "positive": lambda a: a,
    "exp": sp.exp,
    "log": sp.log,
    "tanh": sp.tanh,
    "absolute": sp.Abs,
}


def rebuild(calls: list[Op], env: dict[str, sp.Expr]) -> dict[str, sp.Expr]:
    """Run calls symbolically: env maps buffer and symbol code to SymPy values; returns it."""
    env = dict(env)
    for call in calls:
        args = [env[a] if a in env else sp.sympify(a) for a in call.args]
        env[call.out] = _REBUILD[call.func](*args)
    return env
