"""Measure LaTeX parsers on the corpus: parse rate, right verdicts, time, hostile inputs.

    pip install -e '.[latex-bench]'      # lark and latex2sympy2_extended, measured against
    python bench/latex_parsers.py        # about 3 minutes on 2 cores

Three options, each on every relation of tests/data/latex_corpus.toml:
- sympy-lark: SymPy's lark LaTeX parser (Earley, ambiguity="explicit"), with the rewrite of
  \\frac{\\partial f}{\\partial x} that derive used before; extending it goes through its
  `grammar_file`/`transformer` hooks, which change what is read, not the Earley algorithm.
- latex2sympy2_extended (ANTLR). Read for safety (version 1.11.0): `parse_expr` is called only
  on the caller's `variable_values` (derive would pass none), `sympify` only on SymPy objects
  the tree already built (logic.py, sets.py), `getattr(sympy, name)` only with names from the
  grammar's closed token set; no eval/exec.
- derive: verify/latex.py, a tokenizer and recursive descent over it, into the claims language.

For the two outside parsers a display is cut into relations at its top-level `=` (aligned
lines joined) and each side parsed alone; their verdict is SymPy's on lhs - rhs (zero after
simplify: holds; a nonzero value at a random point: fails; otherwise undecided). They are given
none of the entry's declarations (what sigma, y or a_j stand for), which is part of what is
measured: derive's verdicts come from `derive verify` with the entry's [latex] table.
Hostile inputs run in a child process, stopped after HOSTILE_LIMIT seconds.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

HOSTILE_LIMIT = 30.0
HOSTILE = {  # name -> LaTeX of about 800 characters
    "sum": "x+" * 400 + "x",
    "product": "x " * 400,
    "parentheses": "(" * 200 + "x" + ")" * 200 + "+1" * 200,
    "fractions": r"\frac{" * 80 + "x" + "}{2}" * 80,
}


def split_relations(latex: str) -> list[tuple[str, str]]:
    """A display's relations `first = each`, cut at top-level `=` (for the outside parsers)."""
    text = re.sub(r"\\(begin|end)\{(aligned|align\*?|gather\*?)\}", " ", latex)
    text = text.replace("&", " ").replace("\\\\", " ")
    depth, parts, current = 0, [], ""
    for char in text:
        depth += {"{": 1, "}": -1, "(": 1, ")": -1}.get(char, 0)
        if char == "=" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    parts = [p.strip().rstrip(".,") for p in parts]
    return [(parts[0], rhs) for rhs in parts[1:]]


def sympy_verdict(lhs: object, rhs: object) -> str:
    """holds / fails / undecided for two SymPy expressions, by simplify and random points."""
    import sympy as sp

    try:
        diff = sp.sympify(lhs - rhs).doit()  # type: ignore[operator]
        if sp.simplify(diff) == 0:
            return "holds"
        rng = random.Random(0)
        for _ in range(3):
            point = {s: sp.Rational(rng.randint(-30, 30), 10) for s in diff.free_symbols}
            value = complex(diff.subs(point).evalf())
            if abs(value) > 1e-9:
                return "fails"
    except Exception:
        return "undecided"
    return "undecided"


def lark_parse(text: str) -> object:
    from sympy.parsing.latex import parse_latex

    return parse_latex(_partials_to_d(text), backend="lark")


def _partials_to_d(text: str) -> str:
    r"""derive's former rewrite: \frac{\partial f}{\partial x} -> \frac{d}{d x}(f) for lark."""
    part = r"\{\s*(\\partial|d)\s*([^{}]*)\}"
    pattern = re.compile(r"\\frac\s*" + part + r"\s*" + part)
    return pattern.sub(lambda m: rf"\frac{{d}}{{d {m[4]}}}({m[2]})" if m[2] else m[0], text)


def l2s_parse(text: str) -> object:
    from latex2sympy2_extended import latex2sympy

    return latex2sympy(text)


OUTSIDE = {"sympy-lark": lark_parse, "latex2sympy2_extended": l2s_parse}


def measure_outside(name: str) -> dict[str, float]:
    from latex_corpus import entries

    parse = OUTSIDE[name]
    parsed = right = total = 0
    start = time.perf_counter()
    for entry in entries():
        relations = split_relations(entry.latex)
        for (lhs, rhs), expected in zip(relations, entry.verdicts, strict=False):
            total += 1
            try:
                left, right_side = parse(lhs), parse(rhs)
            except Exception:
                continue
            parsed += 1
            right += sympy_verdict(left, right_side) == expected
        total += max(0, len(entry.verdicts) - len(relations))
    return {"relations": total, "parsed": parsed, "right": right, "seconds": _since(start)}


def measure_derive() -> dict[str, float]:
    import tempfile

    from latex_corpus import entries

    from derive.verify import checker, claims

    parsed = right = total = 0
    parse_seconds = 0.0
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for entry in entries():
            path = Path(tmp) / f"{entry.id}.toml"
            path.write_text(entry.claims_toml, encoding="utf-8")
            before = time.perf_counter()
            cfile = claims.load(path)
            parse_seconds += time.perf_counter() - before
            results = checker.check_file(cfile)
            total += len(entry.verdicts)
            read = [c for c in cfile.claims if not c.error]
            parsed += len(read) if len(read) == len(entry.verdicts) else 0
            got = tuple(r.verdict for r in results)
            right += sum(g == e for g, e in zip(got, entry.verdicts, strict=False))
    return {
        "relations": total,
        "parsed": parsed,
        "right": right,
        "seconds": _since(start),
        "parse_seconds": round(parse_seconds, 3),
    }


def _since(start: float) -> float:
    return round(time.perf_counter() - start, 2)


CHILD = """
import sys, time
sys.path.insert(0, {root!r})
sys.path.insert(0, {bench!r})
text = sys.stdin.read()
{setup}
start = time.perf_counter()
try:
    {call}
    outcome = "parsed"
except Exception as exc:
    outcome = "refused (" + type(exc).__name__ + ")"
print(outcome, round(time.perf_counter() - start, 3))
"""
CALLS = {  # parser -> (imports, not timed; the call, timed)
    "sympy-lark": ("import latex_parsers, sympy.parsing.latex", "latex_parsers.lark_parse(text)"),
    "latex2sympy2_extended": (
        "import latex_parsers, latex2sympy2_extended",
        "latex_parsers.l2s_parse(text)",
    ),
    "derive": ("from derive.verify import latex", "latex.parse_side(text, latex.Settings())"),
}


def hostile(parser: str, text: str) -> str:
    """How one parser fares on a hostile input, in a child process stopped at the limit."""
    setup, call = CALLS[parser]
    code = CHILD.format(root=str(ROOT), bench=str(ROOT / "bench"), setup=setup, call=call)
    try:
        done = subprocess.run(
            [sys.executable, "-c", code],
            input=text,
            capture_output=True,
            text=True,
            timeout=HOSTILE_LIMIT,
        )
    except subprocess.TimeoutExpired:
        return f"stopped after {HOSTILE_LIMIT:.0f} s"
    return done.stdout.strip() or done.stderr.strip().splitlines()[-1]


def main() -> None:
    """Print the table the closing note quotes."""
    print("parser                  relations  parsed  right verdict  seconds")
    rows = {name: measure_outside(name) for name in OUTSIDE}
    rows["derive"] = measure_derive()
    for name, row in rows.items():
        print(
            f"{name:<23} {row['relations']:>9.0f} {row['parsed']:>7.0f} {row['right']:>14.0f}"
            f"  {row['seconds']:>7}"
        )
    print(f"derive: parsing (load) alone {rows['derive']['parse_seconds']} s; the rest is checking")
    print(f"\nhostile inputs (~800 characters), limit {HOSTILE_LIMIT:.0f} s:")
    for name, text in HOSTILE.items():
        for parser in CALLS:
            print(f"  {name:<12} {len(text):>4} chars  {parser:<22} {hostile(parser, text)}")


if __name__ == "__main__":
    main()
