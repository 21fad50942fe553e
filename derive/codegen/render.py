"""Render: a context through `templates/model.py.j2` (StrictUndefined); same spec, same bytes.

The templates are the package `derive.templates` (the checkout's top-level templates/,
mapped there by pyproject.toml and shipped in the wheel), loaded as package resources, and
one made from derive's own source: "derive.machine", the functions of derive/machine.py that
every module's memory check calls (machine.EMBEDDED), so they are written once.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from dataclasses import asdict
from functools import cache
from pathlib import Path

import jinja2

from derive import __version__, machine
from derive.codegen.context import ModuleContext, context
from derive.codegen.naming import ENTRY_TEMPLATE, INIT_TEMPLATE, MARKER
from derive.spec import Spec


def _templates_of_a_checkout() -> None:
    """Make the checkout's templates/ the package derive.templates when derive runs from a
    checkout that is not installed (`PYTHONPATH=. python -m derive generate`).

    An install, plain or editable, ships templates/ as derive.templates (pyproject's
    package-dir); a bare checkout has it beside derive/, not in it. Nothing changes where
    derive.templates is found, and nothing is looked up before templates are needed.
    """
    folder = Path(__file__).resolve().parent.parent.parent / "templates"
    if not (folder / "model.py.j2").is_file() or importlib.util.find_spec("derive.templates"):
        return
    spec = importlib.util.spec_from_file_location(
        "derive.templates", folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    assert spec is not None and spec.loader is not None, folder
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)


def _machine_source() -> str:
    """The template "derive.machine": derive/machine.py's EMBEDDED functions, their source as
    it is there, under a comment that says where they come from."""
    functions = "\n\n".join(inspect.getsource(function) for function in machine.EMBEDDED)
    return (
        "\n\n# From derive/machine.py, copied in at generation: derive generate refuses a spec\n"
        "# by the same limit.\n" + functions
    )


@cache  # one environment: each template is compiled once, not once per module rendered
def environment() -> jinja2.Environment:
    """The Jinja environment of the templates."""
    _templates_of_a_checkout()
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.PackageLoader("derive.templates", "."),
                jinja2.DictLoader({"derive.machine": _machine_source()}),
            ]
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render(ctx: ModuleContext, template: str = ENTRY_TEMPLATE) -> str:
    """Render a context through its template."""
    return environment().get_template(template).render(**asdict(ctx))


def render_module(spec: Spec) -> str:
    """The source text of the generated module for `spec`."""
    return render(context(spec))


def render_package_init(names: list[str]) -> str:
    """generated/__init__.py: the banner and the sorted list of generated modules."""
    text = (
        environment()
        .get_template(INIT_TEMPLATE)
        .render(marker=MARKER, version=__version__, modules=sorted(names))
    )
    return str(text)
