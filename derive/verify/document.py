"""`derive verify notes.md`: the display equations of a Markdown or LaTeX document as claims.

Every display (`$$ ... $$`, `\\[ ... \\]`, `equation`, `align`, `gather`, `multline`, starred or
not) holding a relation becomes a claim given by its LaTeX, with id `line<N>` (the line the
display starts on); displays without `=`, `<` or `>` (a goal, a definition's name alone) are
not claims. One fenced block tagged `derive` holds, in TOML, what the claims file's tables
would: `title`, `[latex]`, `[network]`, and `[equations]`, keys given to every claim
(`indices`, `sizes`, `kind`, `layers`, `domain`). Code blocks are skipped.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from derive.errors import input_error
from derive.inputs import parse_toml, read_bytes

__all__ = ["DOCUMENT_SUFFIXES", "claims_data", "read_document"]

DOCUMENT_SUFFIXES = (".md", ".markdown", ".tex")
_FENCE = re.compile(r"^(```|~~~)[ \t]*(?P<info>[^\n]*)\n(?P<body>.*?)^\1[ \t]*$", re.M | re.S)
_ENVIRONMENT = r"equation\*?|align\*?|gather\*?|multline\*?|eqnarray\*?"
_DISPLAY = re.compile(
    r"\$\$(?P<dollars>.+?)\$\$|\\\[(?P<brackets>.+?)\\\]"
    rf"|\\begin\{{(?P<env>{_ENVIRONMENT})\}}(?P<body>.+?)\\end\{{(?P=env)\}}",
    re.S,
)
_OPENING = re.compile(rf"\$\$|\\begin\{{(?:{_ENVIRONMENT})\}}")  # a display's start
_RELATION = re.compile(r"=|<|>|\\(?:le|ge|leq|geq|neq|ne)(?![A-Za-z])")
_BLOCK_KEYS = {"title", "latex", "network", "equations"}
_EQUATION_KEYS = {"indices", "sizes", "kind", "layers", "domain", "latex_names"}


def read_document(path: Path) -> dict[str, Any]:
    """The claims-file data of a document on disk (a regular, bounded, UTF-8 file)."""
    raw = read_bytes(path, "document")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise input_error(path, "", "UTF-8 text", f"a bad byte at offset {exc.start}") from None
    return claims_data(path, text)


def claims_data(path: Path, text: str) -> dict[str, Any]:
    """The data of a claims file (as TOML would give it) for the displays of a document."""
    block, body = _settings(path, text)
    each = block.get("equations", {})
    if not isinstance(each, dict) or set(each) - _EQUATION_KEYS:
        keys = ", ".join(sorted(_EQUATION_KEYS))
        raise input_error(path, "```derive block: equations", f"a table of {keys}", each)
    claims, seen = [], set()
    for match in _DISPLAY.finditer(body):
        latex = next(g for g in (match["dollars"], match["brackets"], match["body"]) if g)
        if not _RELATION.search(latex):
            continue
        line = body.count("\n", 0, match.start()) + 1
        cid = f"line{line}"
        while cid in seen:
            cid += "b"
        seen.add(cid)
        source = f"{path.name}, line {line}"
        claims.append({"id": cid, "latex": latex.strip(), "source": source, **each})
    _refuse_unclosed(path, _DISPLAY.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), body))
    if not claims:
        raise input_error(path, "", "display equations ($$ ... $$, \\[ \\], align, ...)", "none")
    data = {key: block[key] for key in ("title", "latex", "network") if key in block}
    return data | {"claim": claims}


def _refuse_unclosed(path: Path, rest: str) -> None:
    """A display opened and never closed would be dropped silently: name its line."""
    opening = _OPENING.search(rest)
    if opening is not None:
        line = rest.count("\n", 0, opening.start()) + 1
        raise input_error(
            path, f"line {line}", "a display closed where it ends", f"{opening[0]} never closed"
        )


def _settings(path: Path, text: str) -> tuple[dict[str, Any], str]:
    """The ```derive block's tables, and the text with every code block blanked out."""
    blocks = [m for m in _FENCE.finditer(text) if m["info"].strip() == "derive"]
    if len(blocks) > 1:
        raise input_error(path, "```derive block", "at most one", f"{len(blocks)} blocks")
    settings: dict[str, Any] = {}
    if blocks:
        settings = parse_toml(blocks[0]["body"], f"{path}: ```derive block")
        unknown = set(settings) - _BLOCK_KEYS
        if unknown:
            keys = ", ".join(sorted(_BLOCK_KEYS))
            raise input_error(path, f"```derive block: {sorted(unknown)[0]}", keys, "?")
    blank = _FENCE.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)  # lines kept
    return settings, blank
