"""The generator package's layout: one module per stage, no import cycle, old names kept."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import derive

PACKAGE = Path(derive.__file__).parent
# The stages in pipeline order: a stage imports only stages before it.
STAGES = [
    "naming",
    "printing",
    "ir",
    "lower",
    "outputs",
    "readable",
    "blas",
    "fast",
    "memory",
    "context",
    "render",
    "write",
    "load",
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(path: Path) -> set[str]:
    """The derive modules `path` imports when it is loaded (not inside functions)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("derive"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("derive"))
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: _top_level_imports(path) & set(modules) for name, path in modules.items()}


def test_no_derive_module_imports_itself_back() -> None:
    graph = _graph()
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            cycle = [*trail[trail.index(name) :], name]
            pytest.fail(f"import cycle: {' -> '.join(cycle)}")
        if name in done:
            return
        for other in sorted(graph[name] - {"derive"}):
            if other != name:
                visit(other, [*trail, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])


def test_each_stage_imports_only_earlier_stages() -> None:
    graph = _graph()
    assert {path.stem for path in (PACKAGE / "codegen").glob("*.py")} == {*STAGES, "__init__"}
    for index, stage in enumerate(STAGES):
        later = {f"derive.codegen.{name}" for name in STAGES[index:]}
        assert not graph[f"derive.codegen.{stage}"] & later, stage


def test_the_package_imports_in_a_fresh_interpreter() -> None:
    """Nothing loaded before it (the package's __init__ loads every stage, in order)."""
    code = "import derive.codegen, derive.cli; derive.cli.main"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr


def test_the_old_public_names_still_import() -> None:
    from derive.codegen import (  # noqa: F401  (the names README, bench and tests use)
        GENERATED,
        MARKER,
        SPECS,
        ModuleContext,
        build_module,
        check_memory,
        context,
        load_module,
        machine_memory,
        memory_estimate,
        products,
        render,
        render_module,
        run_generate,
        thread_batches,
        threads,
        write_atomic,
    )

    assert callable(threads) and callable(run_generate)
