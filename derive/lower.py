"""Lowering: an elementwise SymPy expression -> NumPy ufunc calls writing into buffers.

Input: an expression, the buffer it must land in, the code name of each symbol, and scratch
buffers of the same shape. Output: `Call`s, three-address code such as
`numpy.subtract(a2, T, out=d2)`, that allocate nothing. Numeric factors are folded into one
final multiply by a runtime constant (`scale`) the caller names; a symbol that names the
output buffer itself is an accumulator, consumed in place. `rebuild` folds the calls back
into SymPy, so a test can prove the lowering equals its expression.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from derive.printing import one_plus_exp, to_numpy

# SymPy function -> NumPy ufunc of one argument.
_UNARY = {sp.exp: "exp", sp.log: "log", sp.tanh: "tanh", sp.Abs: "absolute"}


@dataclass(frozen=True)
class Call:
    """One NumPy call writing into `out`: `numpy.<func>(<args>, out=<out>)`."""

    func: str
    args: tuple[str, ...]
    out: str

    def code(self) -> str:
        return f"numpy.{self.func}({', '.join(self.args)}, out={self.out})"


@dataclass
class Lowering:
    """Lower expressions into calls; `names` maps symbols to code, `scratch` lends buffers."""

    names: dict[sp.Symbol, str]
    scratch: list[str]
    calls: list[Call] = field(default_factory=list)

    def lower(self, expr: sp.Expr, out: str, scale: str | None = None) -> list[Call]:
        """Calls computing `scale * expr` into `out`; returns the calls added."""
        start = len(self.calls)
        coeff, rest = expr.as_content_primitive()  # 2*y/3 - 2*t/3 -> (2/3, y - t)
        self._into(rest, out)
        # callers fold the coefficient into `scale` to save a call; unfolded, it costs one
        for factor in ([_number(coeff)] if coeff != 1 else []) + ([scale] if scale else []):
            self.calls.append(Call("multiply", (out, factor), out))
        return self.calls[start:]

    def _operand(self, expr: sp.Expr) -> str | None:
        """Code of an operand needing no call (a named symbol or a number), else None."""
        if expr.is_Number:
            return _number(expr)
        if isinstance(expr, sp.Symbol):
            return self.names[expr]
        return None

    def _value(self, expr: sp.Expr, out: str) -> tuple[str, str | None]:
        """An operand for expr: its own code, or a scratch buffer computed now (to release)."""
        code = self._operand(expr)
        if code is not None:
            return code, None
        if not self.scratch:
            raise ValueError(f"no scratch buffer left to compute {expr}")
        tmp = self.scratch.pop()
        self._into(expr, tmp)
        return tmp, tmp

    def _combine(self, func: str, args: list[sp.Expr], out: str, invert: str | None) -> None:
        """Fold a sum or product of args into out; terms of the inverse kind use `invert`."""

        def inverse(arg: sp.Expr) -> sp.Expr | None:
            if func == "add" and arg.could_extract_minus_sign():
                return -arg
            if func == "multiply" and isinstance(arg, sp.Pow) and arg.exp == -1:
                return arg.base
            return None

        # the accumulator (out's own symbol) first, then plain terms, inverse terms last
        args = sorted(
            args,
            key=lambda e: (self.names.get(e) != out, inverse(e) is not None, not e.is_Symbol),
        )
        first, rest = args[0], args[1:]
        if self.names.get(first) == out:
            acc = out
        elif rest and self._operand(first) is not None:  # two operands in the first call
            second = rest.pop(0)
            inv = inverse(second)
            right, tmp = self._value(inv if inv is not None else second, out)
            self.calls.append(
                Call(func if inv is None else str(invert), (self._operand(first) or "", right), out)
            )
            self._release(tmp)
            acc = out
        else:
            self._into(first, out)
            acc = out
        for arg in rest:
            inv = inverse(arg)
            right, tmp = self._value(inv if inv is not None else arg, out)
            self.calls.append(Call(func if inv is None else str(invert), (acc, right), out))
            self._release(tmp)

    def _release(self, tmp: str | None) -> None:
        if tmp is not None:
            self.scratch.append(tmp)

    def _into(self, expr: sp.Expr, out: str) -> None:
        """Calls computing expr (no pending coefficient) into out."""
        if isinstance(expr, sp.Add):
            const, terms = expr.as_coeff_Add()
            negatives = [
                term for term in terms.as_ordered_terms() if term.could_extract_minus_sign()
            ]
            if const != 0 and len(negatives) == 1 and len(terms.as_ordered_terms()) == 1:
                # c - u in one call, u computed in out first if it needs calls of its own
                right = self._operand(-negatives[0])
                if right is None:
                    self._into(-negatives[0], out)
                    right = out
                self.calls.append(Call("subtract", (_number(const), right), out))
                return
            args = list(terms.as_ordered_terms()) + ([const] if const != 0 else [])
            self._combine("add", args, out, "subtract")
        elif isinstance(expr, sp.Mul):
            coeff, rest = expr.as_coeff_Mul()
            if coeff == -1:
                operand = self._operand(rest)
                if operand is None:
                    self._into(rest, out)
                self.calls.append(Call("negative", (operand or out,), out))
                return
            args = list(sp.Mul.make_args(rest)) + ([coeff] if coeff != 1 else [])
            self._combine("multiply", args, out, "divide")
        elif isinstance(expr, sp.Pow) and expr.exp == -1 and one_plus_exp(expr.base) is not None:
            # sigmoid(-u) = 1/(1 + exp(u)) = exp(-logaddexp(0, u)): no overflow, no warning
            self._into(one_plus_exp(expr.base), out)
            self.calls += [
                Call("logaddexp", (out, "0"), out),
                Call("negative", (out,), out),
                Call("exp", (out,), out),
            ]
        elif isinstance(expr, sp.log) and one_plus_exp(expr.args[0]) is not None:
            self._into(one_plus_exp(expr.args[0]), out)  # softplus(u) = logaddexp(u, 0)
            self.calls.append(Call("logaddexp", (out, "0"), out))
        elif isinstance(expr, sp.Pow):
            base, exponent = expr.args
            arg, tmp = self._value(base, out)
            if exponent == 2:
                self.calls.append(Call("square", (arg,), out))
            elif exponent == -1:
                self.calls.append(Call("reciprocal", (arg,), out))
            elif exponent == sp.S.Half:
                self.calls.append(Call("sqrt", (arg,), out))
            else:
                self.calls.append(Call("power", (arg, _number(exponent)), out))
            self._release(tmp)
        elif isinstance(expr, sp.Heaviside):
            arg, tmp = self._value(expr.args[0], out)
            at_zero = expr.args[1]
            if at_zero == 0:  # the step as a comparison, written into a float buffer
                self.calls.append(Call("greater", (arg, "0"), out))
            else:
                self.calls.append(Call("heaviside", (arg, _number(at_zero)), out))
            self._release(tmp)
        elif isinstance(expr, sp.Max) and len(expr.args) == 2:
            number = [e for e in expr.args if e.is_Number]
            other = [e for e in expr.args if not e.is_Number]
            args_code = [self._value(e, out) for e in other + number]
            self.calls.append(Call("maximum", tuple(code for code, _ in args_code), out))
            for _, tmp in args_code:
                self._release(tmp)
        elif type(expr) in _UNARY:
            arg, tmp = self._value(expr.args[0], out)
            self.calls.append(Call(_UNARY[type(expr)], (arg,), out))
            self._release(tmp)
        elif isinstance(expr, sp.Symbol) or expr.is_Number:
            code = self._operand(expr)
            if code != out:
                self.calls.append(Call("positive", (str(code),), out))  # a copy
        else:
            raise ValueError(f"no lowering for {type(expr).__name__}: {expr}")


def _number(value: sp.Expr) -> str:
    return to_numpy(sp.nsimplify(value)) if value.is_Rational else repr(float(value))


_REBUILD = {
    "add": lambda a, b: a + b,
    "logaddexp": lambda a, b: sp.log(sp.exp(a) + sp.exp(b)),
    "subtract": lambda a, b: a - b,
    "multiply": lambda a, b: a * b,
    "divide": lambda a, b: a / b,
    "maximum": lambda a, b: sp.Max(a, b),
    "greater": lambda a, b: sp.Heaviside(a - b, 0),
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


def rebuild(calls: list[Call], env: dict[str, sp.Expr]) -> dict[str, sp.Expr]:
    """Run calls symbolically: env maps buffer and symbol code to SymPy values; returns it."""
    env = dict(env)
    for call in calls:
        args = [env[a] if a in env else sp.sympify(a) for a in call.args]
        env[call.out] = _REBUILD[call.func](*args)
    return env
