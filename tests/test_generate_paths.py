"""`derive generate` in a user's folder: ./generated/ by default, --all from ./generated/specs/,
nothing deleted without --prune, every target checked before the first write, names that
would shadow a module refused, networks too large for the machine refused before allocating.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from derive import cli, codegen, machine
from derive import spec as specs

ROOT = Path(__file__).resolve().parent.parent
SPEC = """name = "{name}"
layers = {layers}
activations = {activations}
loss = "mse"
{extra}
"""


def spec_text(name: str, layers: str = "[2, 3, 1]", extra: str = "") -> str:
    """A spec: tanh hidden layers, an identity output, mse."""
    depth = layers.count(",")
    activations = str(["tanh"] * (depth - 1) + ["identity"]).replace("'", '"')
    return SPEC.format(name=name, layers=layers, activations=activations, extra=extra)


def write_spec(path: Path, name: str, layers: str = "[2, 3, 1]", extra: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(spec_text(name, layers, extra))
    return path


def run_cli(*args: str | Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(arg) for arg in args])
    return code, out.getvalue(), err.getvalue()


def snapshot(folder: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's project folder, the current directory, with two specs."""
    monkeypatch.chdir(tmp_path)
    write_spec(tmp_path / "generated" / "specs" / "first.toml", "first")
    write_spec(tmp_path / "generated" / "specs" / "second.toml", "second")
    return tmp_path


# --- paths --------------------------------------------------------------------------------


def test_without_out_a_module_goes_to_generated_of_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkout = snapshot(ROOT / "generated")
    monkeypatch.chdir(tmp_path)
    write_spec(tmp_path / "mynet.toml", "mynet")
    assert run_cli("generate", "mynet.toml")[0] == 0
    assert sorted(os.listdir(tmp_path / "generated")) == ["__init__.py", "mynet.py"]
    init = (tmp_path / "generated" / "__init__.py").read_text()
    assert init.startswith(codegen.MARKER) and '"mynet",' in init
    assert run_cli("generate", "mynet.toml", "--check") == (0, "2 generated files up to date\n", "")
    assert snapshot(ROOT / "generated") == checkout  # the checkout's generated/ is not touched


def test_a_script_in_the_project_folder_imports_the_generated_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_spec(tmp_path / "mynet.toml", "mynet")
    assert run_cli("generate", "mynet.toml")[0] == 0
    (tmp_path / "script.py").write_text(
        "import generated.mynet as net\nprint(net.forward(net.init_params(), [[1.0, 2.0]]).shape)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "script.py"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert (done.returncode, done.stdout) == (0, "(1, 1)\n"), done.stderr


def test_a_users_own_init_is_left_alone_and_an_out_folder_gets_none(project: Path) -> None:
    (project / "generated" / "__init__.py").write_text("# mine\n")
    spec = project / "generated" / "specs" / "first.toml"
    assert run_cli("generate", spec)[0] == 0
    assert (project / "generated" / "__init__.py").read_text() == "# mine\n"
    (project / "elsewhere").mkdir()
    assert run_cli("generate", spec, "--out", "elsewhere")[0] == 0
    assert os.listdir(project / "elsewhere") == ["first.py"]


def test_all_reads_the_specs_of_the_current_folder(project: Path) -> None:
    code, out, err = run_cli("generate", "--all")
    assert (code, err) == (0, "")
    assert out == "generated 3 files in generated\n"
    names = sorted(p.name for p in (project / "generated").glob("*.py"))
    assert names == ["__init__.py", "first.py", "second.py"]


def test_all_without_a_specs_folder_names_the_folder_it_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli("generate", "--all")
    assert code == 2 and err.startswith("derive: error: generated/specs: expected a folder")
    assert os.listdir(tmp_path) == []


def test_checks_hint_is_the_command_that_fixes_this_case(project: Path) -> None:
    (project / "out").mkdir()
    spec = project / "generated" / "specs" / "first.toml"
    code, _, err = run_cli("generate", spec, "--out", "out", "--check")
    assert code == 1
    assert f"run `derive generate {spec} --out out`" in err
    assert run_cli("generate", spec, "--out", "out")[0] == 0
    assert run_cli("generate", spec, "--out", "out", "--check")[0] == 0
    code, _, err = run_cli("generate", "--all", "--check")
    assert code == 1 and "run `derive generate --all`" in err


# --- nothing deleted without --prune --------------------------------------------------------


def test_a_module_whose_spec_is_gone_is_reported_and_removed_only_with_prune(
    project: Path,
) -> None:
    assert run_cli("generate", "--all")[0] == 0
    second = project / "generated" / "second.py"
    second.write_text(second.read_text() + "# a line the user added\n")
    mine = project / "generated" / "mine.py"
    mine.write_text("print('mine')\n")
    (project / "generated" / "specs" / "second.toml").unlink()

    code, out, err = run_cli("generate", "--all")
    assert code == 0 and "removed" not in out
    assert "second.py" in err and "derive generate --all --prune" in err
    assert second.read_text().endswith("# a line the user added\n")
    assert '"second",' in (project / "generated" / "__init__.py").read_text()  # still there

    code, out, err = run_cli("generate", "--all", "--check")
    assert code == 1 and "run `derive generate --all --prune`" in err
    assert f"generated module whose spec is gone: {Path('generated/second.py')}" in out

    code, out, err = run_cli("generate", "--all", "--prune")
    assert (code, err) == (0, "")
    assert "removed 1 whose spec is gone" in out
    assert not second.exists() and mine.read_text() == "print('mine')\n"
    assert '"second"' not in (project / "generated" / "__init__.py").read_text()
    assert run_cli("generate", "--all", "--check")[0] == 0


def test_prune_without_all_is_refused(project: Path) -> None:
    before = snapshot(project)
    code, _, err = run_cli("generate", project / "generated/specs/first.toml", "--prune")
    assert code == 2 and "--prune" in err and "--all" in err
    assert snapshot(project) == before


@pytest.mark.parametrize("force", [False, True])
def test_a_directory_in_the_way_writes_nothing_at_all(project: Path, force: bool) -> None:
    out = project / "out"
    (out / "second.py").mkdir(parents=True)  # sorts after first.py: checked before any write
    before = snapshot(project)
    specs_folder = project / "generated" / "specs"
    args = ["generate", specs_folder / "first.toml", specs_folder / "second.toml", "--out", out]
    code, stdout, err = run_cli(*args, *["--force"] * force)
    assert (code, stdout) == (2, "")
    expected = "expected a file path to write a module to, found a directory"
    assert err == f"derive: error: {out / 'second.py'}: {expected}\n"
    assert snapshot(project) == before


# --- names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["numpy", "math", "os", "tempfile", "zipfile", "sys", "json", "derive", "generated"]
)
def test_a_name_that_would_shadow_a_module_is_refused(project: Path, name: str) -> None:
    write_spec(project / "bad.toml", name)
    before = snapshot(project)
    code, _, err = run_cli("generate", "bad.toml")
    assert code == 2
    assert err.startswith("derive: error: bad.toml: name: expected a name no imported module")
    assert err.endswith(f"found {name}\n")
    assert snapshot(project) == before


def test_every_module_a_generated_module_imports_is_a_refused_name() -> None:
    imported = set()
    for path in (ROOT / "generated").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
    assert imported == set(specs.GENERATED_MODULE_IMPORTS)
    assert imported <= specs.RESERVED_NAMES


# --- memory -------------------------------------------------------------------------------

HUGE = "[65536, 65536, 65536, 65536, 65536, 65536, 65536, 65536, 65536]"  # ~1.4 TB of weights


def test_a_network_larger_than_the_machine_is_refused_at_generate(project: Path) -> None:
    assert codegen.machine_memory() is not None  # Linux says; this test checks the refusal
    write_spec(project / "huge.toml", "huge", HUGE)
    before = snapshot(project)
    code, stdout, err = run_cli("generate", "huge.toml")
    assert (code, stdout) == (2, "")
    assert err.startswith("derive: error: huge.toml: layers: expected a network that trains in")
    bound = machine.binding_limit()
    assert bound is not None and f" GiB {bound[1]}, found one that needs about" in err
    assert snapshot(project) == before


def test_a_batch_larger_than_the_machine_is_refused_at_generate(project: Path) -> None:
    batch = "[training]\nbatch_size = 16777216"
    wide = write_spec(project / "wide.toml", "wide", "[1, 65536, 1]", batch)
    code, _, err = run_cli("generate", wide)
    assert code == 2 and "wide.toml: training.batch_size: expected a network" in err


def test_the_module_refuses_before_allocating_parameters_or_a_batch() -> None:
    module = type(sys)("huge")
    text = codegen.render_module(specs.parse(spec_text("huge", HUGE)))  # allocates no weights
    exec(text, vars(module))
    with pytest.raises(MemoryError, match="the parameters, their gradients and optimizer state"):
        module.init_params()

    net = codegen.build_module(specs.parse(spec_text("wide", "[1, 65536, 1]")))
    params = net.init_params()
    X = np.zeros((1_000_000, 1))  # 8 MB; the buffers of this batch would be about 2 TB
    with pytest.raises(MemoryError, match="the buffers of a batch of 1000000 need about"):
        net.train_step(params, X, X, net.init_optimizer(params))
