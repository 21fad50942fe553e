"""The tensor layer of claims files: vectors and matrices of scalar SymPy components.

Input: a parsed expression (a checked AST, see `derive.verify.declarations`) and a `Context`, one
instance of a file's declarations (every size bound to a number). Output: a SymPy scalar, or a
NumPy object array (1-D vector, 2-D matrix) whose entries are SymPy scalars in the component
symbols `W1[1, 0]`, `x[2]`. Operators follow NumPy: `*` and `/` elementwise with broadcasting
(a row vector added to every row of a batch), `@` matrix product, `.T` transpose.

Definitions are evaluated in order. A derivative by a defined quantity has the chain-rule
meaning: `grad(C, a1)` re-evaluates everything defined after `a1` with `a1` replaced by free
symbols, differentiates, then substitutes `a1`'s own value back.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy as sp
from sympy.core.relational import Relational

from derive.activations import ACTIVATIONS, LEAKY_SLOPE, differentiate, softmax
from derive.errors import DeriveError
from derive.verify.claims import Expression, Scope, _Builder

if TYPE_CHECKING:
    from derive.verify.declarations import Declarations

__all__ = ["ELEMENTWISE", "Context", "Evaluator", "ShapeError", "entry_names", "is_tensor"]


def _leaky_relu(u: sp.Expr, alpha: sp.Expr = LEAKY_SLOPE) -> sp.Expr:
    return alpha * u + (1 - alpha) * sp.Max(0, u)


def _elu(u: sp.Expr, alpha: sp.Expr = sp.S.One) -> sp.Expr:
    return sp.Piecewise((u, u > 0), (alpha * (sp.exp(u) - 1), True))


ELEMENTWISE: dict[str, Callable[..., sp.Expr]] = {  # name -> scalar function (first argument x)
    "exp": sp.exp,
    "log": sp.log,
    "sqrt": sp.sqrt,
    "tanh": sp.tanh,
    "cosh": sp.cosh,
    "sinh": sp.sinh,
    "sin": sp.sin,
    "cos": sp.cos,
    "Abs": sp.Abs,
    "sigmoid": ACTIVATIONS["sigmoid"].of,
    "relu": ACTIVATIONS["relu"].of,
    "identity": lambda u: u,
    "softplus": lambda u: sp.log(1 + sp.exp(u)),
    "leaky_relu": _leaky_relu,
    "elu": _elu,
}
_X = sp.Dummy("x", real=True)


class ShapeError(Exception):
    """Operands whose shapes do not fit: a claim that is wrong at these sizes."""


def is_tensor(value: object) -> bool:
    """A vector or matrix (a NumPy object array), not a scalar."""
    return isinstance(value, np.ndarray)


def elementwise(function: Callable[..., Any], *args: Any) -> Any:
    """function applied entry by entry, arguments broadcast as NumPy does."""
    if not any(is_tensor(arg) for arg in args):
        return function(*args)
    return np.frompyfunc(function, len(args), 1)(*args)


def entry_names(value: Any) -> list[tuple[tuple[int, ...], Any]]:
    """(index, entry) for every entry of a tensor; ((), value) for a scalar."""
    if not is_tensor(value):
        return [((), value)]
    return [(index, value[index]) for index in itertools.product(*map(range, value.shape))]


def shown(node: ast.AST) -> str:
    """The expression as the user wrote it (a prime written back as `'`)."""
    return ast.unparse(node).replace("__prime", "'")


class Context:
    """One instance of a file's declarations: sizes and labels bound, components made."""

    def __init__(
        self, decl: Declarations, env: dict[str, int], fixed: dict[str, Any], plain: bool
    ) -> None:
        self.decl = decl
        self.env = env
        self.base = {
            name: fixed[name] if name in fixed else decl.symbols[name].components(name, env, plain)
            for name in decl.tensors()
        }
        self._values: dict[str | None, dict[str, Any]] = {}
        self._building: set[str] = set()  # definitions being built (values stops above them)
        self.independent: dict[str, bool] = {}  # "F does not depend on V": true here?
        self._lifted: tuple[dict[sp.Expr, sp.Expr], dict[sp.Expr, sp.Expr]] | None = None

    def values(self, cut: str | None) -> dict[str, Any]:
        """Every declared and defined quantity; `cut` (a definition) replaced by free symbols."""
        if cut in self._values:
            return self._values[cut]
        values = dict(self.base)
        complete = True
        for name, expr in self.decl.definitions:
            if name in self._building:  # a derivative inside it: what it uses lies above it
                complete = False
                break
            self._building.add(name)
            try:
                value = Evaluator(self, cut, values).build(expr)
            except ShapeError as exc:
                sizes = ", ".join(f"{k}={v}" for k, v in self.env.items())
                raise DeriveError(f"{expr.where}: {exc} (at {sizes})") from None
            finally:
                self._building.discard(name)
            # The names above `cut` are built as without it, so its value is the uncut one.
            values[name] = _free(name, value) if name == cut else value
        if complete:
            self._values[cut] = values
        return values

    def lift(self, expr: sp.Expr, sums_only: bool = False) -> sp.Expr:
        """expr with every subtree that is a defined quantity's value replaced by a new symbol.

        An identity in the new symbols stays one when their values are put back, so a
        difference that cancels once lifted is a proof, found on far smaller expressions.
        With `sums_only`, only values that are sums are lifted (and their negatives): a
        network's pre-activations z, so that sigmoid(z) and its derivative are both written
        in exp(-z) rather than one in a lifted a = sigmoid(z) and the other in exp(-z).
        """
        if self._lifted is None:
            self._lifted = ({}, {})
            for name, _ in self.decl.definitions:
                for _, value in entry_names(self.values(None)[name]):
                    if isinstance(value, sp.Expr) and not value.is_Atom:
                        symbol = sp.Dummy(name)
                        self._lifted[0].setdefault(value, symbol)
                        if isinstance(value, sp.Add):
                            self._lifted[1].setdefault(value, symbol)
                            self._lifted[1].setdefault(-value, -symbol)
        return expr.xreplace(self._lifted[sums_only])

    def fold(self, expr: sp.Expr) -> sp.Expr:
        """expr written in the defined quantities where it contains them (for reading only)."""
        values = dict(self.base)
        for name, definition in self.decl.definitions:
            try:
                local = Evaluator(self, None, values).build(definition)
            except (DeriveError, ShapeError):
                break  # a derivative inside a definition: fold no further
            values[name] = _free(name, local)
            for (_, symbol), (_, value) in zip(
                entry_names(values[name]), entry_names(local), strict=True
            ):
                if isinstance(value, sp.Expr) and not value.is_Atom:
                    expr = expr.subs(value, symbol)
                    expr = _sigmoid_inverse(expr, value, symbol)
        if sp.count_ops(expr) > 100:
            return expr
        return min((expr, sp.factor(expr)), key=sp.count_ops)


def _sigmoid_inverse(expr: sp.Expr, value: sp.Expr, symbol: sp.Symbol) -> sp.Expr:
    """With a = sigmoid(u): exp(-u) = (1 - a)/a, so sigmoid' reads a*(1 - a)."""
    u = sp.Wild("u")
    match = value.match(ELEMENTWISE["sigmoid"](u))
    if not match or not match[u].is_Symbol:
        return expr
    return expr.subs(sp.exp(-match[u]), (1 - symbol) / symbol)


def _free(name: str, like: Any) -> Any:
    """Free real symbols shaped as `like`, named as its entries (`a1[0]`)."""
    if not is_tensor(like):
        return sp.Symbol(name, real=True)
    free = np.empty(like.shape, dtype=object)
    for index, _ in entry_names(like):
        free[index] = sp.Symbol(f"{name}[{', '.join(map(str, index))}]", real=True)
    return free


class Evaluator(_Builder):
    """Builds one expression in a context; names read from `values` (a cut may be in force)."""

    def __init__(self, ctx: Context, cut: str | None, values: dict[str, Any]) -> None:
        scope = Scope()
        scope.env = dict(ctx.env)
        super().__init__(scope, Expression("", None))
        self.ctx, self.cut, self.values = ctx, cut, values

    def build(self, expr: Expression) -> Any:
        """The value of an expression: a SymPy scalar or an object array."""
        assert expr.tree is not None
        self.expr = expr
        try:
            return self.node(expr.tree)
        except (DeriveError, ShapeError):
            raise
        except RecursionError:
            raise self.fail("expression too deeply nested") from None
        except Exception as exc:  # SymPy or NumPy refused a construction: bad input
            raise self.fail(f"cannot build ({exc})") from None

    # --- names, subscripts, operators ---------------------------------------------------

    def _Name(self, node: ast.Name) -> Any:
        if node.id in self.scope.env:
            return sp.Integer(self.scope.env[node.id])
        if node.id in self.values:
            return self.values[node.id]
        if node.id == "pi":
            return sp.pi
        raise self.fail(f"unknown name {node.id!r}")

    def _Subscript(self, node: ast.Subscript) -> Any:
        value = self.node(node.value)
        parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        index = tuple(self.integer(part) for part in parts)
        if not is_tensor(value) or len(index) > value.ndim:
            raise ShapeError(f"{shown(node)}: {shown(node.value)} has {np.ndim(value)} indices")
        if not all(0 <= i < size for i, size in zip(index, value.shape, strict=False)):
            raise ShapeError(f"{shown(node)} is out of range: shape {_shape(value)}")
        return value[index]

    def _Attribute(self, node: ast.Attribute) -> Any:
        value = self.node(node.value)  # the parser lets only .T through
        return value.T if is_tensor(value) else value

    def _BinOp(self, node: ast.BinOp) -> Any:
        left, right = self.node(node.left), self.node(node.right)
        if isinstance(node.op, ast.MatMult):
            return self.matmul(node, left, right)
        if is_tensor(left) or is_tensor(right):
            try:
                np.broadcast_shapes(np.shape(left), np.shape(right))
            except ValueError:
                raise ShapeError(
                    f"{shown(node)}: shapes {_shape(left)} and {_shape(right)} do not match"
                ) from None
        if isinstance(node.op, ast.Pow):
            if is_tensor(right):
                raise self.fail("an exponent must be a scalar")
            return elementwise(lambda base: self.power(base, right), left)
        operation = {
            ast.Add: lambda a, b: a + b,
            ast.Sub: lambda a, b: a - b,
            ast.Mult: lambda a, b: a * b,
            ast.Div: lambda a, b: a / b,
        }.get(type(node.op))
        if operation is None:
            raise self.fail(f"operator {type(node.op).__name__} is not allowed")
        return elementwise(operation, left, right)

    def matmul(self, node: ast.BinOp, left: Any, right: Any) -> Any:
        if not (is_tensor(left) and is_tensor(right)):
            raise self.fail(f"{shown(node)}: @ takes vectors or matrices (use * for a scalar)")
        if left.shape[-1] != right.shape[0]:
            raise ShapeError(f"{shown(node)}: shapes {_shape(left)} and {_shape(right)} do not fit")
        return np.matmul(left, right)

    def _Compare(self, node: ast.Compare) -> Any:
        if len(node.ops) != 1:
            raise self.fail("chained comparisons are not allowed")
        relation = {
            ast.Lt: sp.Lt,
            ast.Gt: sp.Gt,
            ast.LtE: sp.Le,
            ast.GtE: sp.Ge,
            ast.Eq: sp.Eq,
            ast.NotEq: sp.Ne,
        }[type(node.ops[0])]
        return elementwise(relation, self.node(node.left), self.node(node.comparators[0]))

    # --- functions ------------------------------------------------------------------------

    def _Call(self, node: ast.Call) -> Any:
        assert isinstance(node.func, ast.Name)
        name, args = node.func.id, node.args
        if name.endswith("__prime"):
            return self.prime(name.removesuffix("__prime"), args)
        if name in ELEMENTWISE:
            return elementwise(ELEMENTWISE[name], *[self.node(arg) for arg in args])
        special = getattr(self, f"call_{name}", None)
        if special is not None:
            return special(args)
        simple = {"KroneckerDelta": sp.KroneckerDelta, "Eq": sp.Eq, "Ne": sp.Ne}
        return simple[name](*[self.scalar(arg) for arg in args])

    def scalar(self, node: ast.expr) -> Any:
        value = self.node(node)
        if is_tensor(value):
            raise self.fail(f"{shown(node)} must be a scalar here")
        return value

    def prime(self, name: str, args: list[ast.expr]) -> Any:
        """f'(u): the derivative of an elementwise function, taken by SymPy, at u."""
        rest = [self.scalar(arg) for arg in args[1:]]
        slope = differentiate(ELEMENTWISE[name](_X, *rest), _X)
        return elementwise(lambda u: slope.xreplace({_X: u}), self.node(args[0]))

    def call_Max(self, args: list[ast.expr]) -> Any:
        return elementwise(sp.Max, *[self.node(arg) for arg in args])

    def call_Min(self, args: list[ast.expr]) -> Any:
        return elementwise(sp.Min, *[self.node(arg) for arg in args])

    def call_Heaviside(self, args: list[ast.expr]) -> Any:
        at_zero = self.scalar(args[1]) if len(args) == 2 else sp.Integer(0)
        return elementwise(lambda u: sp.Heaviside(u, at_zero), self.node(args[0]))

    def call_indicator(self, args: list[ast.expr]) -> Any:
        return elementwise(_indicator, self.node(args[0]))

    def call_sum(self, args: list[ast.expr]) -> Any:
        value = self.node(args[0])
        if not is_tensor(value):
            return value
        if len(args) == 1:
            return sp.Add(*value.flat)
        axis = self.integer(args[1])
        if not 0 <= axis < value.ndim:
            raise self.fail(f"sum over axis {axis} of a {value.ndim}-D value")
        return np.apply_along_axis(lambda line: sp.Add(*line), axis, value)

    def call_mean(self, args: list[ast.expr]) -> Any:
        value, total = self.node(args[0]), self.call_sum(args)
        if not is_tensor(value):
            return value
        count = value.size if len(args) == 1 else value.shape[self.integer(args[1])]
        return elementwise(lambda u: u / count, total)

    def call_outer(self, args: list[ast.expr]) -> Any:
        u, v = self.vector(args[0]), self.vector(args[1])
        return np.multiply.outer(u, v)

    def vector(self, node: ast.expr) -> Any:
        value = self.node(node)
        if not is_tensor(value) or value.ndim != 1:
            raise ShapeError(f"{shown(node)} must be a vector, found shape {_shape(value)}")
        return value

    def call_diag(self, args: list[ast.expr]) -> Any:
        value = self.node(args[0])
        if not is_tensor(value):
            raise self.fail("diag takes a vector or a matrix")
        if value.ndim == 2:
            return np.array([value[i, i] for i in range(min(value.shape))], dtype=object)
        return _filled((value.size, value.size), lambda i, j: value[i] if i == j else 0)

    def call_ones(self, args: list[ast.expr]) -> Any:
        return _filled(tuple(self.size_arg(arg) for arg in args), lambda *_: 1)

    def call_eye(self, args: list[ast.expr]) -> Any:
        size = self.size_arg(args[0])
        return _filled((size, size), lambda i, j: int(i == j))

    def size_arg(self, node: ast.expr) -> int:
        size = self.integer(node)
        if not 1 <= size <= 64:
            raise self.fail(f"{shown(node)} = {size}: a size from 1 to 64")
        return size

    def call_softmax(self, args: list[ast.expr]) -> Any:
        return _rows(self.node(args[0]), lambda row: softmax(list(row)), self.fail)

    def call_log_softmax(self, args: list[ast.expr]) -> Any:
        def log_softmax(row: Any) -> list[sp.Expr]:
            total = sp.log(sp.Add(*[sp.exp(u) for u in row]))
            return [u - total for u in row]

        return _rows(self.node(args[0]), log_softmax, self.fail)

    # --- derivatives ------------------------------------------------------------------------

    def target(self, node: ast.expr) -> tuple[str, tuple[int, ...] | None]:
        """The quantity a derivative is taken by: a name, or one entry of it."""
        index = None
        if isinstance(node, ast.Subscript):
            parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            index = tuple(self.integer(part) for part in parts)
            node = node.value
        if not isinstance(node, ast.Name) or node.id not in self.values:
            raise self.fail(f"{shown(node)} is not a declared or defined quantity")
        return node.id, index

    def by(self, name: str) -> Evaluator:
        """The evaluator in which `name` is a free variable (a cut at a definition)."""
        if name not in dict(self.ctx.decl.definitions):
            return self
        return Evaluator(self.ctx, name, self.ctx.values(name))

    def back(self, name: str, inner: Evaluator, value: Any) -> Any:
        """value with the free symbols of a cut replaced by the quantity's own value."""
        if inner is self:
            return value
        mapping = dict(
            zip(
                _flat(inner.values[name]),
                _flat(self.values[name]),
                strict=True,
            )
        )
        return elementwise(lambda u: u.xreplace(mapping), value)

    def variables(self, name: str, inner: Evaluator, index: tuple[int, ...] | None) -> Any:
        wrt = inner.values[name]
        if index is not None:
            if not is_tensor(wrt) or len(index) != wrt.ndim:
                raise self.fail(f"{name} takes {np.ndim(wrt)} indices")
            if not all(0 <= i < n for i, n in zip(index, wrt.shape, strict=True)):
                raise ShapeError(f"{name}{list(index)} is out of range: shape {_shape(wrt)}")
            wrt = wrt[index]
        if not all(isinstance(v, sp.Symbol) for v in _flat(wrt)):
            raise self.fail(f"{name} is fixed by its domain: it is not a variable")
        return wrt

    def depends(self, node: ast.expr, value: Any, wrt: Any, label: str) -> None:
        """Record whether value depends on wrt: never, at any instance, is an error."""
        free = set().union(*[sp.sympify(v).free_symbols for v in _flat(value)])
        message = f"{self.expr.where}: {shown(node)} does not depend on {label}"
        independent = not free & set(_flat(wrt))
        self.ctx.independent[message] = self.ctx.independent.get(message, True) and independent

    def call_grad(self, args: list[ast.expr]) -> Any:
        name, index = self.target(args[1])
        inner = self.by(name)
        value = inner.node(args[0])
        if is_tensor(value):
            raise self.fail(f"grad({shown(args[0])}, ...) needs a scalar: use jacobian")
        wrt = self.variables(name, inner, index)
        self.depends(args[0], value, wrt, shown(args[1]))
        return self.back(name, inner, elementwise(lambda v: differentiate(value, v), wrt))

    def call_jacobian(self, args: list[ast.expr]) -> Any:
        name, index = self.target(args[1])
        inner = self.by(name)
        value = inner.node(args[0])
        wrt = self.variables(name, inner, index)
        if not is_tensor(value) or value.ndim != 1 or not is_tensor(wrt) or wrt.ndim != 1:
            raise self.fail("jacobian(u, v) takes two vectors")
        self.depends(args[0], value, wrt, shown(args[1]))
        rows = [[differentiate(u, v) for v in wrt] for u in value]
        return self.back(name, inner, np.array(rows, dtype=object))

    def call_Derivative(self, args: list[ast.expr]) -> Any:
        targets = [self.target(arg) for arg in args[1:]]
        names = {name for name, _ in targets}
        if len(names) > 1 and names & set(dict(self.ctx.decl.definitions)):
            raise self.fail("a Derivative by a defined quantity takes one variable: nest them")
        name = targets[0][0]
        inner = self.by(name)
        value = inner.scalar(args[0])
        for (each, index), node in zip(targets, args[1:], strict=True):
            wrt = self.variables(each, inner, index)
            if is_tensor(wrt):
                raise self.fail(f"Derivative by {shown(node)}, a tensor: use grad or jacobian")
            self.depends(args[0], value, wrt, _entry(each, index))
            value = differentiate(value, wrt)
        return self.back(name, inner, value)

    call_diff = call_Derivative


def _entry(name: str, index: tuple[int, ...] | None) -> str:
    return name if not index else f"{name}[{', '.join(map(str, index))}]"


def _indicator(condition: Any) -> sp.Expr:
    """1 where the condition holds, else 0; a comparison with 0 as a Heaviside step."""
    if condition in (sp.true, sp.false):
        return sp.Integer(1 if condition == sp.true else 0)
    if not isinstance(condition, Relational):
        raise TypeError(f"indicator takes a comparison, found {condition}")
    gap = condition.lhs - condition.rhs
    steps = {sp.Gt: (gap, 0), sp.Ge: (gap, 1), sp.Lt: (-gap, 0), sp.Le: (-gap, 1)}
    if type(condition) in steps:
        arg, at_zero = steps[type(condition)]
        return sp.Heaviside(arg, at_zero)
    return sp.Piecewise((1, condition), (0, True))


def _filled(shape: tuple[int, ...], entry: Callable[..., int | sp.Expr]) -> Any:
    out = np.empty(shape, dtype=object)
    for index in itertools.product(*map(range, shape)):
        out[index] = sp.sympify(entry(*index))
    return out


def _rows(value: Any, function: Callable[[Any], list[sp.Expr]], fail: Callable[..., Any]) -> Any:
    """function of a vector, or of each row of a matrix (a batch)."""
    if not is_tensor(value):
        raise fail("softmax takes a vector (or a batch of rows)")
    if value.ndim == 1:
        return np.array(function(value), dtype=object)
    return np.array([function(row) for row in value], dtype=object)


def _flat(value: Any) -> list[Any]:
    return list(value.flat) if is_tensor(value) else [value]


def _shape(value: Any) -> str:
    shape = np.shape(value)
    return "scalar" if not shape else str(tuple(int(n) for n in shape))
