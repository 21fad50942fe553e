"""The LaTeX corpus (tests/data/latex_corpus.toml) as claims files: shared by tests and bench."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parent / "data" / "latex_corpus.toml"


@dataclass(frozen=True)
class Entry:
    """One display of the corpus, the verdict of each of its relations, and its claims file."""

    id: str
    source: str
    latex: str
    verdicts: tuple[str, ...]
    claims_toml: str


def _toml(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"


def entries() -> list[Entry]:
    """Every display of the corpus; a display split over several ($$ = ... $$) joins as lines."""
    data = tomllib.loads(CORPUS.read_text(encoding="utf-8"))
    found = []
    for raw in data["equation"]:
        latex = raw["latex"] if isinstance(raw["latex"], str) else " \\\\ ".join(raw["latex"])
        lines = [f"latex = {_toml(raw['declare'])}"] if "declare" in raw else []
        lines += ["[[claim]]", f"id = {_toml(raw['id'])}", f"latex = {_toml(latex)}"]
        lines += [f"{key} = {_toml(raw[key])}" for key in ("indices", "sizes") if key in raw]
        found.append(
            Entry(raw["id"], raw["source"], latex, tuple(raw["verdicts"]), "\n".join(lines) + "\n")
        )
    return found
