"""Time `derive verify`: each claim in process, and the worker process's fixed cost.

Run: `.venv/bin/python bench/verify_times.py [CLAIMS_FILE ...]` (default: the bundled notes
and tests/data/two_layer_course.toml). Prints the slowest claims, the in-process total, and
the wall time of `derive verify` on the same files (a forkserver worker that imports SymPy
once, then one pipe round trip per claim). Not part of `make test`.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from derive.verify import checker, claims

ROOT = Path(__file__).resolve().parent.parent


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


if __name__ == "__main__":
    given = [Path(arg) for arg in sys.argv[1:]]
    main(given or [claims.bundled_path(), ROOT / "tests" / "data" / "two_layer_course.toml"])
