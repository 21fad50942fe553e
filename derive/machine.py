"""How much memory derive may count on: the machine's physical memory, or the memory limit of
the cgroup the process runs in (a container, a systemd slice, a CI job) when that is smaller.

A container sees the host's physical memory in `sysconf`, while the kernel kills a process
of the container that passes the cgroup's limit: generation refuses a network by the smaller.

Every generated module checks the same limit before it allocates, with the functions listed in
EMBEDDED: their source is copied into the module's runtime section when it is rendered
(derive/codegen/render.py), since a module imports NumPy and the standard library alone. So
they use `os`, `Path` and each other only, and a fix here reaches the modules at the next
`derive generate`.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "EMBEDDED",
    "binding_limit",
    "cgroup_memory_limit",
    "memory_limit",
    "physical_memory",
]


def binding_limit(root: Path = Path("/")) -> tuple[int, str] | None:
    """The memory this process may count on, and which limit that is: (bytes, words naming it)
    for the machine's physical memory, or for its cgroup's limit when that is smaller (read
    under `root`, see cgroup_memory_limit); None when neither is known."""
    physical, cgroup = physical_memory(), cgroup_memory_limit(root)
    if cgroup is not None and (physical is None or cgroup < physical):
        return cgroup, "memory limit of this process's cgroup (its container or job)"
    if physical is not None:
        return physical, "of memory this machine has"
    return None


def physical_memory() -> int | None:
    """The machine's physical memory in bytes, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def cgroup_memory_limit(root: Path = Path("/")) -> int | None:
    """The memory limit in bytes of this process's cgroup, or None when none is set.

    Read from /proc/self/cgroup and /sys/fs/cgroup under `root`: cgroup v2's `memory.max`
    and cgroup v1's `memory/memory.limit_in_bytes`, in the process's own group and every
    group above it (a parent's limit binds its children), the smallest of them. Inside a
    container the process's group is usually the mount's root (/sys/fs/cgroup/memory.max).
    """
    try:
        lines = (root / "proc/self/cgroup").read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        lines = ["0::/"]  # no /proc: look at the mount's root all the same
    limits: list[int] = []
    for line in lines:
        if line.count(":") < 2:
            continue  # not "hierarchy:controllers:group"
        hierarchy, controllers, group = line.split(":", 2)
        if hierarchy == "0" and not controllers:
            base, name = root / "sys/fs/cgroup", "memory.max"
        elif "memory" in controllers.split(","):
            base, name = root / "sys/fs/cgroup/memory", "memory.limit_in_bytes"
        else:
            continue
        folder = base / group.strip("/")
        for each in (folder, *folder.parents):
            if not each.is_relative_to(base):
                break
            limit = _limit(each / name)
            if limit is not None:
                limits.append(limit)
    return min(limits, default=None)


def _limit(path: Path) -> int | None:
    """A limit file's bytes; None when it is missing, unreadable, "max" or v1's unlimited."""
    try:
        value = int(path.read_text(encoding="ascii").strip())
    except (OSError, UnicodeDecodeError, ValueError):  # "max" is no limit
        return None
    # cgroup v1 writes "no limit" as the largest page-aligned int64 (9223372036854771712)
    return value if 0 < value < 1 << 62 else None


def memory_limit(root: Path = Path("/")) -> int | None:
    """The memory derive may count on: the smaller of physical memory and the limit of the
    process's cgroup (read under `root`); None when neither is known."""
    bound = binding_limit(root)
    return None if bound is None else bound[0]


# What a generated module's _check_memory calls, in the order the module shows them.
EMBEDDED = (binding_limit, physical_memory, cgroup_memory_limit, _limit)
