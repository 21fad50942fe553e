"""LaTeX in a file with `[symbols]`: which products are matrix products.

LaTeX writes a matrix product and a scalar product the same way (`W x`, `W \\cdot x`,
`2 \\cdot x`). In a file with `[symbols]` the shapes are declared, so the front end reads the
tensor language: a product of two operands that both have components is `@` (a vector times a
transposed vector, `\\delta a^T`, is `outer`), any other product `*`; `\\odot` and `\\circ` are
always elementwise `*`; `^T`, `^\\top` are `.T`; `\\frac{\\partial C}{\\partial W}` is
`grad(C, W)` (`jacobian` for a vector); `\\sigma'(z)` is `sigmoid'(z)`. The rank (0 scalar, 1
vector, 2 matrix) of every operand is known from the declarations, or the product is refused.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from derive.verify.tensors import ELEMENTWISE

if TYPE_CHECKING:
    from derive.verify.declarations import Declarations

__all__ = ["rank", "ranks"]

# Functions whose value has their first argument's rank: the tensor layer's elementwise ones
# and these.
_SAME = set(ELEMENTWISE) | {"softmax", "log_softmax", "indicator", "Heaviside", "gelu", "silu"}
_SAME |= {"KroneckerDelta"}


def ranks(declarations: Declarations) -> dict[str, int]:
    """The rank of every declared and defined name of a file with [symbols]."""
    known: dict[str, int] = {}
    for name, declared in declarations.symbols.items():
        known[name] = 0 if declared.finite and declared.domain != "one_hot" else len(declared.shape)
    for name, expr in declarations.definitions:
        found = rank(expr.tree, known) if expr.tree is not None else None
        if found is not None:
            known[name] = found
    return known


def rank(tree: ast.expr, known: dict[str, int]) -> int | None:
    """0 scalar, 1 vector, 2 matrix, or None when the tree does not say."""
    if isinstance(tree, ast.Constant):
        return 0
    if isinstance(tree, ast.Name):
        return 0 if tree.id == "pi" else known.get(tree.id)
    if isinstance(tree, ast.UnaryOp):
        return rank(tree.operand, known)
    if isinstance(tree, ast.Attribute):  # .T
        return rank(tree.value, known)
    if isinstance(tree, ast.BinOp):
        left, right = rank(tree.left, known), rank(tree.right, known)
        if left is None or right is None:
            return None
        if isinstance(tree.op, ast.MatMult):
            return {(2, 1): 1, (1, 2): 1, (2, 2): 2, (1, 1): 0}.get((left, right))
        return max(left, right)
    if isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name):
        return _call_rank(tree.func.id, tree.args, known)
    return None


def _call_rank(name: str, args: list[ast.expr], known: dict[str, int]) -> int | None:
    inner = [rank(arg, known) for arg in args]
    base = name.removesuffix("__prime")
    if base in _SAME and inner:
        return inner[0]
    if name in ("sum", "mean"):
        return 0 if len(args) == 1 else (None if inner[0] is None else inner[0] - 1)
    if name == "grad" and len(args) == 2:
        return inner[1]
    if name == "jacobian" and len(args) == 2 and None not in inner:
        return sum(r for r in inner if r is not None)
    if name in ("outer", "eye"):
        return 2
    if name == "ones":
        return len(args)
    if name == "diag" and inner:
        return None if inner[0] is None else 3 - inner[0]
    if name in ("Max", "Min") and None not in inner:
        return max(r for r in inner if r is not None)
    return None
