"""Deciding claims under a time and memory budget, in a worker process that can be stopped.

SymPy gives no way to interrupt a `simplify` or an expansion from inside, so each claim is
sent to a worker process; when a claim runs past its time limit the worker is killed and
the claim gets the verdict `undecided` (time limit), and a new worker takes the next claim.
The worker's address space is capped (`RLIMIT_AS`, 2 GiB): an allocation past it raises
`MemoryError` there, which becomes `undecided` (memory limit), never a swapping machine.

The run as a whole has a budget too (`TOTAL_TIMEOUT`, `--total-timeout`): each claim's limit
is capped by what is left of it, and once it is spent every claim left is `undecided` (run
time limit) without being started. A claim that means the same as one already decided in
the run (the same sides, conditions, indices, domain, and the same declarations, definitions
and network it is read in) is not decided again: it gets the earlier verdict, with `same_as`
naming the earlier claim, so twenty copies of a slow claim cost one time limit, not twenty.

Workers start with `forkserver` (never `fork`: the parent may hold threads and locks), and
the fork server preloads the checker, so a new worker costs a fork, not a SymPy import. One
worker serves every claim until a limit stops it; docs/promises.md gives the measured cost.
"""

from __future__ import annotations

import ast
import dataclasses
import multiprocessing
import resource
import time
import traceback
from collections.abc import Hashable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from derive.errors import DeriveError
from derive.verify.checker import Result, check_claim
from derive.verify.claims import Claim, ClaimsFile, Expression

__all__ = ["MEMORY_LIMIT", "TIMEOUT", "TOTAL_TIMEOUT", "check_bounded"]

TIMEOUT = 30.0  # seconds a claim may take, unless --timeout or its `timeout` key says otherwise
# Seconds a whole run may take unless --total-timeout says otherwise: ten claims at the full
# per-claim limit, 30 times the bundled notes (9 s) and 10 times all 141 example claims
# together (29 s; docs/claims.md, "Budgets"), so an honest file is far from it, while a
# hostile one of many different slow claims stops after 5 minutes, however many there are.
TOTAL_TIMEOUT = 300.0
MEMORY_LIMIT = 2 * 1024**3  # bytes of address space of the worker
START_LIMIT = 120.0  # seconds a new worker may take to import SymPy on a loaded machine


@dataclass
class _Worker:
    process: Any  # multiprocessing's SpawnProcess/ForkServerProcess
    conn: Connection

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.conn.close()


@dataclass
class _Decided:
    """A claim decided in this run, for the later claims that mean the same."""

    result: Result
    seconds: float  # the time it was given
    cfile: ClaimsFile

    def settles(self, limit: float) -> bool:
        """True when the verdict stands for a copy given `limit` seconds: a copy with more
        time than an undecided claim had is run again (it may be decided in that time)."""
        return self.result.verdict != "undecided" or self.seconds >= limit

    def reused(self, claim: Claim, cfile: ClaimsFile) -> Result:
        """The verdict and evidence under the copy's id, source and display."""
        named = self.result.id if cfile is self.cfile else f"{self.result.id} in {self.cfile.path}"
        return dataclasses.replace(
            self.result,
            id=claim.id,
            statement=claim.statement,
            source=claim.source,
            latex=claim.latex,
            same_as=named,
        )


def check_bounded(
    cfiles: list[ClaimsFile],
    timeout: float | None = None,
    memory: int = MEMORY_LIMIT,
    total: float = TOTAL_TIMEOUT,
) -> list[Result]:
    """Every claim of every file, in order, each within its time limit and `memory` bytes,
    the whole run within `total` seconds; a claim already decided in the run is not run again.
    """
    run = _Run(cfiles, memory, total)
    decided: dict[Hashable, _Decided] = {}  # a claim's meaning -> its decision
    results: list[Result] = []
    try:
        for number, cfile in enumerate(cfiles):
            setting = _setting(cfile)  # once per file: its declarations may be long
            for index, claim in enumerate(cfile.claims):
                limit = _limit(claim.timeout, timeout)
                meaning = _meaning(claim, setting)
                earlier = decided.get(meaning)
                if earlier is not None and earlier.settles(limit):
                    results.append(earlier.reused(claim, cfile))
                    continue
                result, given = run.decide((number, index), claim, limit)
                decided[meaning] = _Decided(result, given, cfile)  # none, or one with less time
                results.append(result)
    finally:
        run.stop()
    return results


class _Run:
    """The worker and the time left of one run."""

    def __init__(self, cfiles: list[ClaimsFile], memory: int, total: float) -> None:
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload(["derive.verify.checker"])
        self.cfiles, self.memory, self.total = cfiles, memory, total
        self.deadline = time.monotonic() + total
        self.worker: _Worker | None = None

    def decide(self, job: tuple[int, int], claim: Claim, limit: float) -> tuple[Result, float]:
        """The claim's result within `limit` or what is left of the run, and the seconds given."""
        left = self.deadline - time.monotonic()
        if left > 0 and self.worker is None:
            self.worker = _start(self.context, self.cfiles, self.memory, min(START_LIMIT, left))
            left = self.deadline - time.monotonic()
        if self.worker is None or left <= 0:  # spent, maybe while the worker was starting
            return _undecided(claim, _spent(self.total)), 0.0
        late = f"time limit: not decided in {limit:g} s"
        if left < limit:
            late = (
                f"run time limit: not decided in the {left:.1f} s left of {_run_budget(self.total)}"
            )
        given = min(limit, left)
        result, self.worker = _run(self.worker, job, claim, given, late, self.memory)
        return result, given

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()


def _run_budget(total: float) -> str:
    return f"the run's {total:g} s (--total-timeout)"


def _spent(total: float) -> str:
    return f"run time limit: {_run_budget(total)} were spent before this claim could start"


def _meaning(claim: Claim, setting: Hashable) -> Hashable:
    """What the checker receives for the claim, in its file's `_setting`, as one key.

    Left out is what only names or shows it: the claim's id, source, statement, LaTeX display
    and `timeout`, the file's path and title, where each expression was written. Every
    expression's text and parsed tree and every other key are kept, so the same text under
    other declarations or definitions is not taken for the same claim.
    """
    return (_plain(claim), setting)


def _setting(cfile: ClaimsFile) -> Hashable:
    """What a file gives each of its claims' meaning: its [network], [symbols], [definitions]."""
    return _plain(cfile)


_SHOWN_ONLY = {
    "Claim": {"id", "source", "statement", "latex", "timeout"},
    "ClaimsFile": {"path", "title", "claims"},  # a claim's meaning is not its neighbours'
    "Declarations": {"path"},
}


def _plain(value: object) -> Hashable:
    """The value as nested tuples of plain values, compared by content."""
    if isinstance(value, Expression):  # `where` names the file and claim; it matters only
        # in that a LaTeX side refused by the builder fails its claim instead of exiting 2
        tree = None if value.tree is None else ast.dump(value.tree)
        return ("Expression", value.text, tree, value.where.endswith("latex"))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = type(value).__name__
        skipped = _SHOWN_ONLY.get(name, set())
        fields = dataclasses.fields(value)
        return (
            name,
            *((f.name, _plain(getattr(value, f.name))) for f in fields if f.name not in skipped),
        )
    if isinstance(value, dict):
        return ("dict", *((_plain(k), _plain(v)) for k, v in value.items()))
    if isinstance(value, (tuple, list)):
        return ("tuple", *(_plain(item) for item in value))
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return object()  # unknown: never equal to another claim's


def _limit(own: float | None, given: float | None) -> float:
    """A claim's time limit: its own `timeout` key, never past the caller's `--timeout`.

    The file is data: its key may ask for less time than the caller allows, or for more
    than the default, but never for more than the caller said (`--timeout 5` is 5 s at most).
    """
    limits = [limit for limit in (own, given) if limit]
    return min(limits) if limits else TIMEOUT


def _start(context: Any, cfiles: list[ClaimsFile], memory: int, wait: float) -> _Worker | None:
    """A worker ready for claims; None when `wait` (less than START_LIMIT) ran out first."""
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(child, cfiles, memory), daemon=True)
    process.start()
    child.close()
    worker = _Worker(process, parent)
    try:
        if parent.poll(wait) and parent.recv() == "ready":
            return worker
    except (EOFError, OSError):
        pass
    starting = process.is_alive()
    worker.stop()
    if starting and wait < START_LIMIT:
        return None
    raise DeriveError(
        f"the checker's worker process did not start (exit code {process.exitcode}); "
        "a script that calls derive must guard its top level with "
        "`if __name__ == '__main__':` (multiprocessing imports the main module again)"
    )


def _run(
    worker: _Worker, job: tuple[int, int], claim: Claim, limit: float, late: str, memory: int
) -> tuple[Result, _Worker | None]:
    """The claim's result and the worker to reuse (None when it had to be stopped).

    Past `limit` seconds the worker is killed and the claim is undecided, `late` saying why.
    """
    worker.conn.send(job)
    started = time.monotonic()
    if not worker.conn.poll(limit):
        worker.stop()
        return _undecided(claim, late), None
    try:
        kind, payload = worker.conn.recv()
    except (EOFError, OSError):
        worker.stop()
        code = worker.process.exitcode
        why = (
            f"the worker process ended (exit code {code}) after {time.monotonic() - started:.1f} s"
        )
        return _undecided(claim, why), None
    if kind == "error":
        raise DeriveError(payload)
    if kind == "memory":
        worker.stop()
        return _undecided(claim, f"memory limit: more than {memory / 2**30:.3g} GiB"), None
    if kind == "crash":
        return _undecided(claim, f"SymPy could not decide it ({payload})"), worker
    return payload, worker


def _undecided(claim: Claim, why: str) -> Result:
    return Result(claim.id, "undecided", claim.statement, claim.source, claim.latex, tried=why)


def _serve(conn: Connection, cfiles: list[ClaimsFile], memory: int) -> None:
    """The worker: decide the claims it is sent, one at a time, within the memory limit."""
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    conn.send("ready")
    while True:
        try:
            number, index = conn.recv()
        except EOFError:
            return
        cfile = cfiles[number]
        try:
            reply: tuple[str, Any] = ("result", check_claim(cfile.claims[index], cfile))
        except DeriveError as exc:
            reply = ("error", str(exc))
        except MemoryError:
            reply = ("memory", None)
        except RecursionError:
            reply = ("crash", "expression nested too deeply")
        except Exception as exc:  # a SymPy failure on one claim must not stop the others
            last = traceback.extract_tb(exc.__traceback__)[-1]
            reply = ("crash", f"{type(exc).__name__} in {last.name}: {str(exc)[:200]}")
        conn.send(reply)
