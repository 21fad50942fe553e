"""The claims file format (TOML, expressions in SymPy syntax) and its safe parser.

A claims file is data and never runs code. Expression text is parsed with Python's `ast`
module and walked node by node: only numbers, names, arithmetic, comparisons, subscripts
(`w[l, i, j]`) and calls of the functions in `FUNCTIONS` are accepted; every SymPy object is
built here, by hand. `sympify`, `parse_expr` and `eval` are never called on user text.
LaTeX (`lhs_latex`, `rhs_latex`, or a claim given by its `latex` alone) is translated by
verify/latex.py into the same checked trees, so both front ends share the whitelist and builder.

The format is documented in docs/claims.md.
"""

from __future__ import annotations

import ast
import difflib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sympy as sp

from derive.activations import ACTIVATIONS, HEAVISIDE_AT_ZERO, softmax
from derive.errors import DeriveError, input_error, plain
from derive.inputs import read_toml
from derive.losses import LOSSES

if TYPE_CHECKING:
    from derive.verify.declarations import Declarations

__all__ = [
    "FUNCTIONS",
    "Claim",
    "ClaimsFile",
    "Condition",
    "Definition",
    "Network",
    "OutOfRangeError",
    "Scope",
    "build",
    "bundled_path",
    "check_size",
    "load",
    "parse_expression",
    "parse_latex_side",
    "validate_tree",
]

MAX_TEXT = 2000  # characters in one expression
MAX_NODES = 600  # AST nodes in one expression
MAX_DEPTH = 40  # nesting of the AST
MAX_NUMBER = 10**6  # magnitude of a literal
MAX_EXPONENT = 32  # magnitude of a numeric exponent
MAX_TERMS = 1000  # terms and factors made by Sum and Product while building one claim
MAX_INSTANCES = 600  # sizes x indices of one family, counted before any domain filter
MAX_TREE = 20000  # nodes of one built side
MAX_DEGREE = 64  # polynomial degree an expansion of one side could reach
MAX_EXP_NESTING = 3  # exp inside exp inside exp
MAX_EXP_ARGUMENT = 1000  # |a| of exp(a) for a number a: e**1000 is about 10**434
MAX_DIGITS = 300  # digits of any number in a built side
MAX_LATEX = 500  # characters of one LaTeX side (lhs_latex, rhs_latex), checked before parsing

FUNCTIONS = {  # name -> (min args, max args); None: any number
    "exp": (1, 1),
    "log": (1, 1),
    "sqrt": (1, 1),
    "tanh": (1, 1),
    "Abs": (1, 1),
    "sigmoid": (1, 1),
    "relu": (1, 1),
    "softplus": (1, 1),
    "elu": (1, 1),
    "gelu": (1, 1),
    "silu": (1, 1),
    "Max": (1, None),
    "Min": (1, None),
    "Heaviside": (1, 2),
    "KroneckerDelta": (2, 2),
    "Eq": (2, 2),
    "Ne": (2, 2),
    "Piecewise": (1, None),
    "Sum": (2, None),
    "Product": (2, None),
    "Derivative": (2, None),
    "diff": (2, None),
    "Subs": (3, 3),
    "softmax": (4, 4),
    "s": (1, 1),
}
_SIMPLE = {
    "exp": sp.exp,
    "log": sp.log,
    "sqrt": sp.sqrt,
    "tanh": sp.tanh,
    "Abs": sp.Abs,
    "Max": sp.Max,
    "Min": sp.Min,
    "KroneckerDelta": sp.KroneckerDelta,
    "Eq": sp.Eq,
    "Ne": sp.Ne,
    **{name: ACTIVATIONS[name].of for name in ("softplus", "elu", "gelu", "silu")},
}
_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}
_COMPARE = {ast.Lt: sp.Lt, ast.Gt: sp.Gt, ast.LtE: sp.Le, ast.GtE: sp.Ge, ast.Eq: sp.Eq}
_COMPARE[ast.NotEq] = sp.Ne
_ALLOWED_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Call,
    ast.Tuple,
    ast.Subscript,
    ast.Compare,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.USub,
    ast.UAdd,
    ast.Pow,
    *_BINOPS,
    *_COMPARE,
)
CLAIM_KEYS = {
    "id",
    "kind",
    "lhs",
    "rhs",
    "lhs_latex",
    "rhs_latex",
    "source",
    "statement",
    "latex",
    "assumptions",
    "indices",
    "sizes",
    "domain",
    "layers",
    "conditions",
    "tolerance",
    "latex_names",
    "timeout",
}
MAX_TIMEOUT = 3600.0  # seconds: the largest per-claim `timeout`
KINDS = ("equation", "network", "procedure")


@dataclass(frozen=True)
class Expression:
    """One side of a claim: its text and the checked AST that either front end makes of it."""

    text: str
    tree: ast.expr | None  # None only for a builder's placeholder (tensors.Evaluator)
    where: str = ""  # "file: claim id: key", for error messages


@dataclass(frozen=True)
class Condition:
    """A named reading under which a claim may hold: a restriction and/or another left side."""

    text: str
    where: Expression | None = None
    lhs: Expression | None = None


@dataclass(frozen=True)
class Claim:
    """A claim `lhs = rhs`, where it comes from, and the family it ranges over."""

    id: str
    kind: str
    lhs: Expression
    rhs: Expression
    source: str = ""
    statement: str = ""
    latex: str = ""
    assumptions: tuple[str, ...] = ()
    indices: tuple[tuple[str, Expression, Expression], ...] = ()
    sizes: tuple[tuple[str, tuple[int, ...]], ...] = ()
    domain: Expression | None = None
    layers: tuple[tuple[int, ...], ...] = ()
    conditions: tuple[Condition, ...] = ()
    tolerance: float | None = None  # a numeric claim: |lhs - rhs| <= tolerance
    timeout: float | None = None  # seconds; None: the run's limit
    error: str = ""  # a LaTeX side that could not be read: the claim fails with this message


@dataclass(frozen=True)
class Definition:
    """A name of a first-edition `[definitions]` table: `"k[i]" = "..."` is read with i bound.

    Its body is built in the scope of the claim that uses it (the claim's sizes, indices and
    network quantities), with its own indices bound to the values it is used at.
    """

    name: str
    indices: tuple[str, ...]
    body: Expression

    @property
    def key(self) -> str:
        """The key as written: `k[i]`, or the name alone."""
        return f"{self.name}[{', '.join(self.indices)}]" if self.indices else self.name


@dataclass(frozen=True)
class Network:
    """The `[network]` table: a fully connected network without bias, as in the notes."""

    activation: str
    loss: str
    layers: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class ClaimsFile:
    """A parsed claims file."""

    path: Path
    claims: tuple[Claim, ...]
    network: Network | None = None
    title: str = ""
    declarations: Declarations | None = None  # [symbols] and [definitions]: entrywise claims
    definitions: tuple[Definition, ...] = ()  # [definitions] of a file without [symbols]


class Scope:
    """How names, subscripts, `s(l)` and derivatives are read; subclassed for networks."""

    def __init__(self) -> None:
        self.env: dict[str, int] = {}
        self.terms = 0
        self.definitions: dict[str, Definition] = {}
        self.cut: frozenset[str] = frozenset()  # defined names read as free variables
        self.free: dict[tuple[str, tuple[int, ...]], sp.Symbol] = {}  # their symbols

    def name(self, name: str) -> sp.Expr:
        """A free name: a real symbol."""
        return sp.Symbol(name, real=True)

    def index(self, base: str, idx: tuple[int, ...]) -> sp.Expr:
        """`base[i, j]` with integer indices: the real symbol `base[i,j]`."""
        return sp.Symbol(f"{base}[{','.join(map(str, idx))}]", real=True)

    def size(self, layer: int) -> int:
        """`s(l)`: only a network has layer sizes."""
        raise DeriveError("s(l) is the size of a layer: use it in a network claim")

    def derivative(self, expr: sp.Expr, var: sp.Symbol) -> sp.Expr:
        """d expr / d var with derive's kink convention."""
        from derive.activations import differentiate

        return differentiate(expr, var)


# --- parsing -------------------------------------------------------------------------------


def parse_expression(text: object, where: str) -> ast.expr:
    """Parse SymPy-syntax text into a checked AST; DeriveError naming `where` when refused."""
    if not isinstance(text, str):
        raise DeriveError(f"{where}: expected an expression string, found {text!r:.60}")
    if len(text) > MAX_TEXT:
        raise DeriveError(f"{where}: expression longer than {MAX_TEXT} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise _refuse(where, text, f"not an expression ({type(exc).__name__})") from None
    _check_tree(tree, where, text)
    return tree.body


def _refuse(where: str, text: str, why: str) -> DeriveError:
    shown = text if len(text) <= 80 else text[:77] + "..."
    return DeriveError(f"{where}: {why}: {shown!r}")


def _check_tree(
    tree: ast.AST,
    where: str,
    text: str,
    allowed: tuple[type, ...] = _ALLOWED_NODES,
    functions: dict[str, tuple[int, int | None]] = FUNCTIONS,
) -> None:
    """Refuse any node outside the whitelist, dunder names, unknown calls, deep or big trees."""
    count = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES or depth > MAX_DEPTH:
            raise _refuse(where, text, "expression too large or too deeply nested")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitXor):
            raise _refuse(where, text, "^ is not a power in SymPy syntax: write x**2")
        if not isinstance(node, allowed):
            raise _refuse(where, text, f"{type(node).__name__} is not allowed")
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise _refuse(where, text, f"name {node.id!r} is not allowed")
        if isinstance(node, ast.Constant):
            _check_constant(node.value, where, text)
        if isinstance(node, ast.Call):
            _check_call(node, where, text, functions)
        if isinstance(node, ast.Attribute) and node.attr != "T":
            raise _refuse(where, text, f"attribute .{node.attr} is not allowed (only .T)")
        subscript = isinstance(node, ast.Subscript) and not isinstance(node.value, ast.Name)
        if subscript and allowed is _ALLOWED_NODES:
            raise _refuse(where, text, "only a name can be subscripted, as in w[l, i, j]")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _check_constant(value: object, where: str, text: str) -> None:
    if isinstance(value, bool):
        return
    if not isinstance(value, int | float) or isinstance(value, complex):
        raise _refuse(where, text, f"literal {type(value).__name__} is not allowed")
    if not math.isfinite(value) or abs(value) > MAX_NUMBER:
        raise _refuse(where, text, f"numbers are limited to {MAX_NUMBER}")


def _check_call(
    node: ast.Call, where: str, text: str, functions: dict[str, tuple[int, int | None]]
) -> None:
    if not isinstance(node.func, ast.Name) or node.func.id not in functions:
        name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
        raise _refuse(where, text, f"unknown function {name!r}{_did_you_mean(name, functions)}")
    if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
        raise _refuse(where, text, "keyword and starred arguments are not allowed")
    low, high = functions[node.func.id]
    if len(node.args) < low or (high is not None and len(node.args) > high):
        shown = node.func.id.replace("__prime", "'")  # sigmoid'(z), pre-lexed
        raise _refuse(where, text, f"wrong number of arguments to {shown}")


def _did_you_mean(name: str, known: dict[str, Any]) -> str:
    """A close known name, else every name a user can write (sigmoid' for sigmoid__prime)."""
    written = [k for k in known if "__" not in k]
    close = difflib.get_close_matches(name, written, n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    primes = [k.removesuffix("__prime") + "'" for k in known if k.endswith("__prime")]
    return f" (allowed: {', '.join(written)}" + (f"; and {', '.join(primes)})" if primes else ")")


# --- building SymPy expressions from a checked AST -----------------------------------------


class OutOfRangeError(Exception):
    """A reference to a quantity the network does not have (a neuron past a layer's end)."""


def build(expr: Expression, scope: Scope) -> sp.Expr:
    """The SymPy expression of one side, names bound by `scope.env`; DeriveError if refused."""
    assert expr.tree is not None  # SymPy syntax and LaTeX both give a checked tree
    try:
        result = _Builder(scope, expr).node(expr.tree)
    except (DeriveError, OutOfRangeError):
        raise
    except RecursionError:
        raise _refuse(expr.where, expr.text, "expression too deeply nested") from None
    except Exception as exc:  # SymPy refused a construction: bad input, not a bug
        raise _refuse(expr.where, expr.text, f"cannot build ({exc})") from None
    _check_built(result, expr)
    return result


def _check_built(result: object, expr: Expression) -> None:
    validate_tree(result, expr.where, expr.text)


def validate_tree(
    result: object, where: str, text: str, exp_nesting: int = MAX_EXP_NESTING
) -> sp.Basic:
    """The one check every front end's expression goes through before any work is done on it.

    SymPy syntax and LaTeX alike: a finite real expression, numeric exponents up to
    MAX_EXPONENT, numbers up to MAX_DIGITS digits, exp of a number up to MAX_EXP_ARGUMENT,
    at most MAX_TREE nodes, an expansion degree up to MAX_DEGREE and exp nested up to
    `exp_nesting` deep (MAX_EXP_NESTING; a tensor claim's entries allow more, their
    exp arguments being probed instead: entrywise.py). Inner nodes are checked before outer
    ones, so no number is evaluated whose parts were not checked first.
    """
    if not isinstance(result, sp.Expr | sp.logic.boolalg.Boolean):
        raise _refuse(where, text, "not an expression")
    check_size(result, where, text)
    if result.has(sp.zoo, sp.oo, -sp.oo, sp.nan, sp.I):
        raise _refuse(where, text, "not a finite real expression")
    for node in sp.postorder_traversal(result):
        why = _refused_node(node)
        if why:
            raise _refuse(where, text, why)
    if _degree(result) > MAX_DEGREE:
        raise _refuse(where, text, f"its expansion would reach degree > {MAX_DEGREE}")
    if _exp_depth(result) > exp_nesting:
        raise _refuse(where, text, f"exp nested more than {exp_nesting} deep")
    return result


def check_size(result: sp.Basic, where: str, text: str) -> None:
    """At most MAX_TREE nodes, counted as a walk sees them (a shared subtree at each use).

    The walk stops at the cap, so a side whose repeated subtrees would make any other walk
    (`has`, `evalf`, `cancel`) take exponential time is refused in milliseconds.
    """
    for count, _ in enumerate(sp.preorder_traversal(result)):
        if count > MAX_TREE:
            raise _refuse(where, text, f"expression larger than {MAX_TREE} nodes")


def _refused_node(node: sp.Basic) -> str:
    if isinstance(node, sp.Rational):
        size = max(abs(node.p), abs(node.q)).bit_length()
        return "number too large" if size > MAX_DIGITS * 3.33 else ""
    if isinstance(node, sp.Float):
        return "number too large" if abs(node) > 10**MAX_DIGITS else ""
    if isinstance(node, sp.Pow) and node.exp.is_Number and abs(node.exp) > MAX_EXPONENT:
        return f"exponents are limited to {MAX_EXPONENT}"
    numeric_exp = isinstance(node, sp.exp) and node.args[0].is_number
    if numeric_exp and abs(sp.N(node.args[0], 15)) > MAX_EXP_ARGUMENT:
        return "number too large"
    return ""


def _degree(expr: sp.Basic) -> int:
    """An upper bound of the polynomial degree expanding expr could reach."""
    if expr.is_Atom:
        return 1 if expr.is_Symbol else 0
    if isinstance(expr, sp.Pow):
        base = _degree(expr.base)
        return base * abs(int(expr.exp)) if expr.exp.is_Integer else max(base, _degree(expr.exp))
    parts = [_degree(arg) for arg in expr.args]
    return sum(parts) if isinstance(expr, sp.Mul) else max(parts, default=0)


def _exp_depth(expr: sp.Basic) -> int:
    inner = max((_exp_depth(arg) for arg in expr.args), default=0)
    return inner + 1 if isinstance(expr, sp.exp) else inner


class _Builder:
    def __init__(self, scope: Scope, expr: Expression) -> None:
        self.scope = scope
        self.expr = expr

    def fail(self, why: str) -> DeriveError:
        return _refuse(self.expr.where, self.expr.text, why)

    def node(self, node: ast.expr) -> Any:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise self.fail(f"{type(node).__name__} is not allowed here")
        return method(node)

    def integer(self, node: ast.expr) -> int:
        value = self.node(node)
        if not isinstance(value, sp.Integer | int):
            raise self.fail(f"{ast.unparse(node)} must be an integer (declare it in indices)")
        return int(value)

    def _Constant(self, node: ast.Constant) -> Any:
        if isinstance(node.value, bool):
            return sp.true if node.value else sp.false
        if isinstance(node.value, float):
            return sp.Rational(repr(node.value))
        return sp.Integer(node.value)

    def _Name(self, node: ast.Name) -> Any:
        if node.id in self.scope.env:
            return sp.Integer(self.scope.env[node.id])
        if node.id in self.scope.definitions:
            return self.defined(node.id, ())
        if node.id in FUNCTIONS:
            raise self.fail(f"{node.id} is a function: call it")
        if node.id == "pi":
            return sp.pi
        return self.scope.name(node.id)

    def _UnaryOp(self, node: ast.UnaryOp) -> Any:
        value = self.node(node.operand)
        return -value if isinstance(node.op, ast.USub) else value

    def _BinOp(self, node: ast.BinOp) -> Any:
        left, right = self.node(node.left), self.node(node.right)
        if isinstance(node.op, ast.Pow):
            return self.power(left, right)
        operation = _BINOPS.get(type(node.op))
        if operation is None:
            raise self.fail(f"operator {type(node.op).__name__} is not allowed")
        return operation(left, right)

    def power(self, base: sp.Expr, exponent: sp.Expr) -> sp.Expr:
        if exponent.is_Number and abs(exponent) > MAX_EXPONENT:
            raise self.fail(f"exponents are limited to {MAX_EXPONENT}")
        numbers = base.is_Number and exponent.is_Number and base != 0
        if numbers and abs(float(exponent)) * abs(math.log10(abs(float(base)))) > 300:
            raise self.fail("number too large")
        return sp.Pow(base, exponent)

    def _Compare(self, node: ast.Compare) -> Any:
        if len(node.ops) != 1:
            raise self.fail("chained comparisons are not allowed")
        left, right = self.node(node.left), self.node(node.comparators[0])
        return _COMPARE[type(node.ops[0])](left, right)

    def _BoolOp(self, node: ast.BoolOp) -> Any:
        values = [self.node(value) for value in node.values]
        return sp.And(*values) if isinstance(node.op, ast.And) else sp.Or(*values)

    def _Tuple(self, node: ast.Tuple) -> Any:
        raise self.fail("a tuple is only allowed inside Sum or Piecewise")

    def _Subscript(self, node: ast.Subscript) -> Any:
        assert isinstance(node.value, ast.Name)
        parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        index = tuple(self.integer(part) for part in parts)
        if node.value.id in self.scope.definitions:
            return self.defined(node.value.id, index)
        return self.scope.index(node.value.id, index)

    def defined(self, name: str, index: tuple[int, ...]) -> Any:
        """A defined quantity: its body built with its indices bound, or a free variable (cut)."""
        definition = self.scope.definitions[name]
        if len(index) != len(definition.indices):
            count = len(definition.indices)
            takes = f"{count} ind{'ex' if count == 1 else 'ices'}"
            raise self.fail(f"{name} takes {takes} (defined as {definition.key})")
        if name in self.scope.cut:
            shown = f"{name}[{','.join(map(str, index))}]" if index else name
            return self.scope.free.setdefault((name, index), sp.Dummy(shown, real=True))
        saved = self.scope.env
        self.scope.env = saved | dict(zip(definition.indices, index, strict=True))
        try:
            assert definition.body.tree is not None
            return _Builder(self.scope, definition.body).node(definition.body.tree)
        finally:
            self.scope.env = saved

    def cut_at(self, node: ast.expr) -> str | None:
        """The defined name a derivative variable refers to, if it is one."""
        base = node.value if isinstance(node, ast.Subscript) else node
        if not isinstance(base, ast.Name) or base.id not in self.scope.definitions:
            return None
        return None if isinstance(node, ast.Name) and node.id in self.scope.env else base.id

    def _Call(self, node: ast.Call) -> Any:
        assert isinstance(node.func, ast.Name)
        name, args = node.func.id, node.args
        special = getattr(self, f"call_{name}", None)
        if special is not None:
            return special(args)
        return _SIMPLE[name](*[self.node(arg) for arg in args])

    def call_Heaviside(self, args: list[ast.expr]) -> Any:
        at_zero = self.node(args[1]) if len(args) == 2 else HEAVISIDE_AT_ZERO
        return sp.Heaviside(self.node(args[0]), at_zero)

    def call_relu(self, args: list[ast.expr]) -> Any:
        return ACTIVATIONS["relu"].of(self.node(args[0]))

    def call_sigmoid(self, args: list[ast.expr]) -> Any:
        return ACTIVATIONS["sigmoid"].of(self.node(args[0]))

    def call_s(self, args: list[ast.expr]) -> Any:
        return sp.Integer(self.scope.size(self.integer(args[0])))

    def call_Piecewise(self, args: list[ast.expr]) -> Any:
        pairs = []
        for arg in args:
            if not (isinstance(arg, ast.Tuple) and len(arg.elts) == 2):
                raise self.fail("Piecewise takes (value, condition) pairs")
            pairs.append((self.node(arg.elts[0]), self.node(arg.elts[1])))
        return sp.Piecewise(*pairs)

    def call_Sum(self, args: list[ast.expr]) -> Any:
        body, limits = args[0], args[1:]
        return self.sum(body, limits)

    def call_Product(self, args: list[ast.expr]) -> Any:
        return self.sum(args[0], args[1:], product=True)

    def sum(self, body: ast.expr, limits: list[ast.expr], product: bool = False) -> Any:
        if not limits:
            return self.node(body)
        limit = limits[0]
        if not (isinstance(limit, ast.Tuple) and len(limit.elts) == 3):
            raise self.fail("Sum and Product limits are (index, low, high) tuples")
        index, low, high = limit.elts
        if not isinstance(index, ast.Name) or index.id.startswith("_"):
            raise self.fail("a Sum or Product index must be a name")
        first, last = self.integer(low), self.integer(high)
        made = max(0, last - first + 1)
        self.scope.terms += made
        if self.scope.terms > MAX_TERMS:
            written = (
                "products are limited to {} factors" if product else "sums are limited to {} terms"
            )
            if made < self.scope.terms:  # earlier sums or products of this claim count too
                written += " (the claim's sums and products together)"
            raise self.fail(written.format(MAX_TERMS))
        saved = self.scope.env.get(index.id)
        total = sp.Integer(1 if product else 0)
        for value in range(first, last + 1):
            self.scope.env[index.id] = value
            term = self.sum(body, limits[1:], product)
            total = total * term if product else total + term
        if saved is None:
            self.scope.env.pop(index.id, None)
        else:
            self.scope.env[index.id] = saved
        return total

    def variable(self, node: ast.expr) -> sp.Symbol:
        var = self.node(node)
        if not isinstance(var, sp.Symbol):
            raise self.fail(f"{ast.unparse(node)} is not a variable to differentiate by")
        return var

    def call_Derivative(self, args: list[ast.expr]) -> Any:
        cut = self.cut_at(args[1])
        if cut is not None or any(self.cut_at(arg) for arg in args[2:]):
            if len(args) != 2:
                raise self.fail("a Derivative by a defined quantity takes one variable: nest them")
            return self.chain_rule(args[0], args[1], cut)  # type: ignore[arg-type]
        result = self.node(args[0])
        for arg in args[1:]:
            result = self.scope.derivative(result, self.variable(arg))
        return result

    def chain_rule(self, body: ast.expr, by: ast.expr, name: str) -> Any:
        """d body / d name[...]: name a free variable of everything built, then its value put back.

        This is what `Subs(Derivative(...), u, value)` wrote by hand: the derivative of body as
        a function of the defined quantity, the quantities it is made of held fixed.
        """
        saved = self.scope.cut
        self.scope.cut = saved | {name}
        try:
            value = self.node(body)
            result = self.scope.derivative(value, self.variable(by))
        finally:
            self.scope.cut = saved
        if name in saved:  # an outer derivative by the same quantity puts the values back
            return result
        back = {
            symbol: self.defined(each, index)
            for (each, index), symbol in self.scope.free.items()
            if each == name and symbol in result.free_symbols
        }
        return result.xreplace(back)

    call_diff = call_Derivative

    def call_Subs(self, args: list[ast.expr]) -> Any:
        var = self.variable(args[1])
        return self.node(args[0]).xreplace({var: self.node(args[2])})

    def call_softmax(self, args: list[ast.expr]) -> Any:
        if not isinstance(args[0], ast.Name):
            raise self.fail("softmax(z, i, low, high) takes the name of a vector first")
        i, low, high = (self.integer(arg) for arg in args[1:])
        if not low <= i <= high or high - low > 64:
            raise self.fail(f"softmax index {i} outside {low}..{high}")
        vector = [self.scope.index(args[0].id, (j,)) for j in range(low, high + 1)]
        return softmax(vector)[i - low]


# --- LaTeX ---------------------------------------------------------------------------------


class LatexSideError(DeriveError):
    """A LaTeX side derive cannot read: its claim fails with the message, the file goes on."""


def parse_latex_side(text: object, where: str, settings: Any = None) -> ast.expr:
    """A LaTeX side as a checked tree of the SymPy-syntax language; LatexSideError if refused.

    The message names the key (`rhs_latex: col 14: ...`): the report's row names the claim.
    """
    from derive.verify import latex

    key = where.rsplit(": ", 1)[-1]
    if not isinstance(text, str) or len(text) > MAX_LATEX:
        raise LatexSideError(f"{key}: expected a LaTeX string up to {MAX_LATEX} characters")
    try:
        tree = latex.parse_side(text, settings or latex.Settings())
    except latex.LatexError as exc:
        raise LatexSideError(exc.show(key, text)) from None
    except RecursionError:
        raise LatexSideError(f"{key}: nested too deeply") from None
    check_latex_tree(tree, key, text, tensor=settings is not None and settings.tensors is not None)
    return tree


def check_latex_tree(tree: ast.expr, where: str, text: str, tensor: bool = False) -> None:
    """The whitelist check of SymPy syntax (`tensor`: of the tensor language of a file with
    [symbols]), on a tree the LaTeX front end made."""
    try:
        if tensor:
            from derive.verify.declarations import FUNCTIONS as TENSOR_FUNCTIONS
            from derive.verify.declarations import TENSOR_NODES

            _check_tree(ast.Expression(tree), where, text, TENSOR_NODES, TENSOR_FUNCTIONS)
        else:
            _check_tree(ast.Expression(tree), where, text)
    except DeriveError as exc:
        raise LatexSideError(str(exc)) from None


# --- loading a claims file -----------------------------------------------------------------


def bundled_path() -> Path:
    """The claims of the seed backprop notes, shipped in the package."""
    return Path(str(resources.files("derive") / "data" / "notes.toml"))


def load(path: Path) -> ClaimsFile:
    """Read and check a claims file; DeriveError naming the file and key on bad input."""
    from derive.verify.document import DOCUMENT_SUFFIXES, read_document

    document = Path(path).suffix.lower() in DOCUMENT_SUFFIXES  # notes.md: its displays
    data = read_document(Path(path)) if document else read_toml(Path(path), "claims file")
    keys = ("claim", "network", "title", "latex", "symbols", "definitions")
    unknown = set(data) - set(keys)
    if unknown:
        key = sorted(unknown)[0]
        close = difflib.get_close_matches(key, keys, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        if {"layers", "activations"} & unknown:  # a spec, given to verify by mistake
            hint = " (this looks like a spec: `derive generate` and `derive train` read specs)"
        raise input_error(path, key, f"one of {', '.join(keys)}{hint}", "unknown key")
    raw_claims = data.get("claim")
    if not isinstance(raw_claims, list) or not raw_claims:
        found = raw_claims if "claim" in data else "none"  # not None: an empty file has none
        raise input_error(path, "claim", "one or more [[claim]] tables", found)
    shorthand = "network" in data and "symbols" in data  # the network written as definitions
    network = _network(path, data["network"]) if "network" in data and not shorthand else None
    from derive.verify.latex import Settings, settings_from_table, tensor_settings

    settings = settings_from_table(path, data["latex"]) if "latex" in data else Settings()
    declarations = _declarations(path, data, settings)
    parse = parse_expression if declarations is None else declarations.parse
    if declarations is not None:  # LaTeX read in the tensor language, products by shape
        settings = tensor_settings(settings, declarations)
    claims = [
        claim
        for number, raw in enumerate(raw_claims, 1)
        for claim in _claims(path, raw, number, settings, parse)
    ]
    if declarations is not None:
        declarations.check_claims(path, claims)
    first_edition = data.get("definitions") if declarations is None else None
    definitions = _definitions(path, first_edition, network)
    if declarations is None:
        from derive.verify.declarations import check_numbers

        check_numbers(path, claims, definitions)
    plain_names = {d.name for d in definitions if not d.indices}
    for claim in claims:
        for name, _, _ in claim.indices:
            if name in plain_names:
                where = f"claim {claim.id}: indices.{name}"
                raise input_error(path, where, "an index name that is not defined", name)
    seen: set[str] = set()
    for claim in claims:
        if claim.id in seen:
            raise input_error(path, f"claim {claim.id}", "a unique id", "a repeated id")
        seen.add(claim.id)
        if claim.kind != "equation" and network is None:
            raise input_error(path, f"claim {claim.id}: kind", "a [network] table", claim.kind)
    title = str(data.get("title", ""))
    return ClaimsFile(Path(path), tuple(claims), network, title, declarations, definitions)


def _declarations(path: Path, data: dict[str, Any], settings: Any) -> Declarations | None:
    """The second edition's tables; a file with [symbols] is checked entrywise."""
    if "symbols" not in data:
        return None  # [definitions] alone name expressions of the first edition's free names
    from derive.verify.declarations import read

    symbols, definitions = data["symbols"], data.get("definitions", {})
    if "network" in data and isinstance(symbols, dict) and isinstance(definitions, dict):
        from derive.verify.shorthand import expand

        symbols, definitions = expand(path, data["network"], symbols, definitions)
    from derive.verify.latex import tensor_definition

    def latex(value: object, where: str, above: Declarations) -> Expression:
        return tensor_definition(value, where, settings, above)

    return read(path, symbols, definitions, latex)


_DEFINED = re.compile(r"([A-Za-z]\w*)(?:\[\s*([A-Za-z]\w*(?:\s*,\s*[A-Za-z]\w*)*)\s*\])?")
NETWORK_NAMES = ("n", "a", "z", "w", "t", "E", "Etot")  # a network claim's own quantities


def _definitions(path: Path, raw: object, network: Network | None) -> tuple[Definition, ...]:
    """A first-edition `[definitions]` table: `name` or `name[i, j]` = an expression, in order."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise input_error(path, "definitions", 'a table of name = "expression"', raw)
    keys = {key: _DEFINED.fullmatch(key.strip()) for key in raw}
    names = {match[1] for match in keys.values() if match}
    found: dict[str, Definition] = {}
    for key, text in raw.items():
        at, match = f"definitions.{key}", keys[key]
        if match is None:
            raise input_error(path, at, 'a name, or a name with indices as "k[i, j]"', key)
        name = match[1]
        indices = tuple(re.split(r"\s*,\s*", match[2])) if match[2] else ()
        network_name = network is not None and name in NETWORK_NAMES
        if name in FUNCTIONS or name == "pi" or "__" in name or network_name:
            expected = "a name that is not a function" + (" or a network quantity" * network_name)
            raise input_error(path, at, expected, name)
        if name in found:
            raise input_error(path, at, "each name defined once", f"{found[name].key} and {key}")
        if len(set(indices)) != len(indices) or name in indices:
            raise input_error(path, at, "distinct index names, other than the name", key)
        where = f"{plain(str(path))}: {at}"
        tree = parse_expression(text, where)
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - set(FUNCTIONS)
        if name in used:
            raise DeriveError(f"{where}: {name} is used in its own definition")
        later = sorted(used & names - set(found))
        if later:
            raise DeriveError(
                f"{where}: {later[0]!r} is defined further down: definitions are read in order"
            )
        found[name] = Definition(name, indices, Expression(str(text), tree, where=where))
    return tuple(found.values())


def _network(path: Path, raw: object) -> Network:
    if not isinstance(raw, dict):
        raise input_error(path, "network", "a table", raw)
    unknown = set(raw) - {"activation", "loss", "layers"}
    if unknown:
        raise input_error(path, f"network.{sorted(unknown)[0]}", "activation, loss, layers", "?")
    activation = raw.get("activation", "relu")
    if activation not in ACTIVATIONS or not ACTIVATIONS[activation].elementwise:
        raise input_error(path, "network.activation", "an elementwise activation", activation)
    loss = raw.get("loss", "mse")
    if loss not in LOSSES:
        raise input_error(path, "network.loss", f"one of {', '.join(LOSSES)}", loss)
    layers = _layers(path, "network.layers", raw.get("layers"))
    return Network(activation, loss, layers)


def _layers(path: Path, key: str, raw: object) -> tuple[tuple[int, ...], ...]:
    shapes = raw if isinstance(raw, list) else []
    ok = 0 < len(shapes) <= 12 and all(
        isinstance(shape, list)
        and 2 <= len(shape) <= 4
        and all(type(size) is int and 1 <= size <= 4 for size in shape)
        for shape in shapes
    )
    if not ok:
        raise input_error(path, key, "a list of layer-size lists (2-4 layers of 1-4 neurons)", raw)
    return tuple(tuple(shape) for shape in shapes)


def _claims(
    path: Path,
    raw: object,
    number: int,
    settings: Any,
    parse: Callable[[object, str], ast.expr] = parse_expression,
) -> list[Claim]:
    """The claim of a [[claim]] table, or one per relation of a claim given by `latex` alone."""
    claim = _claim(path, raw, number, settings, parse)
    assert isinstance(raw, dict)
    if claim.error or any(key in raw for key in ("lhs", "rhs", "lhs_latex", "rhs_latex")):
        return [claim]
    from derive.verify.latex import display_claims

    return display_claims(claim, _latex_settings(raw, settings, claim.kind))


def _latex_settings(raw: dict[str, Any], settings: Any, kind: str) -> Any:
    """The file's [latex] settings with this claim's index and size names and `latex_names`."""
    names = set(raw.get("indices", {})) | set(raw.get("sizes", {}))
    local = settings.for_claim(names, kind != "equation")
    if "latex_names" in raw:
        local = local.with_names(f"claim {raw.get('id')}", raw["latex_names"])
    return local


def _claim(
    path: Path,
    raw: object,
    number: int,
    settings: Any,
    parse: Callable[[object, str], ast.expr] = parse_expression,
) -> Claim:
    if not isinstance(raw, dict):
        raise input_error(path, f"claim #{number}", "a table", raw)
    cid = raw.get("id")
    if not isinstance(cid, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]{1,40}", cid):
        found = cid if "id" in raw else "no id key"
        raise input_error(path, f"claim #{number}: id", "an id of letters, digits, . _ -", found)
    at = f"{plain(str(path))}: claim {cid}"
    unknown = set(raw) - CLAIM_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise DeriveError(
            f"{at}: unknown key {key!r}{_did_you_mean(key, dict.fromkeys(sorted(CLAIM_KEYS)))}"
        )
    kind = raw.get("kind", "equation")
    if kind not in KINDS:
        raise input_error(path, f"claim {cid}: kind", f"one of {', '.join(KINDS)}", kind)
    texts = {key: _text(at, raw, key) for key in ("source", "statement", "latex")}
    assumptions = raw.get("assumptions", [])
    if not isinstance(assumptions, list) or not all(isinstance(a, str) for a in assumptions):
        raise input_error(path, f"claim {cid}: assumptions", "a list of strings", assumptions)
    local = _latex_settings(raw, settings, kind)
    only_latex = "latex" in raw and not {"lhs", "rhs", "lhs_latex", "rhs_latex"} & set(raw)
    placeholder = Expression("0", ast.Constant(0), where=at)
    error = ""
    try:
        lhs = placeholder if only_latex else _side(at, raw, "lhs", local, parse)
        rhs = placeholder if only_latex else _side(at, raw, "rhs", local, parse)
    except LatexSideError as exc:
        lhs, rhs, error = placeholder, placeholder, str(exc)
    return Claim(
        id=cid,
        kind=kind,
        lhs=lhs,
        rhs=rhs,
        error=error,
        assumptions=tuple(assumptions),
        indices=_indices(at, raw.get("indices", {})),
        sizes=_sizes(at, raw.get("sizes", {})),
        domain=_optional(at, raw, "domain"),
        layers=_layers(path, f"claim {cid}: layers", raw["layers"]) if "layers" in raw else (),
        conditions=_conditions(at, raw.get("conditions", []), parse),
        tolerance=_tolerance(at, raw),
        timeout=_timeout(at, raw.get("timeout")),
        **texts,
    )


def _timeout(at: str, raw: object) -> float | None:
    if raw is None:
        return None
    if type(raw) not in (int, float) or not 0 < raw <= MAX_TIMEOUT:  # type: ignore[operator]
        raise DeriveError(
            f"{at}: timeout: expected seconds in (0, {MAX_TIMEOUT:g}], found {raw!r:.60}"
        )
    return float(raw)  # type: ignore[arg-type]


def _text(at: str, raw: dict[str, Any], key: str) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str):
        raise DeriveError(f"{at}: {key}: expected a string, found {value!r:.60}")
    return value


def _tolerance(at: str, raw: dict[str, Any]) -> float | None:
    value = raw.get("tolerance")
    if value is None:
        return None
    if type(value) not in (int, float) or not 0 < value < MAX_NUMBER:
        raise DeriveError(f"{at}: tolerance: expected a positive number, found {value!r:.60}")
    return float(value)


def _side(
    at: str,
    raw: dict[str, Any],
    key: str,
    settings: Any,
    parse: Callable[[object, str], ast.expr] = parse_expression,
) -> Expression:
    if (key in raw) == (f"{key}_latex" in raw):
        raise DeriveError(f"{at}: expected exactly one of {key}, {key}_latex")
    if key in raw:
        return Expression(raw[key], parse(raw[key], f"{at}: {key}"), where=f"{at}: {key}")
    where = f"{at}: {key}_latex"
    text = raw[f"{key}_latex"]
    return Expression(str(text), parse_latex_side(text, where, settings), where=where)


def _optional(
    at: str,
    raw: dict[str, Any],
    key: str,
    parse: Callable[[object, str], ast.expr] = parse_expression,
) -> Expression | None:
    if key not in raw:
        return None
    return Expression(raw[key], parse(raw[key], f"{at}: {key}"), where=f"{at}: {key}")


def _indices(at: str, raw: object) -> tuple[tuple[str, Expression, Expression], ...]:
    if not isinstance(raw, dict):
        raise DeriveError(f"{at}: indices: expected a table name = [low, high]")
    result = []
    for name, bounds in raw.items():
        if not name.isidentifier() or name.startswith("_"):
            raise DeriveError(f"{at}: indices: {name!r} is not a plain name")
        if not isinstance(bounds, list) or len(bounds) != 2:
            raise DeriveError(f"{at}: indices.{name}: expected [low, high], found {bounds!r:.60}")
        sides = [_bound(at, name, bound) for bound in bounds]
        result.append((name, sides[0], sides[1]))
    return tuple(result)


def _bound(at: str, name: str, bound: object) -> Expression:
    text = str(bound) if type(bound) is int else bound
    where = f"{at}: indices.{name}"
    return Expression(str(text), parse_expression(text, where), where=where)


def _sizes(at: str, raw: object) -> tuple[tuple[str, tuple[int, ...]], ...]:
    ok = isinstance(raw, dict) and all(
        isinstance(values, list)
        and 0 < len(values) <= 8
        and all(type(v) is int and 0 <= v <= 8 for v in values)
        for values in raw.values()
    )
    if not ok:
        raise DeriveError(f"{at}: sizes: expected name = [values 0..8], found {raw!r:.60}")
    assert isinstance(raw, dict)
    return tuple((name, tuple(values)) for name, values in raw.items())


def _conditions(
    at: str, raw: object, parse: Callable[[object, str], ast.expr]
) -> tuple[Condition, ...]:
    if not isinstance(raw, list):
        raise DeriveError(f"{at}: conditions: expected a list of tables")
    result = []
    for number, item in enumerate(raw, 1):
        where = f"{at}: conditions #{number}"
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise DeriveError(f"{where}: expected a table with text")
        if set(item) - {"text", "where", "lhs"} or set(item) == {"text"}:
            raise DeriveError(f"{where}: expected text and where and/or lhs")
        result.append(
            Condition(
                item["text"], _optional(where, item, "where"), _optional(where, item, "lhs", parse)
            )
        )
    return tuple(result)
