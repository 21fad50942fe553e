"""derive: verify hand-written backpropagation with SymPy, then generate NumPy training code.

Three layers, one way: the symbolic layer (`activations`, `losses`, `backprop`,
`optimizers`) defines every function once and obtains every derivative from `sympy.diff`;
the checker (the `verify` package: claims, checker, report) judges hand derivations against
it; the generator (`spec`, then the `codegen` package) prints the same expressions into
NumPy modules, which the `training` package trains, plots and compares.
"""

__version__ = "0.1.0"
