"""The `derive generate` tool under stress: racing processes, --check, read-only and broken
output folders, interrupted writes, and warnings as errors.

- two processes writing the same module at once leave one whole, valid file, never a torn one;
- --check writes nothing, whatever it finds;
- a read-only or missing output folder, or a write that fails half way, exits 2 with one line
  and leaves the old file whole and no temporary file behind.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import stat
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import pytest

from derive import cli, codegen
from derive import spec as specs
from derive.codegen import write as codegen_write

ROOT = Path(__file__).resolve().parent.parent
SPEC = """\
name = "race"
layers = [1, 1]
activations = ["tanh"]
loss = "mse"
dtype = "float64"
[optimizer]
kind = "sgd"
learning_rate = {rate}
"""


def run_cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(args)
    return code, out.getvalue(), err.getvalue()


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every entry's bytes and modification time (ns): a write of the same bytes shows too."""
    return {
        path.name: (path.read_bytes() if path.is_file() else b"", path.stat().st_mtime_ns)
        for path in sorted(folder.iterdir())
    }


def one_line_error(code: int, out: str, err: str) -> str:
    assert code == 2 and out == ""
    assert err.startswith("derive: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "race.toml"
    path.write_text(SPEC.format(rate=0.1))
    return path


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


# --- racing processes -----------------------------------------------------------------------

WRITER = """
import pathlib, sys, time
import derive.codegen  # the slow import, before the starting line
from derive.cli import main
pathlib.Path(sys.argv[4]).touch()  # ready
while not pathlib.Path(sys.argv[5]).exists():  # go
    time.sleep(0.001)
codes = [main(["generate", sys.argv[1], "--out", sys.argv[2]]) for _ in range(int(sys.argv[3]))]
sys.exit(max(codes))
"""


def test_two_processes_generating_one_module_at_once_leave_one_whole_valid_file(
    tmp_path: Path, out: Path
) -> None:
    """Writers of two versions of `race` alternate the file's content as fast as they can;
    a reader in between must only ever see one version or the other, whole."""
    versions = {}
    paths = []
    for rate in (0.1, 0.2):
        path = tmp_path / f"race-{rate}.toml"
        path.write_text(SPEC.format(rate=rate))
        versions[rate] = codegen.render_module(specs.load(path))
        paths.append(path)
    assert versions[0.1] != versions[0.2]
    whole = set(versions.values())
    target = out / "race.py"

    go = str(tmp_path / "go")
    ready = [str(tmp_path / f"ready-{number}") for number in range(2)]
    writers = [
        subprocess.Popen(
            [sys.executable, "-W", "error", "-c", WRITER, str(path), str(out), "40", flag, go],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path, flag in zip(paths, ready, strict=True)
    ]
    deadline = time.monotonic() + 120
    while not all(os.path.exists(flag) for flag in ready) and time.monotonic() < deadline:
        if any(writer.poll() is not None for writer in writers):
            break  # one died early: its stderr says why, below
        time.sleep(0.01)
    Path(go).touch()  # both start writing at once
    reads = torn = 0
    seen = set()
    while any(writer.poll() is None for writer in writers) and time.monotonic() < deadline:
        try:
            text = target.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        reads += 1
        torn += text not in whole
        seen.add(text)
        time.sleep(0.001)
    errors = [writer.communicate(timeout=60)[1] for writer in writers]

    assert [writer.returncode for writer in writers] == [0, 0], errors
    assert errors == ["", ""]  # no warning, under -W error
    assert torn == 0 and reads > 0
    assert seen == whole  # both versions were on disk in turn: the writers did race
    final = target.read_text(encoding="utf-8")
    assert final in whole
    ast.parse(final)
    module = codegen.load_module("race", out)
    assert module.HYPERPARAMETERS["learning_rate"] in versions
    assert [path.name for path in out.iterdir()] == ["race.py"]  # no temporary left behind


# --- --check writes nothing -----------------------------------------------------------------


@pytest.fixture
def no_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any write, rename or delete by the generator fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"--check wrote: {args}")

    monkeypatch.setattr(codegen_write, "write_atomic", refuse)
    monkeypatch.setattr(codegen_write.os, "replace", refuse)
    monkeypatch.setattr(codegen_write.tempfile, "mkstemp", refuse)
    monkeypatch.setattr(Path, "unlink", refuse)
    monkeypatch.setattr(Path, "write_text", refuse)


def test_check_on_an_empty_folder_reports_and_writes_nothing(
    spec_file: Path, out: Path, no_writes: None
) -> None:
    code, stdout, err = run_cli(["generate", str(spec_file), "--out", str(out), "--check"])
    assert code == 1
    assert f"+++ {out / 'race.py'} (generated now)" in stdout
    assert "out of date" in err
    assert list(out.iterdir()) == []


def test_check_leaves_a_differing_module_and_a_stale_one_untouched(
    spec_file: Path, out: Path, tmp_path: Path
) -> None:
    assert run_cli(["generate", str(spec_file), "--out", str(out)])[0] == 0
    stale = out / "gone.py"
    stale.write_text(codegen.MARKER + " (an old module nobody makes now)\n")
    spec_file.write_text(SPEC.format(rate=0.3))
    before = snapshot(out)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(codegen_write, "write_atomic", lambda *a: pytest.fail("--check wrote"))
        patch.setattr(Path, "unlink", lambda *a, **k: pytest.fail("--check deleted"))
        code, stdout, _ = run_cli(["generate", str(spec_file), "--out", str(out), "--check"])
        assert code == 1 and "0.3" in stdout
    assert snapshot(out) == before
    assert run_cli(["generate", str(spec_file), "--out", str(out)])[0] == 0
    code, stdout, _ = run_cli(["generate", str(spec_file), "--out", str(out), "--check"])
    assert (code, stdout.strip()) == (0, "1 generated file up to date")


def test_check_all_against_a_folder_that_does_not_exist_creates_nothing(
    tmp_path: Path, no_writes: None
) -> None:
    missing = tmp_path / "nowhere"
    code, stdout, _ = run_cli(["generate", "--all", "--out", str(missing), "--check"])
    assert code == 1 and "+++" in stdout
    assert not missing.exists()


# --- folders that cannot be written ---------------------------------------------------------


def test_a_read_only_output_folder_exits_2_with_one_line(
    spec_file: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """chmod 555; root ignores the mode bits, so for root os.access is made to honour them
    (what it answers for any other user) -- the generator asks os.access before writing."""
    (out / "race.py").write_text(codegen.MARKER + " (an older version)\n")
    before = snapshot(out)
    out.chmod(0o555)
    try:
        if os.geteuid() == 0:
            real_access = os.access

            def as_a_user(path: Path, mode: int, **kwargs: bool) -> bool:
                if mode & os.W_OK and not os.stat(path).st_mode & stat.S_IWUSR:
                    return False
                return real_access(path, mode, **kwargs)

            monkeypatch.setattr(codegen_write.os, "access", as_a_user)
        err = one_line_error(*run_cli(["generate", str(spec_file), "--out", str(out)]))
    finally:
        out.chmod(0o755)
    assert f"{out}: --out: expected a writable folder, found a read-only folder" in err
    assert snapshot(out) == before


@pytest.mark.parametrize("failing", ["mkstemp", "replace"])
def test_a_write_that_fails_half_way_exits_2_and_leaves_the_old_file_whole(
    spec_file: Path, out: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """The folder looks writable but the disk says no (full, or read-only underneath)."""
    old = out / "race.py"
    old.write_text(codegen.MARKER + " (an older version)\n")
    before = snapshot(out)

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    if failing == "mkstemp":
        monkeypatch.setattr(codegen_write.tempfile, "mkstemp", denied)
    else:
        monkeypatch.setattr(codegen_write.os, "replace", denied)
    err = one_line_error(*run_cli(["generate", str(spec_file), "--out", str(out)]))
    assert "--out: expected a writable folder, found Permission denied" in err
    assert snapshot(out) == before  # the old file whole, no temporary file left


def test_an_interrupt_during_the_write_leaves_the_old_file_and_no_litter(
    spec_file: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (out / "race.py").write_text(codegen.MARKER + " (an older version)\n")
    before = snapshot(out)

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(codegen_write.os, "replace", interrupted)
    code, stdout, err = run_cli(["generate", str(spec_file), "--out", str(out)])
    assert (code, stdout, err) == (130, "", "derive: interrupted\n")
    assert snapshot(out) == before


def test_an_output_folder_that_is_a_file_exits_2(spec_file: Path, tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("I am a file\n")
    err = one_line_error(*run_cli(["generate", str(spec_file), "--out", str(target)]))
    assert f"{target}: --out: expected a folder, found a file" in err
    assert target.read_text() == "I am a file\n"
    assert not (tmp_path / "race.py").exists()


def test_a_missing_output_folder_is_made_with_its_parents(spec_file: Path, tmp_path: Path) -> None:
    target = tmp_path / "models" / "nets"
    code, stdout, err = run_cli(["generate", str(spec_file), "--out", str(target)])
    assert (code, err) == (0, "")
    assert stdout == f"generated 1 file in {target}\n"
    assert sorted(path.name for path in target.iterdir()) == ["race.py"]


def test_an_output_folder_named_with_a_newline_still_gets_a_one_line_error(
    spec_file: Path, tmp_path: Path
) -> None:
    """errors.input_error escapes an unprintable source: codegen passes the --out path as it is
    (a file in the way, so the path reaches the error)."""
    target = tmp_path / "out\nderive: error: forged second line"
    target.write_text("in the way\n")
    err = one_line_error(*run_cli(["generate", str(spec_file), "--out", str(target)]))
    assert repr(str(target)) in err


def test_a_file_derive_did_not_write_is_never_overwritten_without_force(
    spec_file: Path, out: Path
) -> None:
    mine = out / "race.py"
    mine.write_text("# my own race.py, hand-written\n")
    err = one_line_error(*run_cli(["generate", str(spec_file), "--out", str(out)]))
    assert "expected a derive-generated module (or --force), found another file" in err
    assert mine.read_text() == "# my own race.py, hand-written\n"
    assert run_cli(["generate", str(spec_file), "--out", str(out), "--force"])[0] == 0
    assert mine.read_text().startswith(codegen.MARKER)


def test_a_second_spec_that_is_bad_stops_the_first_from_being_written(
    spec_file: Path, out: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(SPEC.format(rate="nan").replace('"race"', '"other"'))
    err = one_line_error(*run_cli(["generate", str(spec_file), str(bad), "--out", str(out)]))
    assert f"{bad}: optimizer.learning_rate: expected a finite number, found nan" in err
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(
    "args",
    [["generate"], ["generate", "--bogus"], ["generate", "--out"], ["frobnicate"]],
    ids=["nothing", "unknown-flag", "flag-without-value", "unknown-command"],
)
def test_bad_flags_exit_2_without_a_traceback(args: list[str]) -> None:
    code, _, err = run_cli(args)
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(("derive: error:", "derive generate: error:"))


# --- warnings are errors --------------------------------------------------------------------


def test_the_suite_runs_with_warnings_as_errors() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    assert "error" in config["ini_options"]["filterwarnings"]


def test_generating_and_training_in_a_fresh_process_emit_no_warning(spec_file: Path) -> None:
    """-W error from the first import: the CLI, a generated module's import and a step."""
    with tempfile.TemporaryDirectory() as folder:
        script = (
            "import sys, numpy\n"
            "from derive.cli import main\n"
            "from derive.codegen import load_module\n"
            "from pathlib import Path\n"
            "assert main(['generate', sys.argv[1], '--out', sys.argv[2]]) == 0\n"
            "net = load_module('race', Path(sys.argv[2]))\n"
            "params = net.init_params(0)\n"
            "X = numpy.linspace(-1e4, 1e4, 16).reshape(16, 1)\n"
            "net.fit(params, X, numpy.tanh(X), epochs=2, batch_size=4)\n"
        )
        done = subprocess.run(
            [sys.executable, "-W", "error", "-X", "dev", "-c", script, str(spec_file), folder],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.startswith("generated 1 file in")
