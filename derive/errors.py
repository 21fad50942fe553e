"""The one exception type for bad input: the CLI prints its message and exits 2."""

from __future__ import annotations

from pathlib import Path


class DeriveError(Exception):
    """Bad user input (a spec, a claims file, a flag): one clear message, no traceback."""


def escape(text: str) -> str:
    """text with every unprintable character (newline, escape, ...) written as its escape."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def plain(text: str) -> str:
    """text, or its repr when it holds a newline, an escape or another unprintable character."""
    return text if text.isprintable() else repr(text)


def input_error(source: str | Path, key: str, expected: str, found: object) -> DeriveError:
    """An error naming the file, the key, what was expected and what was found.

    The message is one plain line whatever the input holds: no file name, key or value can
    split it or forge a second message.
    """
    shown = plain(found) if isinstance(found, str) else repr(found)
    if len(shown) > 120:
        shown = shown[:117] + "..."
    where = f"{plain(str(source))}: {plain(key)}" if key else plain(str(source))
    return DeriveError(f"{where}: expected {expected}, found {shown}")
