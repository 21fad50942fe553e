"""`derive verify`, `generate`, `train`, `derivations`: argument parsing only.

Each subcommand hands its arguments to the module that does the work. Bad input raises
`DeriveError` there; here it becomes one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from derive import __version__, helptext
from derive.errors import DeriveError, escape

RAW = argparse.RawDescriptionHelpFormatter  # keeps the epilogs' lines as written
MAX_TIMEOUT = 3600.0  # seconds: the largest --timeout, as a claim's `timeout` key
MAX_TOTAL_TIMEOUT = 86400.0  # seconds: the largest --total-timeout, a day


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="derive",
        description="Verify hand-written backpropagation and generate NumPy training code from it.",
    )
    parser.add_argument("--version", action="version", version=f"derive {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    verify = sub.add_parser(
        "verify",
        help="check the claims of a hand derivation against SymPy",
        epilog=helptext.verify_epilog(),
        formatter_class=RAW,
    )
    verify.add_argument(
        "files",
        nargs="*",
        type=Path,
        metavar="CLAIMS_FILE",
        help="claims files (TOML); none: the bundled backprop notes",
    )
    verify.add_argument(
        "--format",
        choices=("text", "json", "markdown"),
        default="text",
        help="text (default): a row per claim; json: every field; markdown: a section per claim",
    )
    verify.add_argument(
        "--timeout",
        type=_seconds_up_to(MAX_TIMEOUT),
        default=None,
        metavar="SECONDS",
        help="time limit of each claim (default 30; a claim's own `timeout` key may ask for "
        "another, never for more than this); "
        "past it the verdict is undecided",
    )
    verify.add_argument(
        "--total-timeout",
        type=_seconds_up_to(MAX_TOTAL_TIMEOUT),
        default=None,
        metavar="SECONDS",
        help="time limit of the whole run (default 300); each claim gets at most what is left "
        "of it, and the claims left when it is spent are undecided",
    )
    verify.set_defaults(run=_verify)

    generate = sub.add_parser(
        "generate",
        help="generate a NumPy training module per spec",
        epilog=helptext.generate_epilog(),
        formatter_class=RAW,
    )
    generate.add_argument(
        "specs", nargs="*", type=Path, metavar="SPEC", help="spec files (TOML), or --all"
    )
    generate.add_argument(
        "--all", action="store_true", help="every spec in ./generated/specs/ of this folder"
    )
    generate.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder, made when missing (default: ./generated/)",
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

    train = sub.add_parser(
        "train",
        help="train a spec's module on a data set or a CSV/.npz file",
        description="Train a spec's generated module (the committed one when it matches the"
        " spec, else one rendered in memory) and print the history and the held-out score.",
        epilog=helptext.train_epilog(),
        formatter_class=RAW,
    )
    train.add_argument("spec", type=Path, metavar="SPEC", help="a spec file (TOML)")
    source = train.add_mutually_exclusive_group()
    source.add_argument(
        "--dataset", default=None, metavar="NAME", help="a built-in data set (default: the spec's)"
    )
    source.add_argument(
        "--data",
        type=Path,
        default=None,
        metavar="FILE",
        help="a CSV with a header row, or an .npz with arrays X and y",
    )
    train.add_argument(
        "--target", default=None, metavar="COLUMN", help="the CSV's label column (default: last)"
    )
    train.add_argument(
        "--test-size",
        type=float,
        default=None,
        metavar="F",
        help="fraction of a data file held out for the test score (default 0.25)",
    )
    train.add_argument(
        "--epochs", type=int, default=None, metavar="N", help="(default: the spec's)"
    )
    train.add_argument(
        "--batch-size", type=int, default=None, metavar="N", help="(default: the spec's)"
    )
    train.add_argument(
        "--learning-rate", type=float, default=None, metavar="X", help="(default: the spec's)"
    )
    train.add_argument(
        "--seed", type=int, default=None, metavar="N", help="initial weights, shuffling, split"
    )
    train.add_argument(
        "--save",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the trained parameters (.npz, the module's save format)",
    )
    train.add_argument(
        "--plots",
        type=Path,
        default=None,
        metavar="DIR",
        help="write PNG figures here (needs matplotlib)",
    )
    train.set_defaults(run=_train)

    listing = sub.add_parser(
        "derivations",
        help="list the registered derivations generated code cites",
        description="The derivations generated code cites ([bp.hidden]): statement, LaTeX,"
        " condition, and how each is proved.",
        epilog=helptext.derivations_epilog(),
        formatter_class=RAW,
    )
    listing.add_argument("ids", nargs="*", metavar="ID", help="derivation ids (none: all)")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    listing.set_defaults(run=_derivations)
    return parser


def _verify(args: argparse.Namespace) -> int:
    from derive.verify.report import run_verify

    return run_verify(args.files, args.format, args.timeout, args.total_timeout)


def _seconds_up_to(most: float) -> Callable[[str], float]:
    """An argparse type: a number of seconds in (0, most]."""

    def seconds(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a number of seconds, found {text!r}"
            ) from None
        if not 0 < value <= most:
            raise argparse.ArgumentTypeError(f"expected seconds in (0, {most:g}], found {text}")
        return value

    return seconds


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
    from derive.training.train import Options, run_train

    options = Options(
        dataset=args.dataset,
        data=args.data,
        target=args.target,
        test_size=args.test_size,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        save=args.save,
        plots=args.plots,
    )
    return run_train(args.spec, options)


def _derivations(args: argparse.Namespace) -> int:
    from derive.derivations import run_derivations

    return run_derivations(args.ids, args.format)


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
        print(f"derive: error: {escape(str(exc))}", file=sys.stderr)  # one line, always
        return 2
    except KeyboardInterrupt:
        print("derive: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
