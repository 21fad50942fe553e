"""The README's spec reference (## Generate a training module) against the registries: the
spec it shows is valid, its comments name every activation, loss and optimizer derive has,
and the [activation.NAME] snippet is the example spec it links to."""

from __future__ import annotations

import re
from pathlib import Path

from derive import spec as specs
from derive.activations import ACTIVATIONS
from derive.losses import LOSSES

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Generate a training module"


def toml_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(SECTION)
    section = text[start : text.index("\n## ", start + len(SECTION))]
    return re.findall(r"^```toml\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)


def test_the_readme_spec_is_valid_and_names_every_choice() -> None:
    reference, own = toml_blocks()[:2]
    spec = specs.parse(reference, source="README.md")
    assert (spec.name, spec.layers, spec.optimizer.kind) == ("moons", (2, 64, 64, 2), "adam")
    words = set(re.findall(r"[a-z_0-9]+", reference))
    for choice in [*ACTIVATIONS, *LOSSES, *specs.OPTIMIZERS, *specs.DTYPES, "[activation.NAME]"]:
        assert choice in words or choice in reference, choice
    for key in [name for kind in specs.OPTIMIZERS.values() for name in kind]:
        assert key in words, key
    example = (ROOT / "generated" / "specs" / "moons_mish.toml").read_text(encoding="utf-8")
    for line in own.splitlines():
        assert line in example.splitlines(), line
