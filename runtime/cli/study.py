"""``facert study``: a blind pairwise user study of restorations, served on this machine.

The folder is scanned (every image decoded once; a bad one is skipped with a warning) and the
database opened before the server listens, so a wrong folder, a port in use or a foreign database
is a one-line error, exit 2. ``--results`` prints the scores of the votes so far and serves nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
from pathlib import Path
from typing import Any

from facert.config import Settings
from facert.errors import MissingDependencyError, UsageError


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "study",
        help="a blind A/B user study of restorations in the browser (votes in SQLite)",
        description="Serve a rating page on this machine: each screen shows an input and two "
        "restorations of it by different methods in a random, hidden order; the rater picks "
        "the better one or 'same' (keys 1/2/0 or arrows). Votes go to an SQLite file; /results "
        "shows win rates and Bradley-Terry scores with 95% intervals, /votes.csv the votes. "
        "DIR holds one folder per method with restorations under the same names, plus the "
        "optional folders input/ (shown as the reference) and clean/ (--show-clean).",
    )
    parser.add_argument("dir", type=Path, metavar="DIR", help="the study folder")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (8765; 0: any free one)")
    parser.add_argument(
        "--db", type=Path, help="the votes' SQLite file (default: DIR/study.sqlite)"
    )
    parser.add_argument(
        "--methods", nargs="+", default=[], metavar="M", help="compare only these method folders"
    )
    parser.add_argument("--rater", default="", help="the name the start page proposes")
    parser.add_argument(
        "--show-clean", action="store_true", help="show DIR/clean/ (the ground truth) too"
    )
    parser.add_argument("--results", action="store_true", help="print the results so far and exit")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    for module in ("fastapi", "uvicorn"):
        if importlib.util.find_spec(module) is None:
            raise MissingDependencyError(
                f"facert study needs {module}: pip install 'facert[serve]'"
            )
    from facert.study.db import StudyDB
    from facert.study.items import scan

    study = scan(args.dir.expanduser(), settings.max_pixels, tuple(args.methods))
    path = (args.db or study.root / "study.sqlite").expanduser()
    if path.is_dir() or not path.parent.is_dir():
        raise UsageError("the database must be a file in an existing folder", path=str(path))
    with StudyDB(path) as db:
        if args.results:
            print_results(study.methods, db)
            return 0
        return _serve(args, study, db, settings)


def print_results(methods: tuple[str, ...], db: Any) -> None:
    from facert.study.report import interval_text, results_of

    results = results_of(methods, db.votes())
    count = f"{results.votes} vote{'' if results.votes == 1 else 's'}"
    print(f"{count}; Bradley-Terry score, 95% bootstrap interval:")
    for s in results.scores:
        interval = interval_text(s.low, s.high)
        votes = f"{s.votes} vote{'' if s.votes == 1 else 's'}"
        print(f"  {s.method:<16} {s.score:+.2f} {interval:<16} {votes}")


def _serve(args: argparse.Namespace, study: Any, db: Any, settings: Settings) -> int:
    import uvicorn

    from facert.cli.serve import _bind  # the listening socket, bound before anything starts
    from facert.study.app import StudyOptions, create_app

    listener = _bind(args.host, args.port)
    try:
        options = StudyOptions(args.rater, args.show_clean, max_pixels=settings.max_pixels)
        app = create_app(study, db, options)
        host, port = listener.getsockname()[:2]
        items, methods = len(study.items), ", ".join(study.methods)
        print(
            f"facert: study of {items} items by {methods} on http://{host}:{port}/ "
            f"(votes in {db.path})",
            flush=True,
        )
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[listener])
    finally:
        listener.close()
    return 0
