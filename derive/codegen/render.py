"""Render: a context through `templates/model.py.j2` (StrictUndefined); same spec, same bytes.

The templates are the package `derive.templates` (the checkout's top-level templates/,
mapped there by pyproject.toml and shipped in the wheel), loaded as package resources.
"""

from __future__ import annotations

from dataclasses import asdict

import jinja2

from derive import __version__
from derive.codegen.context import ModuleContext, context
from derive.codegen.naming import ENTRY_TEMPLATE, INIT_TEMPLATE, MARKER
from derive.spec import Spec


def environment() -> jinja2.Environment:
    """The Jinja environment of the templates."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("derive.templates", "."),
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
