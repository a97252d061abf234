"""``facert bench``: latency and accuracy over a declared matrix; ``--compare`` against a baseline.

    facert bench [--matrix default|full|FILE.json] [--part accuracy|latency] [-o OUT]
                 [--compare BASELINE.json] [--current RUN.json]

Writes OUT (a .json file, or a folder: ``<fingerprint>.json`` in it; default ``bench.json``) with
``.md`` and ``.png`` beside it; progress on stderr. With ``--compare`` prints the table of changes
and exits 1 on a regression (the rules: :mod:`facert.benchmark.compare`); ``--current`` compares an
earlier run's document instead of running. A bad baseline: one line, exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from facert.cli.engines import report
from facert.config import Settings
from facert.errors import UsageError
from facert.io.files import write_atomic


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "bench",
        help="latency and accuracy benchmark; --compare against a baseline",
        description="Run a matrix of models x backends x precisions x batch sizes x frame sizes: "
        "per-stage latency percentiles, throughput, peak memory, and accuracy against FP32 on the "
        "fixed check faces, into one JSON document with a Markdown report and a PNG plot beside "
        "it. --compare BASELINE.json exits 1 on a regression.",
    )
    parser.add_argument(
        "--matrix",
        default="default",
        metavar="NAME|FILE",
        help="default (a few minutes on 2 cores), full (for a release), or a JSON matrix file",
    )
    parser.add_argument(
        "--part",
        choices=("all", "accuracy", "latency"),
        default="all",
        help="run only the accuracy rows (deterministic: what CI compares) or the latency cases",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("bench.json"),
        metavar="OUT",
        help="the JSON document (or a folder: <fingerprint>.json in it); .md and .png beside it",
    )
    parser.add_argument("--no-plot", action="store_true", help="write no PNG plot")
    parser.add_argument("--compare", type=Path, metavar="BASELINE", help="a baseline document")
    parser.add_argument(
        "--current", type=Path, metavar="RUN", help="with --compare: this document, not a new run"
    )
    parser.set_defaults(run=run)


def _write(document: dict[str, Any], output: Path, plot: bool) -> Path:
    from facert.benchmark.report import markdown
    from facert.benchmark.report import plot as draw

    if output.is_dir():
        output = output / f"{document['machine']['fingerprint']}.json"
    text = json.dumps(document, indent=1) + "\n"
    write_atomic(output, lambda tmp: tmp.write_text(text))
    report_text = markdown(document)
    write_atomic(output.with_suffix(".md"), lambda tmp: tmp.write_text(report_text))
    if plot and (document["latency"] or document["accuracy"]):
        write_atomic(output.with_suffix(".png"), lambda tmp: draw(document, tmp))
    return output


def run(args: argparse.Namespace, settings: Settings) -> int:
    from facert.benchmark.compare import compare, load_document
    from facert.benchmark.matrix import load_matrix
    from facert.benchmark.run import PARTS, run_benchmark

    baseline = load_document(args.compare) if args.compare is not None else None
    if args.current is not None:
        if baseline is None:
            raise UsageError("--current compares a document: give --compare BASELINE too")
        current = load_document(args.current)
    else:
        matrix = load_matrix(args.matrix)
        parts = PARTS if args.part == "all" else (args.part,)
        current = run_benchmark(settings, matrix, parts, report=report)
        written = _write(current, args.output, not args.no_plot)
        print(f"wrote {written} (+ .md{'' if args.no_plot else ', .png'})", file=sys.stderr)
    if baseline is None:
        return 0
    try:
        comparison = compare(baseline, current)
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(
            f"malformed benchmark rows ({type(exc).__name__}: {exc})", path=str(args.compare)
        ) from None
    print(comparison.table())
    return 1 if comparison.regressions else 0
