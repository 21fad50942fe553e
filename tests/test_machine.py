"""derive.machine: the memory a generated network is checked against is the smaller of the
machine's physical memory and its cgroup's limit (v2 memory.max, v1 memory.limit_in_bytes),
read from a /proc and /sys/fs/cgroup laid out under a folder as the kernel lays them out.
The generator checks it, and so does every generated module, with the same functions."""

from __future__ import annotations

import contextlib
import inspect
import io
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from generator_support import ROOT

from derive import cli, codegen, machine
from derive import spec as specs

GIB = 1 << 30
V1_UNLIMITED = "9223372036854771712"
MACHINE = "of memory this machine has"
CGROUP = "memory limit of this process's cgroup (its container or job)"


@pytest.fixture(scope="module")
def net() -> ModuleType:
    """A generated module, as the generator makes it now (the committed xor.py)."""
    return codegen.build_module(specs.load(ROOT / "generated/specs/xor.toml"))


def cgroups(root: Path, membership: str, limits: dict[str, str]) -> Path:
    """A fake root: /proc/self/cgroup says `membership`; each limit file holds its text."""
    (root / "proc/self").mkdir(parents=True)
    (root / "proc/self/cgroup").write_text(membership)
    for relative, text in limits.items():
        path = root / "sys/fs/cgroup" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return root


CASES = [
    # a container with its own cgroup namespace: the mount's root is its group
    ("0::/\n", {"memory.max": str(2 * GIB)}, 2 * GIB),
    ("0::/\n", {"memory.max": "max"}, None),
    # a systemd slice: the parent's limit binds the child that sets none
    (
        "0::/user.slice/job\n",
        {"user.slice/memory.max": str(GIB), "user.slice/job/memory.max": "max"},
        GIB,
    ),
    ("0::/a/b\n", {"a/memory.max": str(4 * GIB), "a/b/memory.max": str(3 * GIB)}, 3 * GIB),
    # the group's folder not mounted (no namespace): the mount's root still counts
    ("0::/docker/abc\n", {"memory.max": str(GIB)}, GIB),
    # cgroup v1 (hybrid: a v2 line without a memory.max too); v1's "unlimited" sentinel
    (
        "4:memory:/docker/abc\n1:cpu:/\n0::/\n",
        {
            "memory/memory.limit_in_bytes": V1_UNLIMITED,
            "memory/docker/abc/memory.limit_in_bytes": str(GIB // 2),
        },
        GIB // 2,
    ),
    ("4:cpu,memory:/\n", {"memory/memory.limit_in_bytes": V1_UNLIMITED}, None),
    # no cgroup files at all; garbage in a limit file
    ("0::/\n", {}, None),
    ("0::/\n", {"memory.max": "lots"}, None),
    ("garbage\n", {"memory.max": str(GIB)}, None),
]


@pytest.mark.parametrize(("membership", "limits", "expected"), CASES)
def test_the_cgroup_limit_is_read_from_v2_and_v1_up_the_hierarchy(
    tmp_path: Path, membership: str, limits: dict[str, str], expected: int | None
) -> None:
    assert machine.cgroup_memory_limit(cgroups(tmp_path, membership, limits)) == expected


@pytest.mark.parametrize(("membership", "limits", "expected"), CASES)
def test_a_generated_module_reads_the_same_limit(
    net: ModuleType,
    tmp_path: Path,
    membership: str,
    limits: dict[str, str],
    expected: int | None,
) -> None:
    root = cgroups(tmp_path, membership, limits)
    assert net.cgroup_memory_limit(root) == expected
    bound = net.binding_limit(root)
    assert bound == machine.binding_limit(root)
    assert bound is not None and bound[0] == machine.memory_limit(root)


def test_without_proc_the_mount_s_root_is_read(tmp_path: Path) -> None:
    (tmp_path / "sys/fs/cgroup").mkdir(parents=True)
    (tmp_path / "sys/fs/cgroup/memory.max").write_text(f"{GIB}\n")
    assert machine.cgroup_memory_limit(tmp_path) == GIB


def test_the_smaller_of_physical_memory_and_the_cgroup_limit_counts(tmp_path: Path) -> None:
    physical = machine.physical_memory()
    assert physical is not None and physical > GIB  # Linux says; a machine of more than 1 GiB
    small = cgroups(tmp_path / "small", "0::/\n", {"memory.max": str(GIB)})
    large = cgroups(tmp_path / "large", "0::/\n", {"memory.max": str(physical * 4)})
    assert machine.memory_limit(small) == GIB
    assert machine.memory_limit(large) == physical
    assert machine.memory_limit(tmp_path / "none") == physical
    assert machine.binding_limit(small) == (GIB, CGROUP)
    assert machine.binding_limit(large) == (physical, MACHINE)
    assert machine.binding_limit(tmp_path / "none") == (physical, MACHINE)


def test_a_generated_module_holds_derive_machine_s_functions_as_written() -> None:
    """One definition: the module's copy is derive/machine.py's source, not a hand copy."""
    text = (ROOT / "generated/xor.py").read_text(encoding="utf-8")
    runtime = text[text.index("# ---- derive runtime") :]
    for function in machine.EMBEDDED:
        assert runtime.count(f"\ndef {function.__name__}(") == 1, function.__name__
        assert f"\n{inspect.getsource(function)}" in runtime, function.__name__


def test_a_generated_module_refuses_past_the_cgroup_limit_before_allocating(
    net: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under the machine's memory, over its container's limit: MemoryError naming the cgroup,
    for the parameters and for a batch's buffers, at the limit's byte."""
    params = net.init_params()  # the system's root: this machine has room
    X, Y = np.zeros((1000, net.N_IN)), np.zeros((1000, net.N_OUT))
    batch_bytes = 1000 * net.BATCH_BYTES_PER_SAMPLE
    for limit, refused in [(net.PARAMS_BYTES - 1, True), (net.PARAMS_BYTES, False)]:
        root = cgroups(tmp_path / str(limit), "0::/\n", {"memory.max": str(limit)})
        monkeypatch.setattr(net, "_CGROUP_ROOT", root)
        if refused:
            with pytest.raises(MemoryError) as error:
                net.init_params()
            message = str(error.value)
            assert message.startswith("the parameters, their gradients and optimizer state")
            assert message.endswith(f" GiB {CGROUP}")
        else:
            net.init_params()
    root = cgroups(tmp_path / "batch", "0::/\n", {"memory.max": str(batch_bytes - 1)})
    monkeypatch.setattr(net, "_CGROUP_ROOT", root)
    with pytest.raises(MemoryError, match="the buffers of a batch of 1000 need about") as error:
        net.train_step(params, X, Y, net.init_optimizer(params))
    assert str(error.value).endswith(f" GiB {CGROUP}")


def test_a_generated_module_accepts_under_a_large_cgroup_limit_and_names_the_machine(
    net: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    physical = machine.physical_memory()
    assert physical is not None
    root = cgroups(tmp_path, "0::/\n", {"memory.max": str(physical * 4)})
    monkeypatch.setattr(net, "_CGROUP_ROOT", root)
    params = net.init_params()
    X, Y = np.zeros((1000, net.N_IN)), np.zeros((1000, net.N_OUT))
    assert np.isfinite(net.train_step(params, X, Y, net.init_optimizer(params)))
    need = physical + 1  # past the machine's memory though under the cgroup's limit
    with pytest.raises(MemoryError) as error:
        net._check_memory(need, "these")
    assert str(error.value).endswith(f"more than the {physical / GIB:.1f} GiB {MACHINE}")


def test_generate_refuses_a_network_past_the_cgroup_limit_though_the_machine_has_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A network of ~3.4 GiB of parameters and state: under the machine's memory, over a
    container's 1 GiB; codegen's check reads derive.machine's limit, not sysconf alone."""
    text = (
        'name = "wide"\nlayers = [2, 8192, 8192, 2]\nactivations = ["tanh", "tanh", "identity"]\n'
        'loss = "mse"\n'
    )
    params, _ = codegen.memory_estimate(specs.parse(text))
    physical = machine.physical_memory()
    assert physical is not None and GIB < params < physical
    fake = cgroups(tmp_path / "root", "0::/\n", {"memory.max": str(GIB)})
    real = machine.cgroup_memory_limit
    monkeypatch.setattr(machine, "cgroup_memory_limit", lambda root=fake: real(fake))
    (tmp_path / "wide.toml").write_text(text)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["generate", str(tmp_path / "wide.toml"), "--out", str(tmp_path)])
    assert (code, out.getvalue()) == (2, "")
    assert err.getvalue().startswith(
        f"derive: error: {tmp_path / 'wide.toml'}: layers: expected a network that trains in"
        f" the 1.0 GiB {CGROUP}, found one that needs about"
    )
    assert not (tmp_path / "wide.py").exists()
