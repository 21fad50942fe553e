"""The notation of the notes as SymPy symbols: z (weighted input), a (output), t (target).

Elementwise functions are written in the scalar `x`; their outputs are named `y`.
All symbols are real, as every quantity in the notes is.
"""

from __future__ import annotations

import sympy as sp

x = sp.Symbol("x", real=True)  # the argument of an elementwise function (a pre-activation z)
y = sp.Symbol("y", real=True)  # the value of an elementwise function (an activation a)
t = sp.Symbol("t", real=True)  # a target value
z = sp.Symbol("z", real=True)
a = sp.Symbol("a", real=True)
n = sp.Symbol("n", positive=True, integer=True)  # the number of outputs
p = sp.Symbol("p", positive=True)  # a positive number, for region-by-region proofs


def vector(name: str, size: int) -> list[sp.Symbol]:
    """Real symbols name_0 ... name_{size-1}, indexed from 0 as in the notes."""
    return [sp.Symbol(f"{name}_{i}", real=True) for i in range(size)]


def matrix(name: str, rows: int, cols: int) -> sp.Matrix:
    """A rows x cols matrix of real symbols name_i_j."""
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{i}_{j}", real=True))
