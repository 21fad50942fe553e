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

__all__ = [
    "FAMILY",
    "Entrywise",
    "SchemeError",
    "entrywise",
    "family",
    "has_family",
    "neuron_range",
    "pattern",
    "same",
]

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
    if _adds(tree, ast.Add, amount):  # (x + 1) - 1 is x
        assert isinstance(tree, ast.BinOp)
        return tree.left
    return ast.BinOp(tree, ast.Sub(), ast.Constant(amount))


def _adds(tree: ast.expr, op: type[ast.operator], amount: int) -> bool:
    """Whether tree is `x op amount`."""
    return (
        isinstance(tree, ast.BinOp)
        and isinstance(tree.op, op)
        and isinstance(tree.right, ast.Constant)
        and tree.right.value == amount
    )


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
    if ast.dump(first) == ast.dump(second):  # most entries of a matrix: no SymPy needed
        return True
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
class Block:
    """A vector or matrix of indexed names: base[*prefix, row (, column)] over its ranges."""

    base: str
    prefix: list[ast.expr]  # the layer
    rows: tuple[ast.expr, ast.expr]  # first and last row index
    columns: tuple[ast.expr, ast.expr] | None  # None: a vector
    exceptions: list[tuple[ast.expr, ast.expr, ast.expr]]  # (row, column, entry as written)

    def shown(self) -> str:
        layer = "".join(f"^{{[{ast.unparse(p)}]}}" for p in self.prefix)
        return f"{self.base.upper() if self.columns else self.base}{layer}"

    def entry(self, r: ast.expr, c: ast.expr | None = None) -> ast.expr:
        """The entry at row r (and column c), both counted from 0."""
        indices = [*self.prefix, _plus(self.rows[0], r)]
        if self.columns is not None and c is not None:
            indices.append(_plus(self.columns[0], c))
        term: ast.expr = ast.Subscript(
            ast.Name(self.base, ast.Load()), ast.Tuple(indices, ast.Load()), ast.Load()
        )
        for row, column, written in self.exceptions:  # the entries written off the pattern
            assert c is not None and self.columns is not None
            at_row = _call("KroneckerDelta", r, _minus_tree(row, self.rows[0]))
            at_column = _call("KroneckerDelta", c, _minus_tree(column, self.columns[0]))
            difference = ast.BinOp(written, ast.Sub(), term)
            correction = ast.BinOp(ast.BinOp(at_row, ast.Mult(), at_column), ast.Mult(), difference)
            term = ast.BinOp(term, ast.Add(), correction)
        return term


def _call(name: str, *args: ast.expr) -> ast.expr:
    return ast.Call(ast.Name(name, ast.Load()), list(args), [])


def _plus(low: ast.expr, offset: ast.expr) -> ast.expr:
    if isinstance(low, ast.Constant) and low.value == 0:
        return offset
    return ast.BinOp(low, ast.Add(), offset)


def _minus_tree(value: ast.expr, low: ast.expr) -> ast.expr:
    if isinstance(low, ast.Constant) and low.value == 0:
        return value
    return ast.BinOp(value, ast.Sub(), low)


def _count(bounds: tuple[ast.expr, ast.expr]) -> ast.expr:
    """The number of indices low..high."""
    span = _minus_tree(bounds[1], bounds[0])
    if _adds(span, ast.Sub, 1):  # (x - 1) + 1 is x
        assert isinstance(span, ast.BinOp)
        return span.left
    return ast.BinOp(span, ast.Add(), ast.Constant(1))


def _block(node: ast.expr) -> Block:
    """The block a placeholder stands for."""
    assert isinstance(node, ast.Call) and isinstance(node.args[0], ast.Name)
    base = node.args[0].id
    if len(node.args) == 2:  # a^{[l]}, z^{[l]}, W^{[l]}: the whole layer
        layer = node.args[1]
        rows = (ast.Constant(0), _last(layer))
        columns: tuple[ast.expr, ast.expr] | None = None
        if base == "w":
            columns = (ast.Constant(0), _last(_minus(layer)))
        return Block(base, [layer], rows, columns, [])
    prefix, rows_tree, columns_tree, exceptions = node.args[1:]
    assert isinstance(prefix, ast.Tuple) and isinstance(rows_tree, ast.Tuple)
    assert isinstance(exceptions, ast.Tuple)
    columns = None
    if isinstance(columns_tree, ast.Tuple):
        columns = (columns_tree.elts[0], columns_tree.elts[1])
    written = [tuple(e.elts) for e in exceptions.elts if isinstance(e, ast.Tuple)]
    return Block(
        base,
        list(prefix.elts),
        (rows_tree.elts[0], rows_tree.elts[1]),
        columns,
        [(r, c, w) for r, c, w in written],
    )


def pattern(grid: list[list[ast.expr | None]], network: bool) -> ast.expr:
    """A matrix environment with entries elided (None for \\dots) -> its placeholder.

    The first column gives the row indices and the first row the column indices: consecutive
    integers up to one elision, then the last index. Every other written entry is the pattern's
    entry there or, written otherwise (the notes' w_{0,1} in the last row), kept as written.
    An entry written without the layer takes the layer written on the others.
    """
    if not network:
        raise SchemeError(
            "a matrix written out is read in a network claim, its entries a layer's names "
            "(elsewhere, declare it in [symbols] and write its name)"
        )
    width = len(grid[0])
    if any(len(row) != width for row in grid):
        raise SchemeError("the rows of this matrix have different numbers of entries")
    if width == 1:
        entries = [row[0] for row in grid]
        rows, slots = _axis([_indices(e)[1][-1] if e is not None else None for e in entries])
        base, prefix = _common(grid)
        for slot, entry in enumerate(entries):
            if entry is not None and slots[slot] is None:
                raise SchemeError("an entry between the \\dots of a vector")
        return _placeholder(base, prefix, rows, None, [])
    if len(grid) == 1:
        raise SchemeError("a row vector is not read: write the vector as a column")
    base, prefix = _common(grid)
    first_column = [row[0] for row in grid]
    first_row = grid[0]
    rows, row_slots = _axis([None if e is None else _indices(e)[1][-2] for e in first_column])
    columns, column_slots = _axis([None if e is None else _indices(e)[1][-1] for e in first_row])
    exceptions: list[tuple[ast.expr, ast.expr, ast.expr]] = []
    for a, row in enumerate(grid):
        for b, entry in enumerate(row):
            if entry is None:
                continue
            row_index, column_index = row_slots[a], column_slots[b]
            if row_index is None or column_index is None:
                raise SchemeError("an entry between the \\dots of a matrix")
            written = _indices(entry)[1]
            fits = same(written[-2], row_index) and same(written[-1], column_index)
            if not fits and (a == 0 or b == 0):
                raise SchemeError(
                    "the first row and column give the matrix's indices: their entries must "
                    f"agree ({ast.unparse(entry)})"
                )
            if not fits:
                filled = ast.Subscript(
                    ast.Name(base, ast.Load()),
                    ast.Tuple([*prefix, *written[-2:]], ast.Load()),
                    ast.Load(),
                )
                exceptions.append((row_index, column_index, filled))
    return _placeholder(base, prefix, rows, columns, exceptions)


def _indices(entry: ast.expr) -> tuple[str, list[ast.expr]]:
    if not (isinstance(entry, ast.Subscript) and isinstance(entry.value, ast.Name)):
        raise SchemeError(
            f"a matrix with \\dots is read when its entries are one indexed name (w_{{i,j}}); "
            f"found {ast.unparse(entry)[:40]}"
        )
    parts = entry.slice.elts if isinstance(entry.slice, ast.Tuple) else [entry.slice]
    return entry.value.id, list(parts)


_FULL = {"a": 2, "z": 2, "w": 3}  # indices of a layered name of the network, layer first


def _common(grid: list[list[ast.expr | None]]) -> tuple[str, list[ast.expr]]:
    """The one base name of the entries and their layer (written on one entry at least)."""
    written = [_indices(e) for row in grid for e in row if e is not None]
    bases = {base for base, _ in written}
    if len(bases) != 1:
        raise SchemeError(f"the entries name {', '.join(sorted(bases))}: one name is read")
    base = bases.pop()
    full = _FULL.get(base)
    varying = 1 if len(grid[0]) == 1 else 2
    if full is None:
        raise SchemeError(f"{base} is not a layered name of the network (a, z, w)")
    if full - 1 != varying:
        raise SchemeError(f"{base} is a {'vector' if full == 2 else 'matrix'} of a layer")
    layers = [parts[0] for _, parts in written if len(parts) == full]
    if not layers:
        raise SchemeError("no entry of this matrix has its layer: write it on one at least")
    if any(not same(layer, layers[0]) for layer in layers[1:]):
        raise SchemeError("the entries of this matrix are in different layers")
    if any(len(parts) not in (full, full - 1) for _, parts in written):
        raise SchemeError(f"{base} takes {full} indices (layer first)")
    return base, [layers[0]]


def _axis(
    indices: list[ast.expr | None],
) -> tuple[tuple[ast.expr, ast.expr], list[ast.expr | None]]:
    """(first, last) index along a side, and each slot's index (None: the elision)."""
    elided = [k for k, value in enumerate(indices) if value is None]
    numbers = [_integer(v) for v in indices[: elided[0] if elided else len(indices)]]
    if not numbers or None in numbers:
        raise SchemeError("the first indices of a matrix are written as integers: 0, 1, ...")
    first = numbers[0]
    assert first is not None
    if numbers != list(range(first, first + len(numbers))):
        raise SchemeError("the written indices of a matrix count up by one: 0, 1, 2, ...")
    if not elided:
        last = indices[-1]
        assert last is not None
        return (ast.Constant(first), last), list(indices)
    if len(elided) != 1 or elided[0] != len(indices) - 2:
        raise SchemeError("one \\dots, just before the last entry, is read along a side")
    last = indices[-1]
    assert last is not None
    slots: list[ast.expr | None] = [ast.Constant(first + k) for k in range(len(numbers))]
    return (ast.Constant(first), last), [*slots, None, last]


def _integer(tree: ast.expr | None) -> int | None:
    if isinstance(tree, ast.Constant) and type(tree.value) is int:
        return tree.value
    return None


def _placeholder(
    base: str,
    prefix: list[ast.expr],
    rows: tuple[ast.expr, ast.expr],
    columns: tuple[ast.expr, ast.expr] | None,
    exceptions: list[tuple[ast.expr, ast.expr, ast.expr]],
) -> ast.expr:
    load = ast.Load()
    return _call(
        FAMILY,
        ast.Name(base, load),
        ast.Tuple(prefix, load),
        ast.Tuple(list(rows), load),
        ast.Tuple(list(columns), load) if columns else ast.Constant(None),
        ast.Tuple([ast.Tuple(list(e), load) for e in exceptions], load),
    )


@dataclass(frozen=True)
class Entrywise:
    """A relation between vectors, read at row `row` (low .. high), and the dimensions that
    must agree for it to be defined (each a relation too: an instance where they differ fails)."""

    lhs: ast.expr
    rhs: ast.expr
    row: str
    low: ast.expr
    high: ast.expr
    dimensions: list[tuple[ast.expr, ast.expr]]


class _Rows:
    """Row r of an expression of layered vectors and matrices; its length or None (scalar)."""

    def __init__(self, taken: set[str]) -> None:
        self.taken = taken
        self.dimensions: list[tuple[ast.expr, ast.expr]] = []

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

    def agree(self, first: ast.expr, second: ast.expr) -> None:
        if not same(first, second):
            self.dimensions.append((first, second))

    def row(self, node: ast.expr, r: ast.expr) -> tuple[ast.expr, ast.expr | None]:
        """(row r of node, number of rows), or (node, None) for a scalar."""
        if not has_family(node):
            return node, None
        if _is_family(node):
            block = _block(node)
            if block.columns is not None:
                raise SchemeError(
                    f"the matrix {block.shown()} is read only in a product with a vector "
                    "(W^{[l]} A^{[l-1]})"
                )
            return block.entry(r), _count(block.rows)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            return self.product(node, r)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
            left, left_rows = self.row(node.left, r)
            right, right_rows = self.row(node.right, r)
            if left_rows is None or right_rows is None:
                raise SchemeError("a sum of a vector and a scalar")
            self.agree(left_rows, right_rows)
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
        if _is_family(node.left):
            block = _block(node.left)
            if block.columns is not None:
                j = ast.Name(self.fresh("j"), ast.Load())
                entry, length = self.row(node.right, j)
                if length is None:
                    raise SchemeError(f"the matrix {block.shown()} times a scalar is not read")
                columns = _count(block.columns)
                self.agree(columns, length)
                body = ast.BinOp(block.entry(r, j), ast.Mult(), entry)
                limits = ast.Tuple([j, ast.Constant(0), _minus(columns)], ast.Load())
                return _call("Sum", body, limits), _count(block.rows)
        left_row, left_rows = self.row(node.left, r)
        right_row, right_rows = self.row(node.right, r)
        if left_rows is not None and right_rows is not None:
            raise SchemeError("a product of two vectors: write the sum (or \\odot) explicitly")
        return ast.BinOp(left_row, ast.Mult(), right_row), left_rows or right_rows


def entrywise(lhs: ast.expr, rhs: ast.expr, taken: set[str], preferred: str) -> Entrywise:
    """The relation lhs = rhs between vectors, read at one row over the left side's rows."""
    rows = _Rows(set(taken))
    name = rows.fresh(preferred)
    r = ast.Name(name, ast.Load())
    left, left_rows = rows.row(lhs, r)
    right, right_rows = rows.row(rhs, r)
    if left_rows is None or right_rows is None:
        raise SchemeError("one side is a vector and the other a scalar")
    rows.agree(left_rows, right_rows)
    high = _minus(left_rows)
    return Entrywise(left, right, name, ast.Constant(0), high, rows.dimensions)
