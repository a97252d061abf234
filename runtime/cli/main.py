"""``facert``: the command-line entry point and its error handling.

Every failure facert can explain is a :class:`facert.errors.FacertError`: it is printed as one line
(``facert: error: <file>: <reason>``) and the process exits with its code (2 bad usage, 1 processing
failure). Anything else is a bug: one line too, unless ``--debug`` asks for the traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from facert import __version__
from facert.config import Settings, load_settings
from facert.errors import FacertError, UsageError

log = logging.getLogger("facert")


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of exiting, so errors print one way."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    from facert.cli import (
        bench,
        camera,
        demo,
        detect,
        doctor,
        enhance,
        evaluate,
        models,
        serve,
        study,
        video,
    )

    parser = _Parser(
        prog="facert",
        description="Fast, faithful face restoration. Restores the faces in photos with the "
        "embedded default (MTCNN detector + a weight-free restorer) or an official checkpoint.",
        epilog="Examples:\n  facert enhance photo.jpg -o out/\n  facert enhance old_photos/ -o "
        "out/ --model wipa --upscale 2\n  facert video film.mp4 -o restored.mp4\n"
        "  facert detect photo.jpg --json\n  facert models list\n  facert demo",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"facert {__version__}")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="cache for weights and exported models (default: $FACERT_CACHE or ~/.cache/facert)",
    )
    parser.add_argument("--threads", type=int, help="ONNX Runtime threads (default: all cores)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in (
        enhance,
        video,
        camera,
        serve,
        study,
        detect,
        models,
        demo,
        doctor,
        bench,
        evaluate,
    ):
        module.add_parser(commands)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings()
    if args.cache_dir is not None:
        settings = dataclasses.replace(settings, cache_dir=args.cache_dir.expanduser())
    if args.threads is not None:
        if args.threads < 0:
            raise UsageError(f"--threads must be 0 or more, got {args.threads}")
        settings = dataclasses.replace(settings, threads=args.threads)
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (also used as the process exit status)."""
    debug = False
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        debug = args.debug
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING,
            format="facert: %(message)s",
        )
        if args.command is None:
            parser.print_help()
            return 2
        code: int = args.run(args, _settings(args))
        return code
    except FacertError as exc:
        print(f"facert: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("facert: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`facert models list | head`): stop quietly, as
        # command-line tools do. Python would report the pipe again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool killed by the broken pipe
    except Exception as exc:
        if debug:
            raise
        print(
            f"facert: internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
