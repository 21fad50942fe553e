"""derive run from a checkout that is not installed: `PYTHONPATH=. python -m derive ...`.

An install (plain or editable) ships templates/ as the package derive.templates; a bare
checkout has the folder beside derive/. The interpreter here has derive's dependencies on
its path but no derive install and no editable finder (-S skips site and its .pth files),
as a contributor's Python with the requirements installed by hand would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from derive import codegen
from derive import spec as specs

ROOT = Path(__file__).resolve().parent.parent


def test_python_m_derive_generate_from_the_checkout_finds_its_templates(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), sysconfig.get_paths()["purelib"]])
    spec = ROOT / "generated" / "specs" / "xor.toml"
    done = subprocess.run(
        [sys.executable, "-S", "-m", "derive", "generate", str(spec), "--out", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == f"generated 1 file in {tmp_path}\n"
    module = (tmp_path / "xor.py").read_text(encoding="utf-8")
    assert module == codegen.render_module(specs.load(spec))
    assert module == (ROOT / "generated" / "xor.py").read_text(encoding="utf-8")
