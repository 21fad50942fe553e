"""Write and check: atomic writes into ./generated/ (or `out`), or with `check` a diff.

Every target is checked before the first write (a file that is not a derive-generated
module is never overwritten without `force`, a directory never); nothing is deleted but
with `prune`; `check` writes nothing and prints a unified diff.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import shlex
import sys
import tempfile
from pathlib import Path

from derive.codegen.memory import check_memory
from derive.codegen.naming import GENERATED, MARKER, SPECS
from derive.codegen.render import render_module, render_package_init
from derive.errors import DeriveError, input_error, plain
from derive.spec import load as load_spec

# --- writing ------------------------------------------------------------------------------


def _is_generated(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(len(MARKER)).decode("utf-8", "replace") == MARKER
    except OSError:
        return False


def write_atomic(path: Path, text: str) -> None:
    """Write text to path via a temporary file in the same folder and a rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())  # the text is on disk before the name points at it
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _plan(specs: list[Path], out: Path, all_specs: bool) -> dict[Path, str]:
    """Every module to write and its text; validates every spec before anything is written."""
    paths = list(specs)
    if all_specs:
        if not SPECS.is_dir():
            raise input_error(SPECS, "", "a folder of spec files", "no such folder")
        paths += sorted(SPECS.glob("*.toml"))
    if not paths:
        raise DeriveError("generate: expected SPEC files or --all, found neither")
    planned: dict[Path, str] = {}
    sources: dict[str, Path] = {}
    for path in paths:
        spec = load_spec(path)
        if spec.name in sources and sources[spec.name] != path:
            raise input_error(
                path,
                "name",
                "a name no other spec uses",
                f"{spec.name!r}, also in {sources[spec.name]}",
            )
        check_memory(spec, path)
        sources[spec.name] = path
        planned[out / f"{spec.name}.py"] = render_module(spec)
    return planned


def _made_by_derive(out: Path) -> list[Path]:
    """The modules in `out` whose header says derive made them (not the package's __init__)."""
    if not out.is_dir():
        return []
    found = (p for p in out.glob("*.py") if p.name != "__init__.py" and _is_generated(p))
    return sorted(found)


def _check_targets(planned: dict[Path, str], force: bool) -> None:
    """Refuse before the first write: a directory or special file in the way of any target
    (even with --force), or a file derive did not make (without --force)."""
    for path in planned:
        if not (path.exists() or path.is_symlink()):
            continue
        if path.is_dir():
            raise input_error(path, "", "a file path to write a module to", "a directory")
        if not path.is_file():
            raise input_error(path, "", "a file path to write a module to", "a special file")
        if not force and not _is_generated(path):
            raise input_error(path, "", "a derive-generated module (or --force)", "another file")


def _fix_command(specs: list[Path], out: Path | None, all_specs: bool, prune: bool) -> str:
    """The `derive generate` command that brings these modules up to date."""
    words = ["derive", "generate", *map(str, specs)]
    words += ["--all"] * all_specs + ["--prune"] * prune
    words += ["--out", str(out)] if out is not None else []
    return shlex.join(words)


def run_generate(
    specs: list[Path],
    out: Path | None,
    all_specs: bool,
    check: bool,
    force: bool,
    prune: bool = False,
) -> int:
    """`derive generate`: write (or, with check, compare) one module per spec.

    With `all_specs`, a derive-made module in the folder whose spec is gone is reported, and
    removed only with `prune`. The folder's `__init__.py` lists the derive-made modules in it:
    written with `all_specs`, and in the default ./generated/ when missing or derive's own.
    """
    if prune and not all_specs:
        raise DeriveError(
            "generate: --prune removes modules no spec in generated/specs/ makes; it needs --all"
        )
    folder = GENERATED if out is None else out
    planned = _plan(specs, folder, all_specs)
    existing = _made_by_derive(folder)
    stale = [path for path in existing if path not in planned] if all_specs else []
    removed = stale if prune else []
    init = folder / "__init__.py"
    if all_specs or (out is None and (not init.exists() or _is_generated(init))):
        kept = [path.stem for path in [*planned, *existing] if path not in removed]
        planned[init] = render_package_init(sorted(set(kept)))
    if check:
        return _check(planned, stale, _fix_command(specs, out, all_specs, bool(stale)))
    _check_targets(planned, force)
    try:
        if not folder.exists():  # ./generated/ or --out DIR, with its parents
            folder.mkdir(parents=True)
        if not folder.is_dir():
            raise input_error(folder, "--out", "a folder", "a file")
        if not os.access(folder, os.W_OK):
            raise input_error(folder, "--out", "a writable folder", "a read-only folder")
        for path, text in planned.items():
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                write_atomic(path, text)
        for path in removed:
            if _is_generated(path):  # still derive's, as it was when planned
                path.unlink()
    except OSError as exc:
        raise input_error(folder, "--out", "a writable folder", exc.strerror or str(exc)) from None
    print(
        f"generated {_files(len(planned))} in {folder}"
        + (f", removed {len(removed)} whose spec is gone" if removed else "")
    )
    if stale and not removed:
        names = ", ".join(plain(path.name) for path in stale)
        print(
            f"derive: kept {len(stale)} generated module(s) whose spec is gone: {names}"
            f" (`{_fix_command(specs, out, all_specs, True)}` removes them)",
            file=sys.stderr,
        )
    return 0


def _check(planned: dict[Path, str], stale: list[Path], fix: str) -> int:
    """`--check`: a unified diff per module that differs, a line per stale one; writes nothing."""
    diffs: list[str] = []
    for path, text in planned.items():
        old = path.read_text(encoding="utf-8") if path.is_file() else ""
        if old != text:
            diffs += difflib.unified_diff(
                old.splitlines(keepends=True),
                text.splitlines(keepends=True),
                f"{path} (committed)",
                f"{path} (generated now)",
            )
    diffs += [f"generated module whose spec is gone: {path}\n" for path in stale]
    if diffs:
        sys.stdout.writelines(diffs)
        print(f"derive: generated modules are out of date; run `{fix}`", file=sys.stderr)
        return 1
    print(f"{_files(len(planned), 'generated ')} up to date")
    return 0


def _files(count: int, kind: str = "") -> str:
    """`1 file`, `3 files` (with `kind`: `1 generated file`)."""
    return f"{count} {kind}file{'' if count == 1 else 's'}"
