"""``facert eval``: the papers' synthetic protocol on clean photos, every model, PSNR/SSIM, a table
and a contact sheet (:mod:`facert.evaluation.run` describes the output folder)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from facert.cli.engines import add_engine_arguments, report
from facert.cli.enhance import add_paste_arguments
from facert.config import Settings
from facert.errors import UsageError
from facert.io.files import write_atomic
from facert.io.images import IMAGE_SUFFIXES
from facert.models.registry import get_spec


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "eval",
        help="degrade clean photos (GFPGAN/CodeFormer protocol), restore, score PSNR/SSIM",
        description="Degrade clean photos with the papers' seeded synthetic protocol (blur, "
        "downsampling, noise, JPEG), restore the degraded copies with every model through the full "
        "pipeline, and score PSNR and SSIM over the faces and the whole image against the clean "
        "photo. Writes OUT/clean, OUT/input, OUT/<model>, eval.json, eval.md, contact-sheet.png.",
    )
    parser.add_argument(
        "--clean",
        type=Path,
        metavar="DIR",
        help="folder of clean photos (default: the bundled "
        "sample photos of matplotlib and scikit-image)",
    )
    parser.add_argument(
        "--degrade",
        default="gfpgan",
        metavar="PRESET",
        help="gfpgan (default; GFPGAN's training ranges), codeformer (CodeFormer's), or mild",
    )
    parser.add_argument("--seed", type=int, default=0, help="degradation seed (default 0)")
    parser.add_argument(
        "--models",
        nargs="+",
        metavar="NAME",
        help="restorers (default: ispl, wipa and every other restorer exported in the cache)",
    )
    parser.add_argument("-o", "--out", type=Path, default=Path("eval-out"), metavar="OUT")
    add_paste_arguments(parser)  # as enhance's; the seam is measured along the mask's border
    add_engine_arguments(parser)
    parser.set_defaults(run=run)


def clean_sources(folder: Path | None) -> list[tuple[str, Path]]:
    """(name, file) of each clean photo: the folder's image files by name, or the samples."""
    if folder is None:
        from facert.demo.samples import SAMPLES, photo_path

        return [(name, photo_path(name)) for name in sorted(SAMPLES)]
    if not folder.is_dir():
        raise UsageError("--clean must be a folder of photos", path=str(folder))
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UsageError(f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))})", path=str(folder))
    sources, seen = [], set()
    for path in files:
        name = path.stem if path.stem not in seen else f"{path.stem}{path.suffix.replace('.', '-')}"
        seen.add(name)
        sources.append((name, path))
    return sources


def default_models(settings: Settings) -> list[str]:
    from facert.benchmark.matrix import DEFAULT

    return DEFAULT.model_names(settings.cache_dir)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from facert.demo.protocol import get_preset
    from facert.evaluation.run import Paste, evaluate, load_clean
    from facert.evaluation.sheet import contact_sheet, markdown

    preset = get_preset(args.degrade)
    models = args.models or default_models(settings)
    for name in models:  # every name a registered restorer: exit 2 before any work
        if get_spec(name).role != "restorer":
            raise UsageError(f"{name} is a {get_spec(name).role}, not a restorer")
    if args.mask == "parse":  # ParseNet in the cache (exported if need be): exit 2 before any work
        from facert.stages.blend.parse import build_parser

        build_parser(settings.cache_dir, settings.threads)
    images, errors = load_clean(settings, clean_sources(args.clean), report)
    for error in errors:
        print(f"facert: error: {error}", file=sys.stderr)
    if not images:
        print("facert: no clean photo could be read", file=sys.stderr)
        return 1
    document = evaluate(
        settings,
        images,
        preset,
        args.seed,
        models,
        args.out,
        (args.backend, args.precision),
        report,
        Paste(args.mask, args.color_correction),
    )
    document["unreadable"] = errors
    text = json.dumps(document, indent=1) + "\n"
    write_atomic(args.out / "eval.json", lambda tmp: tmp.write_text(text))
    table = markdown(document)
    write_atomic(args.out / "eval.md", lambda tmp: tmp.write_text(table))
    contact_sheet(args.out, document)
    print(table)
    return 1 if errors else 0
