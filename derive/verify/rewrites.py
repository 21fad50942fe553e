"""Candidate corrections of a wrong right side, written in the claim's own notation.

Input: the right side's AST and the file's `Declarations`. Output: copies of the AST with one
common mistake undone: a transpose added or removed on one operand of `@` (or `outer`'s factors
swapped), an activation's derivative multiplied in (`* sigmoid'(z1)` for `a1 = sigmoid(z1)`),
or a defined quantity replaced by one it was made from (`W2` for `W2new = W2 - eta * ...`, the
weights before the update). `entrywise` keeps the first candidate that holds everywhere.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from copy import deepcopy

from derive.verify.declarations import Declarations, _names
from derive.verify.tensors import ELEMENTWISE

__all__ = ["rewrites"]


def rewrites(tree: ast.expr, decl: Declarations) -> Iterator[ast.expr]:
    """Every candidate, transposes first."""
    yield from _transposed(tree)
    yield from _with_derivative(tree, decl)
    yield from _earlier_quantity(tree, decl)


def _transposed(tree: ast.expr) -> Iterator[ast.expr]:
    for number, node in enumerate(ast.walk(tree)):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            for side in ("left", "right"):
                copy, target = _copy_at(tree, number)
                setattr(target, side, _toggle_transpose(getattr(target, side)))
                yield copy
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "outer":
            copy, target = _copy_at(tree, number)
            assert isinstance(target, ast.Call)
            target.args = target.args[::-1]
            yield copy


def _with_derivative(tree: ast.expr, decl: Declarations) -> Iterator[ast.expr]:
    """tree * f'(u) for each definition a = f(u) of an elementwise f."""
    for _, expr in reversed(decl.definitions):
        call = expr.tree
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
            continue
        name, args = call.func.id, call.args
        if name in ELEMENTWISE and name != "identity" and len(args) == 1:
            slope = ast.Call(ast.Name(f"{name}__prime", ast.Load()), [deepcopy(args[0])], [])
            yield ast.BinOp(deepcopy(tree), ast.Mult(), slope)


def _earlier_quantity(tree: ast.expr, decl: Declarations) -> Iterator[ast.expr]:
    """tree with one defined name replaced by a name its definition uses."""
    definitions = dict(decl.definitions)
    for number, node in enumerate(ast.walk(tree)):
        if not isinstance(node, ast.Name) or node.id not in definitions:
            continue
        made_from = definitions[node.id].tree
        assert made_from is not None
        for name in dict.fromkeys(_names(made_from)):
            if name in definitions or (decl.symbols.get(name, None) and decl.symbols[name].shape):
                copy, target = _copy_at(tree, number)
                assert isinstance(target, ast.Name)
                target.id = name
                yield copy


def _copy_at(tree: ast.expr, number: int) -> tuple[ast.expr, ast.AST]:
    copy = deepcopy(tree)
    return copy, list(ast.walk(copy))[number]


def _toggle_transpose(node: ast.expr) -> ast.expr:
    if isinstance(node, ast.Attribute) and node.attr == "T":
        return node.value
    return ast.Attribute(value=node, attr="T", ctx=ast.Load())
