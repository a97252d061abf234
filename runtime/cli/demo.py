"""``facert demo``: the main job on the embedded default, with measured quality."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from facert.config import Settings


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "demo",
        help="restore damaged copies of sample photos and print PSNR/SSIM",
        description="Damages grace_hopper.jpg (matplotlib) and astronaut.png (scikit-image) with "
        "documented synthetic degradations (blur + noise + JPEG for ISPL; noise + scratches + "
        "fading for WIPA), restores them with the full pipeline, writes clean, degraded, restored "
        "and side-by-side images, and prints PSNR and SSIM against the clean photos.",
    )
    parser.add_argument("-o", "--output", type=Path, default=Path("demo-out"), metavar="OUTDIR")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic degradations")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from facert.demo.cases import CASES, format_table, run_case
    from facert.demo.paste_case import run_paste_case
    from facert.io.jobs import check_writable

    check_writable(args.output)
    results = [run_case(case, settings, args.output, args.seed) for case in CASES]
    print(format_table(results))
    paste = run_paste_case(settings, args.output)
    print(f"\npaste-back ({paste.file.name}): " + "; ".join(paste.panels[1:]))
    if paste.note:
        print(paste.note)
    print(f"\nimages written to {args.output}/")
    return 0
