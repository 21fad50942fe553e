"""The one exception type for bad input: the CLI prints its message and exits 2."""

from __future__ import annotations

from pathlib import Path


class DeriveError(Exception):
    """Bad user input (a spec, a claims file, a flag): one clear message, no traceback."""


def input_error(source: str | Path, key: str, expected: str, found: object) -> DeriveError:
    """An error naming the file, the key, what was expected and what was found."""
    shown = found if isinstance(found, str) else repr(found)
    if len(shown) > 120:
        shown = shown[:117] + "..."
    where = f"{source}: {key}" if key else str(source)
    return DeriveError(f"{where}: expected {expected}, found {shown}")
