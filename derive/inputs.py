"""Reading an input file safely: a regular file of bounded size, UTF-8 TOML, one clear error.

A FIFO or a device (`/dev/zero`) would block or never end, so only regular files are
opened, and only up to a size cap (`check_file`, also for `derive train --data`); TOML that
Python refuses to read (an integer of more than 4300 digits, arrays nested past the recursion
limit) is one error like any other.
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from derive.errors import DeriveError, input_error, plain

__all__ = ["MAX_FILE_BYTES", "check_file", "parse_toml", "read_bytes", "read_toml"]

MAX_FILE_BYTES = 1 << 20  # 1 MiB: far above any hand-written claims file


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """The TOML table of a regular file of at most MAX_FILE_BYTES; DeriveError otherwise."""
    return parse_toml(read_bytes(path, what), str(path))


def check_file(path: Path, what: str, limit: int = MAX_FILE_BYTES, key: str = "") -> None:
    """Without opening it, that `path` is a regular file of at most `limit` bytes; else a
    DeriveError naming the file (and `key`, the flag or key that named it), what was
    expected (a readable `what`) and what was found."""
    try:
        info = os.stat(path)
    except FileNotFoundError:  # as a spec file says it (spec.load)
        raise input_error(path, key, f"an existing {what}", "no such file") from None
    except OSError as exc:
        raise input_error(path, key, f"a readable {what}", exc.strerror or str(exc)) from None
    if stat.S_ISDIR(info.st_mode):
        raise input_error(path, key, f"a {what}", "a folder")
    if not stat.S_ISREG(info.st_mode):  # never opened: a FIFO blocks, a device never ends
        raise input_error(path, key, f"a regular {what}", "a device, pipe or socket")
    if info.st_size > limit:
        found = f"{info.st_size} bytes"
        raise input_error(path, key, f"a {what} of at most {limit} bytes", found)


def read_bytes(path: Path, what: str) -> bytes:
    """The bytes of a regular file of at most MAX_FILE_BYTES; DeriveError otherwise."""
    check_file(path, what)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise input_error(path, "", f"a readable {what}", exc.strerror or str(exc)) from None
    if len(raw) > MAX_FILE_BYTES:
        raise input_error(path, "", f"a {what} of at most {MAX_FILE_BYTES} bytes", "more")
    return raw


def parse_toml(raw: bytes | str, source: str) -> dict[str, Any]:
    """The TOML table of text (or UTF-8 bytes); one DeriveError naming `source` otherwise."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            found = f"byte 0x{raw[exc.start]:02x} at offset {exc.start}"
            raise input_error(source, "", "UTF-8 text", found) from None
    try:
        return tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        reason = str(exc)
    except ValueError:  # Python refuses to read an integer of more than 4300 digits
        reason = "an integer too long to read"
    except RecursionError:
        reason = "arrays or tables nested too deeply"
    raise DeriveError(f"{plain(source)}: not valid TOML: {reason}")
