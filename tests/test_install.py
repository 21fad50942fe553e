"""derive as a user lives with it: a wheel built from the checkout, installed (not editable)
into a fresh virtual environment, used from a folder outside the checkout.

The README's "Use derive in your project" section is the script: its blocks run in order
(a ```toml or ```python block with a file name is written to that file, a ```sh block is run
by bash), so the section cannot drift from what works. Building and installing takes about
25 s on a quiet machine, so it is done once, by one test that then checks the rest.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from derive import codegen
from derive import spec as specs

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Use derive in your project"
# What a build of the wheel reads from the checkout; anything else it needs is a test failure.
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "derive", "templates")
BLOCK = re.compile(r"^```(\w+)[ \t]*([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Project:
    """A user's project folder with derive installed in its .venv, after the README ran."""

    folder: Path
    python: Path
    derive: Path
    log: str  # the README script's output, commands traced
    wheel: Path


def readme_blocks() -> list[tuple[str, str, str]]:
    """(language, file name or "", text) of each fenced block of the README section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return BLOCK.findall(text[start : end if end > 0 else None])


def readme_script(wheel: Path) -> str:
    """The section as one bash script: files written by here-documents, commands as they
    stand but for `/path/to/derive`, which is the wheel built from this checkout."""
    lines = ["set -ex"]
    for language, name, body in readme_blocks():
        if language == "sh":
            lines.append(body.replace("/path/to/derive", shlex.quote(str(wheel))))
        elif name:
            lines += [
                f"mkdir -p {shlex.quote(str(Path(name).parent))}",
                f"cat > {shlex.quote(name)} <<'README_BLOCK_END'",
                body + "README_BLOCK_END",
            ]
    return "\n".join(lines) + "\n"


def user_environment() -> dict[str, str]:
    """The environment of a shell outside the checkout: no PYTHONPATH, no virtual environment
    active, no folder of the checkout on PATH (its .venv has the editable derive). pip
    leaves compiling to the first import (a third of the install time is SymPy's .pyc)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_NO_COMPILE"] = "1"
    path = [p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(ROOT))]
    env["PATH"] = os.pathsep.join(path)
    return env


def build(root: Path) -> Project:
    """Copy the sources, build the wheel, then run the README section in a new folder."""
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            skip = shutil.ignore_patterns("__pycache__")
            shutil.copytree(ROOT / name, source / name, ignore=skip)
        else:
            shutil.copy(ROOT / name, source / name)
    dist = root / "dist"
    wheel_build = ["-m", "pip", "wheel", "--no-deps", "--quiet", "-w", dist, "."]
    built = run(sys.executable, *wheel_build, cwd=source)
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("derive-*.whl")
    folder = root / "project"
    folder.mkdir()
    done = run("bash", "-c", readme_script(wheel), cwd=folder)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    return Project(folder, folder / ".venv/bin/python", folder / ".venv/bin/derive", log, wheel)


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A command run as the user would, in `cwd`."""
    return subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=user_environment(),
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_user_installs_the_wheel_follows_the_readme_and_generates_in_their_folder(
    tmp_path: Path,
) -> None:
    project = build(tmp_path)
    the_readme_section_ran_as_written(project)
    the_installed_package_is_the_wheel_and_carries_its_templates_and_notes(project)
    the_wheel_carries_the_mit_license(project.wheel)
    generate_writes_into_the_current_folder_and_the_module_imports_and_trains(
        project, tmp_path / "elsewhere"
    )


def the_readme_section_ran_as_written(project: Project) -> None:
    languages = [language for language, _, _ in readme_blocks()]
    assert languages.count("sh") >= 3 and "python" in languages  # the section was found
    assert re.search(r"^sigmoid\.grad +holds", project.log, re.MULTILINE), project.log
    module = project.folder / "generated" / "quadrants.py"
    spec = specs.load(project.folder / "generated" / "specs" / "quadrants.toml")
    assert module.read_text(encoding="utf-8") == codegen.render_module(spec)  # same templates
    assert (project.folder / "generated" / "__init__.py").is_file()
    assert (project.folder / "quadrants.npz").is_file()
    accuracy = re.search(r"held-out accuracy (\d\.\d+)\n", project.log)
    assert accuracy is not None and float(accuracy.group(1)) > 0.9, project.log
    # derive train --data on the user's CSV, --save read back by net.load, the estimator
    assert (project.folder / "run.npz").is_file()
    assert "saved run.npz" in project.log and "classes 'opposite', 'same'" in project.log
    assert re.search(r"cross-validated accuracy 0\.9\d", project.log), project.log


def the_installed_package_is_the_wheel_and_carries_its_templates_and_notes(
    project: Project,
) -> None:
    code = (
        "import derive, derive.codegen as c; from importlib import resources; "
        "print(derive.__file__); print(resources.files('derive.templates')); "
        "print(c.environment().list_templates())"
    )
    done = run(project.python, "-c", code, cwd=project.folder)
    assert done.returncode == 0, done.stderr
    module, templates, names = done.stdout.splitlines()
    site = project.folder / ".venv" / "lib"
    assert Path(module).is_relative_to(site) and Path(templates).is_relative_to(site)
    assert "model.py.j2" in names and "_fit.py.j2" in names
    assert str(ROOT) not in done.stdout
    # the bundled claims (checking them all takes a while; the README ran the checker)
    notes = (
        "from derive.verify import claims; path = claims.bundled_path(); "
        "print(path); print(len(claims.load(path).claims))"
    )
    loaded = run(project.python, "-c", notes, cwd=project.folder)
    assert loaded.returncode == 0, loaded.stderr
    path, count = loaded.stdout.splitlines()
    assert Path(path).is_relative_to(site) and int(count) > 50


def the_wheel_carries_the_mit_license(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (license_file,) = [name for name in names if name.endswith(".dist-info/licenses/LICENSE")]
        assert archive.read(license_file) == (ROOT / "LICENSE").read_bytes()
        (metadata,) = [name for name in names if name.endswith(".dist-info/METADATA")]
        headers = archive.read(metadata).decode().split("\n\n")[0].splitlines()
    assert "License-Expression: MIT" in headers and "License-File: LICENSE" in headers
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n\nCopyright (c) 2026 the")


def generate_writes_into_the_current_folder_and_the_module_imports_and_trains(
    project: Project, tmp_path: Path
) -> None:
    tmp_path.mkdir()
    spec = (project.folder / "generated" / "specs" / "quadrants.toml").read_text()
    (tmp_path / "net.toml").write_text(spec.replace('"quadrants"', '"net"'), encoding="utf-8")
    done = run(project.derive, "generate", "net.toml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "generated").iterdir()) == ["__init__.py", "net.py"]
    step = (
        "import numpy, generated.net as net; p = net.init_params(); "
        "X = numpy.ones((4, 2)); y = numpy.array([0, 1, 0, 1]); "
        "print(net.train_step(p, X, y.reshape(4, 1), net.init_optimizer(p)))"
    )
    trained = run(project.python, "-c", step, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert float(trained.stdout) > 0
    # --all reads ./generated/specs/ of this folder, not the checkout's
    missing = run(project.derive, "generate", "--all", cwd=tmp_path)
    assert missing.returncode == 2 and "generated/specs" in missing.stderr
