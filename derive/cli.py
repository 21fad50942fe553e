"""`derive verify`, `derive generate`, `derive train`: argument parsing only.

Each subcommand hands its arguments to the module that does the work. Bad input raises
`DeriveError` there; here it becomes one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from derive import __version__
from derive.errors import DeriveError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="derive",
        description="Verify hand-written backpropagation and generate NumPy training code from it.",
    )
    parser.add_argument("--version", action="version", version=f"derive {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    verify = sub.add_parser("verify", help="check the claims of a hand derivation against SymPy")
    verify.add_argument(
        "files",
        nargs="*",
        type=Path,
        metavar="CLAIMS_FILE",
        help="claims files (TOML); none: the bundled backprop notes",
    )
    verify.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    verify.set_defaults(run=_verify)

    generate = sub.add_parser("generate", help="generate a NumPy training module per spec")
    generate.add_argument("specs", nargs="*", type=Path, metavar="SPEC")
    generate.add_argument(
        "--all", action="store_true", help="every spec in ./generated/specs/ of this folder"
    )
    generate.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: ./generated/, made when missing)",
    )
    generate.add_argument(
        "--prune",
        action="store_true",
        help="with --all: remove derive-made modules whose spec is gone (else only reported)",
    )
    generate.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 with a diff when a module is out of date",
    )
    generate.add_argument(
        "--force",
        action="store_true",
        help="overwrite files that are not derive-generated modules",
    )
    generate.set_defaults(run=_generate)

    train = sub.add_parser("train", help="train a spec's module on a data set")
    train.add_argument("spec", type=Path, metavar="SPEC")
    train.add_argument("--dataset", default=None, help="data set name (default: the spec's)")
    train.add_argument("--epochs", type=int, default=None)
    train.add_argument(
        "--plots",
        type=Path,
        default=None,
        metavar="DIR",
        help="write PNG figures here (needs matplotlib)",
    )
    train.set_defaults(run=_train)
    return parser


def _verify(args: argparse.Namespace) -> int:
    from derive.report import run_verify

    return run_verify(args.files, args.format)


def _generate(args: argparse.Namespace) -> int:
    from derive.codegen import run_generate

    return run_generate(
        args.specs,
        out=args.out,
        all_specs=args.all,
        check=args.check,
        force=args.force,
        prune=args.prune,
    )


def _train(args: argparse.Namespace) -> int:
    from derive.train import run_train

    return run_train(args.spec, dataset=args.dataset, epochs=args.epochs, plots=args.plots)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (2 on bad input)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed its one-line usage error
        return int(exc.code or 0)
    try:
        return int(args.run(args))
    except DeriveError as exc:
        print(f"derive: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("derive: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
