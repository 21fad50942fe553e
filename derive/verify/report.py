"""`derive verify`: verification results as a text table, JSON or Markdown.

A claim whose id ends in `.N` is line N of a multi-line equation; the report adds the
equation itself (`eq13` for `eq13.1`, `eq13.2`, ...), whose verdict is the worst of its lines.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import shutil
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from derive.activations import KINK_CONVENTION
from derive.errors import escape
from derive.verify.budget import TOTAL_TIMEOUT, check_bounded
from derive.verify.checker import Result
from derive.verify.claims import bundled_path, load

__all__ = ["entries", "render", "run_verify"]

_RANK = {"holds": 0, "conditional": 1, "unproven": 2, "undecided": 3, "fails": 4}
_LINE = re.compile(r"^(?P<equation>.+)\.(?P<line>\d+)$")
MAX_SHOWN = 1000  # characters of a corrected form (or a reason) in the text and Markdown reports


def run_verify(
    files: Sequence[Path], fmt: str, timeout: float | None = None, total: float | None = None
) -> int:
    """Check every claim of the files (none: the bundled notes), print, return the exit code.

    Each claim runs in a worker process within its time limit (`timeout` seconds, else the
    claim's own `timeout`, else 30 s) and a 2 GiB memory limit, and the whole run within
    `total` seconds (else 300): see derive.verify.budget.
    """
    paths = list(files) or [bundled_path()]
    loaded = [load(path) for path in paths]  # every input error before any output
    results = check_bounded(loaded, timeout, total=TOTAL_TIMEOUT if total is None else total)
    if isinstance(sys.stdout, io.TextIOWrapper):  # an ASCII terminal gets \u2248, not an error
        sys.stdout.reconfigure(errors="backslashreplace")
    print(render(entries(results), fmt, [str(p) for p in paths]), end="")
    return 0 if all(r.verdict == "holds" for r in results) else 1


def entries(results: list[Result]) -> list[Result]:
    """The results with each multi-line equation's own entry before its lines."""
    lines: dict[str, list[Result]] = {}
    for result in results:
        match = _LINE.match(result.id)
        if match:
            lines.setdefault(match["equation"], []).append(result)
    ids = {result.id for result in results}
    equations = {eq for eq, found in lines.items() if len(found) > 1 and eq not in ids}
    listed, done = [], set()
    for result in results:
        match = _LINE.match(result.id)
        if match and match["equation"] in equations and match["equation"] not in done:
            done.add(match["equation"])
            listed.append(_equation(match["equation"], lines[match["equation"]]))
        listed.append(result)
    return listed


def _equation(eq_id: str, lines: list[Result]) -> Result:
    worst = max(lines, key=lambda r: _RANK[r.verdict])
    tag = f"{worst.id}: "
    return Result(
        id=eq_id,
        verdict=worst.verdict,
        statement=f"worst of its lines {', '.join(r.id for r in lines)}",
        source=re.sub(r", line \d+$", "", lines[0].source),
        latex=_gathered([r.latex for r in lines if r.latex]),
        counterexample=None
        if worst.counterexample is None
        else {"line": worst.id} | worst.counterexample,
        condition=None if worst.condition is None else tag + worst.condition,
        corrected=None if worst.corrected is None else tag + worst.corrected,
        tried=None if worst.tried is None else tag + worst.tried,
    )


def _gathered(lines: list[str]) -> str:
    if len(lines) < 2:
        return "".join(lines)
    return "\\begin{gathered}" + " \\\\ ".join(lines) + "\\end{gathered}"


def render(listed: list[Result], fmt: str, files: list[str]) -> str:
    """The report in one of the formats: text, json, markdown."""
    if fmt == "json":  # JSON escapes control characters itself
        return _json(listed, files)
    files = [escape(name) for name in files]
    if fmt == "markdown":
        return _markdown([_escaped(result, False) for result in listed], files)
    return _text([_escaped(result, True) for result in listed])


def _escaped(result: Result, caret_lines: bool) -> Result:
    """The result with text that came from a file escaped: it cannot add rows or escapes.

    With `caret_lines`, a LaTeX refusal (fails, no counterexample) keeps its three lines
    (message, the line of text, the caret), each escaped: the text report indents them under
    the claim's row, so they cannot start a row of their own.
    """
    example = result.counterexample
    if example is not None:
        example = {key: _escape_any(value) for key, value in example.items()}
    texts = {
        name: escape(value)
        for name in ("id", "statement", "source", "latex", "corrected", "tried", "same_as")
        if isinstance(value := getattr(result, name), str)
    }
    for name in ("corrected", "tried"):  # a report stays readable: json has it all
        if name in texts:
            texts[name] = _cut(texts[name])
    if result.condition is not None:
        refusal = result.verdict == "fails" and example is None  # a LaTeX error: text and caret
        lines = result.condition.split("\n") if caret_lines and refusal else [result.condition]
        # only the message is cut: the line of text and its caret are short (LatexError.show)
        texts["condition"] = "\n".join([_cut(escape(lines[0]))] + [escape(x) for x in lines[1:]])
    return dataclasses.replace(result, counterexample=example, **texts)  # type: ignore[arg-type]


def _cut(text: str) -> str:
    if len(text) <= MAX_SHOWN:
        return text
    return f"{text[:MAX_SHOWN]}... ({len(text)} characters; --format json has all)"


def _escape_any(value: object) -> object:
    if isinstance(value, dict):
        return {escape(str(k)): _escape_any(v) for k, v in value.items()}
    return escape(value) if isinstance(value, str) else value


def _summary(listed: list[Result], files: list[str]) -> dict[str, object]:
    counts = {verdict: sum(r.verdict == verdict for r in listed) for verdict in _RANK}
    return {"total": len(listed), **counts, "files": files, "convention": KINK_CONVENTION}


def _summary_line(listed: list[Result]) -> str:
    counts = _summary(listed, [])
    total = counts["total"]
    shown = ", ".join(f"{counts[verdict]} {verdict}" for verdict in _RANK)
    return f"{total} claim{'' if total == 1 else 's'}: {shown}. Convention: {KINK_CONVENTION}.\n"


def _json(listed: list[Result], files: list[str]) -> str:
    claims = [
        {
            "id": r.id,
            "verdict": r.verdict,
            "statement": r.statement,
            "source": r.source,
            "counterexample": r.counterexample,
            "condition": r.condition,
            "corrected": r.corrected,
            "tried": r.tried,
            "same_as": r.same_as,
        }
        for r in listed
    ]
    payload = {"claims": claims, "summary": _summary(listed, files)}
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


def reason(result: Result) -> str:
    """One line on why: the counterexample, the condition, or the convention checked under.

    A claim that reuses an earlier one's verdict says so first.
    """
    why = _why(result)
    if result.same_as is None:
        return why
    return f"same claim as {result.same_as} (decided once)" + (f": {why}" if why else "")


def _why(result: Result) -> str:
    example = result.counterexample
    if result.verdict in ("unproven", "undecided"):
        return result.tried or ""
    if result.verdict == "conditional":
        return f"holds only if {result.condition}"
    if example is None:
        return result.condition or ""
    where = f"{example['line']}, " if "line" in example else ""
    where += f"{example['at']}: " if example.get("at") else ""
    if "missing" in example:
        return f"{where}{example['missing']}"
    point = ", ".join(f"{k}={v}" for k, v in example["point"].items())  # type: ignore[attr-defined]
    where += f"at {point}: " if point else ""
    return f"{where}stated {example['stated']}, true {example['true']}"


def _text(listed: list[Result]) -> str:
    column = max([10, *(len(r.id) + 1 for r in listed)])
    width = max(60, shutil.get_terminal_size((120, 20)).columns - column - 14)
    rows = [f"{'id':<{column}} {'verdict':<12} why"]
    for result in listed:
        why, *shown = reason(result).split("\n")  # a LaTeX error: its text and a caret follow
        lines = _wrap(why, width) or [""]
        lines += shown
        if result.corrected is not None:
            lines += _wrap(f"corrected: {result.corrected}", width)
        rows.append(f"{result.id:<{column}} {result.verdict:<12} {lines[0]}".rstrip())
        rows += [" " * (column + 14) + line for line in lines[1:]]
    return "\n".join(rows) + "\n" + _summary_line(listed)


def _wrap(text: str, width: int) -> list[str]:
    """Lines of at most `width`, never broken inside brackets (`W1[1, 0]` stays whole)."""
    kept = re.sub(r"\[[^\[\]]*\]", lambda m: m[0].replace(" ", "\0"), text)
    return [line.replace("\0", " ") for line in textwrap.wrap(kept, width)]


def _markdown(listed: list[Result], files: list[str]) -> str:
    out = [f"# derive verify: {', '.join(Path(f).name for f in files)}", ""]
    for result in listed:
        out += [f"## `{result.id}`: {result.verdict}", ""]
        if result.source:
            out += [f"Source: {result.source}", ""]
        if result.latex:
            out += ["```math", result.latex, "```", ""]
        elif result.statement:
            out += [f"Statement: `{result.statement}`", ""]
        if result.same_as is not None:
            out += [f"- Same claim as `{result.same_as}`: its verdict, decided once"]
        if result.counterexample is not None:
            out += [f"- Counterexample: {reason(_as_fails(result))}"]
        if result.condition is not None:
            label = "Holds only if" if result.verdict == "conditional" else "Note"
            out += [f"- {label}: {result.condition}"]
        if result.corrected is not None:
            out += [f"- Corrected (from SymPy): `{result.corrected}`"]
        if result.tried is not None:
            label = "Not decided" if result.verdict == "undecided" else "Tried"
            out += [f"- {label}: {result.tried}"]
        out += [""]
    out += [f"**Summary:** {_summary_line(listed)}"]
    return "\n".join(out)


def _as_fails(result: Result) -> Result:
    return Result(result.id, "fails", "", "", "", result.counterexample)
