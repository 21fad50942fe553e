"""Loading: a generated module imported from its file, or rendered and run in memory."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from derive.codegen.memory import check_memory
from derive.codegen.naming import GENERATED
from derive.codegen.render import render_module
from derive.errors import DeriveError
from derive.spec import Spec


def build_module(spec: Spec) -> ModuleType:
    """The module of `spec` rendered and imported in memory, writing nothing."""
    check_memory(spec, f"spec {spec.name}")
    module = ModuleType(spec.name)
    code = compile(render_module(spec), f"<derive: module of spec {spec.name}>", "exec")
    exec(code, vars(module))  # our own generated text, from a validated spec
    return module


def load_module(spec: Spec | str, folder: Path | None = None) -> ModuleType:
    """Import the generated module of `spec` (or a module name) from `folder` (./generated/)."""
    name = spec if isinstance(spec, str) else spec.name
    path = ((GENERATED if folder is None else folder) / f"{name}.py").absolute()
    module_spec = importlib.util.spec_from_file_location(f"generated.{name}", path)
    if module_spec is None or module_spec.loader is None or not path.is_file():
        raise DeriveError(f"{path}: expected a generated module, found none (run derive generate)")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module
