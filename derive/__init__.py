"""derive: verify hand-written backpropagation with SymPy, then generate NumPy training code.

Three layers, one way: the symbolic layer (`activations`, `losses`, `backprop`,
`optimizers`) defines every function once and obtains every derivative from `sympy.diff`;
the checker (the `verify` package: claims, checker, report) judges hand derivations against
it; the generator (`spec`, then the `codegen` package) prints the same expressions into
NumPy modules, which the `training` package trains, plots and compares.
"""

import importlib.util
import sys
from pathlib import Path

__version__ = "0.1.0"


def _templates_of_a_checkout() -> None:
    """Make the checkout's templates/ the package derive.templates when derive runs from a
    checkout that is not installed (`PYTHONPATH=. python -m derive generate`).

    An install, plain or editable, ships templates/ as derive.templates (pyproject's
    package-dir); a bare checkout has it beside derive/, not in it, and codegen would not
    find it. Nothing changes where derive.templates is found.
    """
    folder = Path(__file__).resolve().parent.parent / "templates"
    if not (folder / "model.py.j2").is_file() or importlib.util.find_spec(f"{__name__}.templates"):
        return
    spec = importlib.util.spec_from_file_location(
        f"{__name__}.templates", folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    assert spec is not None and spec.loader is not None, folder
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)


_templates_of_a_checkout()
