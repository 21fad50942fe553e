"""Time `derive verify`: each claim in process, and the worker process's fixed cost.

Run: `.venv/bin/python bench/verify_times.py [CLAIMS_FILE ...]` (default: the bundled notes
and tests/data/two_layer_course.toml). Prints the slowest claims, the in-process total, and
the wall time of `derive verify` on the same files (a forkserver worker that imports SymPy
once, then one pipe round trip per claim). Not part of `make test`.

`--examples` times every claim of every example instead: each claims file in docs/claims.md
(its ```toml blocks that load on their own), the bundled notes and tests/data/*.toml, *.md,
one line per claim, the ones over 10 s marked (the issue's bound for an example's claim).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from derive.errors import DeriveError
from derive.verify import checker, claims

ROOT = Path(__file__).resolve().parent.parent
BOUND = 10.0  # seconds: an example's claim decides within it


def main(paths: list[Path]) -> None:
    for path in paths:
        cfile = claims.load(path)
        times = []
        for claim in cfile.claims:
            start = time.perf_counter()
            result = checker.check_claim(claim, cfile)
            times.append((time.perf_counter() - start, claim.id, result.verdict))
        print(f"{path.name}: {len(times)} claims, in process {sum(t for t, _, _ in times):.2f} s")
        for seconds, cid, verdict in sorted(times, reverse=True)[:5]:
            print(f"  {cid:<24} {verdict:<12} {seconds:6.2f} s")
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "derive", "verify", str(path)], capture_output=True, check=False
        )
        print(f"  derive verify (worker process): {time.perf_counter() - start:.2f} s wall")


def examples(folder: Path) -> list[tuple[str, Path]]:
    """(name, path) of every example claims file: the guide's, the bundled notes, tests/data's."""
    found = [("notes.toml", claims.bundled_path())]
    guide = (ROOT / "docs" / "claims.md").read_text(encoding="utf-8")
    for number, block in enumerate(re.findall(r"```toml\n(.*?)\n```", guide, re.S), 1):
        path = folder / f"claims_md_{number}.toml"
        path.write_text(block + "\n", encoding="utf-8")
        found.append((f"docs/claims.md #{number}", path))
    data = sorted((ROOT / "tests" / "data").glob("*.toml")) + sorted(
        (ROOT / "tests" / "data").glob("*.md")
    )
    return found + [(f"tests/data/{path.name}", path) for path in data]


def every_example() -> None:
    with tempfile.TemporaryDirectory() as folder:
        for name, path in examples(Path(folder)):
            try:
                cfile = claims.load(path)
            except DeriveError:
                continue  # a fragment of the guide (a [latex] table alone): not a file
            for claim in cfile.claims:
                start = time.perf_counter()
                verdict = checker.check_claim(claim, cfile).verdict
                seconds = time.perf_counter() - start
                mark = "  OVER" if seconds > BOUND else ""
                print(f"{name:<38} {claim.id:<26} {verdict:<12} {seconds:6.2f} s{mark}", flush=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["--examples"]:
        every_example()
    else:
        given = [Path(arg) for arg in sys.argv[1:]]
        main(given or [claims.bundled_path(), ROOT / "tests" / "data" / "two_layer_course.toml"])
