"""The epilogs of `derive <command> --help`: choices, exit codes and two examples each.

The choices are read from the registries (activations, losses, optimizers, schedules, data
sets), so the help lists what the code accepts, never a copy that can go stale.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

__all__ = ["derivations_epilog", "generate_epilog", "train_epilog", "verify_epilog"]


def _choices(label: str, names: Iterable[object]) -> str:
    """`label: a, b, c`, wrapped under the label."""
    text = f"{label}: " + ", ".join(str(name) for name in names)
    return textwrap.fill(text, width=92, subsequent_indent=" " * (len(label) + 2))


def _epilog(choices: list[str], exits: str, examples: tuple[str, str]) -> str:
    parts = [*choices, "", "exit codes: " + exits, "", "examples:"]
    parts += [f"  {example}" for example in examples]
    return "\n".join(parts) + "\n"


def verify_epilog() -> str:
    return _epilog(
        [
            _choices("formats (--format)", ("text", "json", "markdown")),
            "claims files: TOML, each [[claim]] with an id and lhs/rhs (SymPy syntax),"
            " lhs_latex/rhs_latex,\n              or latex (a whole display); the format and"
            " the verdicts: docs/claims.md in derive's source",
        ],
        "0 every claim holds; 1 some claim does not; 2 bad input (one message naming the\n"
        "            file and the key)",
        ("derive verify", "derive verify my_notes.toml --format markdown > report.md"),
    )


def generate_epilog() -> str:
    from derive.activations import ACTIVATIONS
    from derive.losses import LOSSES
    from derive.spec import DTYPES, OPTIMIZERS, SCHEDULES

    anywhere = [name for name, act in ACTIVATIONS.items() if act.elementwise]
    hidden = [name for name in anywhere if not ACTIVATIONS[name].slope_in_output]
    anywhere = [name for name in anywhere if name not in hidden]
    return _epilog(
        [
            _choices("activations", [*anywhere, "softmax (output only)"]),
            _choices("hidden layers only", [*hidden, "the spec's own [activation.NAME]"]),
            _choices("losses", LOSSES),
            _choices("optimizers ([optimizer] kind)", OPTIMIZERS),
            _choices("dtypes", DTYPES),
            _choices("schedules ([training] schedule kind)", SCHEDULES),
        ],
        "0 written (or, with --check, up to date); 1 --check found a module out of date;\n"
        "            2 bad input (a spec: the file, the key, what was expected), nothing written",
        ("derive generate mynet.toml --out generated", "derive generate --all --check"),
    )


def train_epilog() -> str:
    from derive.training.datasets import DATASETS

    return _epilog(
        [
            _choices("data sets (--dataset)", DATASETS),
            "data files (--data):   FILE.csv  a header row; features are numbers; labels in"
            " --target\n"
            "                                 (default the last column), strings or integers\n"
            "                       FILE.npz  arrays X (samples, features) and y (labels or"
            " targets)",
        ],
        "0 trained; 1 training diverged (a non-finite loss); 2 bad input (spec, flags,\n"
        "            data file: with the file, row and column), nothing trained or written",
        (
            "derive train generated/specs/moons.toml --epochs 50 --plots plots",
            "derive train iris.toml --data iris.csv --target species --save run.npz",
        ),
    )


def derivations_epilog() -> str:
    return _epilog(
        [
            _choices("formats (--format)", ("text", "json")),
            "ids: as generated code cites them (bp.hidden, act.relu, loss.mse, opt.adam, ...);"
            " none: all",
        ],
        "0 listed; 2 an id that is not registered (with the closest one)",
        ("derive derivations", "derive derivations bp.hidden act.relu --format json"),
    )
