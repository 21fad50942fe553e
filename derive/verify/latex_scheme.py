"""The network scheme of the LaTeX front end: what a network claim's indices range over.

In a `kind = "network"` claim (the `[network]` model of docs/claims.md), neuron `i` of layer
`l` runs over `0 .. s(l)-1` and the outputs over `0 .. s(n-1)-1`. Two readings follow from that
declared scheme, and only from it:

- `\\sum_{m}` without limits sums `m` over the range of the index it subscripts
  (`a_m^{[n-2]}`: `0 .. s(n-2)-1`); every place `m` subscripts must give the same range.
- `Z^{[l]} = W^{[l]} \\cdot A^{[l-1]}` (a layered name with its layer and no neuron index, in
  capitals or not) is the vector `(z[l, i])_i` or the matrix `(w[l, i, j])_{i, j}`; a relation
  between vectors is read entrywise: row `r` of each side, with `r` over the rows of the left
  side, a matrix-vector product a sum over the matrix's columns.

Ranges are compared as SymPy expressions built from the trees here (nothing is evaluated).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import sympy as sp

__all__ = ["FAMILY", "Entrywise", "SchemeError", "entrywise", "family", "neuron_range", "same"]

FAMILY = "latex_family__"  # the call a layered vector or matrix is parsed into, until rewritten
VECTORS = {"a", "z"}  # the layered vectors of the network model; w is the matrix


class SchemeError(Exception):
    """A reading the scheme does not give (the parser turns it into a LatexError)."""


def family(base: str, layer: ast.expr) -> ast.expr:
    """The placeholder of the vector a^{[l]} / z^{[l]} or the matrix W^{[l]}."""
    return ast.Call(ast.Name(FAMILY, ast.Load()), [ast.Name(base, ast.Load()), layer], [])


def _is_family(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == FAMILY


def has_family(tree: ast.AST) -> bool:
    """Whether a tree holds a layered vector or matrix."""
    return any(_is_family(node) for node in ast.walk(tree))


def _size(layer: ast.expr) -> ast.expr:
    return ast.Call(ast.Name("s", ast.Load()), [layer], [])


def _minus(tree: ast.expr, amount: int = 1) -> ast.expr:
    return ast.BinOp(tree, ast.Sub(), ast.Constant(amount))


def _last(layer: ast.expr) -> ast.expr:
    """The last neuron of a layer: s(layer) - 1."""
    return _minus(_size(layer))


# --- ranges --------------------------------------------------------------------------------


def _sympy(tree: ast.expr) -> sp.Expr | None:
    """An index expression (names, integers, + - *, s(...)) as SymPy, or None."""
    if isinstance(tree, ast.Name):
        return sp.Symbol(tree.id, integer=True)
    if isinstance(tree, ast.Constant) and type(tree.value) is int:
        return sp.Integer(tree.value)
    if isinstance(tree, ast.UnaryOp) and isinstance(tree.op, ast.USub):
        inner = _sympy(tree.operand)
        return None if inner is None else -inner
    if isinstance(tree, ast.BinOp) and isinstance(tree.op, ast.Add | ast.Sub | ast.Mult):
        left, right = _sympy(tree.left), _sympy(tree.right)
        if left is None or right is None:
            return None
        if isinstance(tree.op, ast.Add):
            return left + right
        return left - right if isinstance(tree.op, ast.Sub) else left * right
    if isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and len(tree.args) == 1:
        arg = _sympy(tree.args[0])
        return None if arg is None else sp.Function(tree.func.id)(arg)
    return None


def same(first: ast.expr, second: ast.expr) -> bool:
    """Whether two index expressions are equal for every value of their names."""
    left, right = _sympy(first), _sympy(second)
    if left is None or right is None:
        return ast.dump(first) == ast.dump(second)
    return sp.expand(left - right) == 0


def neuron_range(body: ast.expr, index: str) -> tuple[ast.expr, ast.expr]:
    """The range of `index` from the places it subscripts a network quantity in `body`."""
    found: list[tuple[str, tuple[ast.expr, ast.expr]]] = []
    for node in ast.walk(body):
        if not (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)):
            continue
        parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        base = node.value.id
        for position, part in enumerate(parts):
            if not (isinstance(part, ast.Name) and part.id == index):
                continue
            high = _high(base, parts, position)
            if high is not None:
                found.append((ast.unparse(node), (ast.Constant(0), high)))
    if not found:
        raise SchemeError(
            f"a sum without limits: {index} subscripts no neuron of a layer here, so the scheme "
            "gives no range; write the limits (\\sum_{m=0}^{...})"
        )
    where, (low, high) = found[0]
    for other, (_, high_other) in found[1:]:
        if not same(high, high_other):
            raise SchemeError(
                f"a sum without limits: {index} runs over 0..{ast.unparse(high)} in {where} but "
                f"over 0..{ast.unparse(high_other)} in {other}; write the limits"
            )
    return low, high


def _high(base: str, parts: list[ast.expr], position: int) -> ast.expr | None:
    """The last value of the index at `position` of base[parts] in the network model."""
    if base in VECTORS and len(parts) == 2 and position == 1:
        return _last(parts[0])
    if base == "w" and len(parts) == 3 and position in (1, 2):
        layer = parts[0] if position == 1 else _minus(parts[0])
        return _last(layer)
    if base in ("t", "E") and len(parts) == 1:
        return _last(_minus(ast.Name("n", ast.Load())))
    return None


# --- vectors and matrices, entrywise --------------------------------------------------------


@dataclass(frozen=True)
class Entrywise:
    """A relation between vectors, read at row `row` (low .. high)."""

    lhs: ast.expr
    rhs: ast.expr
    row: str
    low: ast.expr
    high: ast.expr


class _Rows:
    """Row r of an expression of layered vectors and matrices; its length or None (scalar)."""

    def __init__(self, taken: set[str]) -> None:
        self.taken = taken

    def fresh(self, preferred: str) -> str:
        for name in (preferred, "j", "k", "m", "p", "q", "r", "u", "v"):
            if name not in self.taken:
                self.taken.add(name)
                return name
        number = 1
        while f"r{number}" in self.taken:
            number += 1
        self.taken.add(f"r{number}")
        return f"r{number}"

    def row(self, node: ast.expr, r: ast.expr) -> tuple[ast.expr, ast.expr | None]:
        """(row r of node, number of rows), or (node, None) for a scalar."""
        if not has_family(node):
            return node, None
        if _is_family(node):
            assert isinstance(node, ast.Call)
            base, layer = node.args
            assert isinstance(base, ast.Name)
            if base.id not in VECTORS:
                raise SchemeError(
                    f"the matrix {base.id.upper()}^{{[{ast.unparse(layer)}]}} is read only in a "
                    "product with a vector (W^{[l]} A^{[l-1]})"
                )
            subscript = ast.Subscript(base, ast.Tuple([layer, r], ast.Load()), ast.Load())
            return subscript, _size(layer)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            return self.product(node, r)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
            left, left_rows = self.row(node.left, r)
            right, right_rows = self.row(node.right, r)
            if left_rows is None or right_rows is None or not same(left_rows, right_rows):
                raise SchemeError("a sum of a vector and a scalar, or of vectors of two lengths")
            return ast.BinOp(left, node.op, right), left_rows
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            inner, rows = self.row(node.operand, r)
            return ast.UnaryOp(ast.USub(), inner), rows
        elementwise = ("relu", "sigmoid", "tanh", "exp", "log", "Abs")
        function = node.func if isinstance(node, ast.Call) and len(node.args) == 1 else None
        if (
            isinstance(node, ast.Call)
            and isinstance(function, ast.Name)
            and function.id in elementwise
        ):
            inner, rows = self.row(node.args[0], r)
            return ast.Call(node.func, [inner], []), rows
        raise SchemeError(
            f"a layered vector or matrix inside {ast.unparse(node)[:60]} is not read: only "
            "sums, products with scalars, matrix-vector products and elementwise functions"
        )

    def product(self, node: ast.BinOp, r: ast.expr) -> tuple[ast.expr, ast.expr | None]:
        left = node.left
        if _is_family(left) and isinstance(left, ast.Call):
            base, layer = left.args
            if isinstance(base, ast.Name) and base.id == "w":
                column = self.fresh("j")
                j = ast.Name(column, ast.Load())
                entry, length = self.row(node.right, j)
                columns = _size(_minus(layer))
                if length is None or not same(length, columns):
                    shown = "a scalar" if length is None else f"length {ast.unparse(length)}"
                    raise SchemeError(
                        f"W^{{[{ast.unparse(layer)}]}} has {ast.unparse(columns)} columns; it "
                        f"multiplies {shown}"
                    )
                weight = ast.Subscript(base, ast.Tuple([layer, r, j], ast.Load()), ast.Load())
                limits = ast.Tuple([j, ast.Constant(0), _minus(columns)], ast.Load())
                body = ast.BinOp(weight, ast.Mult(), entry)
                total = ast.Call(ast.Name("Sum", ast.Load()), [body, limits], [])
                return total, _size(layer)
        left_row, left_rows = self.row(node.left, r)
        right_row, right_rows = self.row(node.right, r)
        if left_rows is not None and right_rows is not None:
            raise SchemeError("a product of two vectors: write the sum (or \\odot) explicitly")
        return ast.BinOp(left_row, ast.Mult(), right_row), left_rows or right_rows


def entrywise(lhs: ast.expr, rhs: ast.expr, taken: set[str], preferred: str) -> Entrywise:
    """The relation lhs = rhs between layered vectors, read at one row."""
    rows = _Rows(set(taken))
    name = rows.fresh(preferred)
    r = ast.Name(name, ast.Load())
    left, left_rows = rows.row(lhs, r)
    right, right_rows = rows.row(rhs, r)
    if left_rows is None or right_rows is None:
        raise SchemeError("one side is a vector and the other a scalar")
    if not same(left_rows, right_rows):
        raise SchemeError(
            f"the sides are vectors of {ast.unparse(left_rows)} and {ast.unparse(right_rows)} "
            "entries"
        )
    return Entrywise(left, right, name, ast.Constant(0), _minus(left_rows))
