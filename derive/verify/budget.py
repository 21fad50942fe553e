"""Deciding claims under a time and memory budget, in a worker process that can be stopped.

SymPy gives no way to interrupt a `simplify` or an expansion from inside, so each claim is
sent to a worker process; when a claim runs past its time limit the worker is killed and
the claim gets the verdict `undecided` (time limit), and a new worker takes the next claim.
The worker's address space is capped (`RLIMIT_AS`, 2 GiB): an allocation past it raises
`MemoryError` there, which becomes `undecided` (memory limit), never a swapping machine.

Workers start with `forkserver` (never `fork`: the parent may hold threads and locks), and
the fork server preloads the checker, so a new worker costs a fork, not a SymPy import. One
worker serves every claim until a limit stops it; docs/promises.md gives the measured cost.
"""

from __future__ import annotations

import multiprocessing
import resource
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from derive.errors import DeriveError
from derive.verify.checker import Result, check_claim
from derive.verify.claims import Claim, ClaimsFile

__all__ = ["MEMORY_LIMIT", "TIMEOUT", "check_bounded"]

TIMEOUT = 30.0  # seconds a claim may take, unless --timeout or its `timeout` key says otherwise
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


def check_bounded(
    cfiles: list[ClaimsFile], timeout: float | None = None, memory: int = MEMORY_LIMIT
) -> list[Result]:
    """Every claim of every file, each within its time limit and `memory` bytes, in order."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["derive.verify.checker"])
    results: list[Result] = []
    worker: _Worker | None = None
    try:
        for number, cfile in enumerate(cfiles):
            for index, claim in enumerate(cfile.claims):
                worker = worker or _start(context, cfiles, memory)
                limit = _limit(claim.timeout, timeout)
                result, worker = _run(worker, (number, index), claim, limit, memory)
                results.append(result)
    finally:
        if worker is not None:
            worker.stop()
    return results


def _limit(own: float | None, given: float | None) -> float:
    """A claim's time limit: its own `timeout` key, never past the caller's `--timeout`.

    The file is data: its key may ask for less time than the caller allows, or for more
    than the default, but never for more than the caller said (`--timeout 5` is 5 s at most).
    """
    limits = [limit for limit in (own, given) if limit]
    return min(limits) if limits else TIMEOUT


def _start(context: Any, cfiles: list[ClaimsFile], memory: int) -> _Worker:
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(child, cfiles, memory), daemon=True)
    process.start()
    child.close()
    worker = _Worker(process, parent)
    try:
        if parent.poll(START_LIMIT) and parent.recv() == "ready":
            return worker
    except (EOFError, OSError):
        pass
    worker.stop()
    raise DeriveError(
        f"the checker's worker process did not start (exit code {process.exitcode}); "
        "a script that calls derive must guard its top level with "
        "`if __name__ == '__main__':` (multiprocessing imports the main module again)"
    )


def _run(
    worker: _Worker, job: tuple[int, int], claim: Claim, limit: float, memory: int
) -> tuple[Result, _Worker | None]:
    """The claim's result and the worker to reuse (None when it had to be stopped)."""
    worker.conn.send(job)
    started = time.monotonic()
    if not worker.conn.poll(limit):
        worker.stop()
        return _undecided(claim, f"time limit: not decided in {limit:g} s"), None
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
