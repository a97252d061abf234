"""``facert enhance INPUT... -o OUTDIR``: restore the faces in photos and folders of photos."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from facert.cli.detect import add_face_filters
from facert.cli.engines import add_engine_arguments, report
from facert.config import Settings
from facert.errors import FacertError, UsageError
from facert.io.images import LoadedImage, read_image, write_image
from facert.io.jobs import Job, check_writable, plan_jobs
from facert.models.registry import get_spec
from facert.models.specs import DEFAULT_DETECTOR, DEFAULT_RESTORER
from facert.stages.blend.color import METHODS
from facert.stages.blend.parse import MASKS
from facert.stages.restore.background import BACKGROUNDS

if TYPE_CHECKING:
    from facert.pipeline.frame import Pipeline
    from facert.pipeline.gpu_frame import GpuPipeline


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "enhance",
        help="restore the faces in images and folders",
        description="Detect, align, restore and blend back every face. Outputs keep each input's "
        "relative name under OUTDIR and are written atomically; inputs are never overwritten.",
    )
    parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="images or folders")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUTDIR")
    add_restorer_arguments(parser)
    add_engine_arguments(parser)
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="cpu (default); cuda: the whole frame pipeline on an NVIDIA GPU (one upload, "
        "detection, crops, restorer and blend on the GPU, one download) with --backend auto, trt "
        "or torch; learned restorers at --upscale 1 (ISPL and WIPA run on the CPU)",
    )
    parser.set_defaults(run=run)


def add_restorer_arguments(parser: argparse.ArgumentParser, *, upscale: bool = True) -> None:
    """The restorer, detector and face choices every front end offers (read by
    :func:`open_pipeline`); without ``upscale`` the output keeps the input's size."""
    parser.add_argument(
        "--model", default=DEFAULT_RESTORER, help=f"restorer (default: {DEFAULT_RESTORER})"
    )
    parser.add_argument(
        "--weights",
        type=Path,
        help="official checkpoint for learned models (psfrgan: the folder holding its two files)",
    )
    parser.add_argument(
        "--detector",
        default=DEFAULT_DETECTOR,
        metavar="NAME",
        help=f"face detector (default: {DEFAULT_DETECTOR})",
    )
    if upscale:
        parser.add_argument("--upscale", type=float, default=1.0, help="output size factor (1..8)")
    else:
        parser.set_defaults(upscale=1.0)
    faces = parser.add_mutually_exclusive_group()
    faces.add_argument("--only-center-face", action="store_true", help="restore one face only")
    faces.add_argument("--largest-face", action="store_true", help="restore the largest face only")
    parser.add_argument("--min-face", type=float, help="smallest face to detect, in pixels")
    add_face_filters(parser)
    add_paste_arguments(parser)
    parser.add_argument(
        "--background",
        choices=BACKGROUNDS,
        help="the rest of the photo: none (its own pixels; nearest neighbour above --upscale 1), "
        "upscale (bicubic resize), restore (restored too: WIPA's whole-photo stage, ISPL tiled "
        "over the photo). Default: restore for wipa, else upscale",
    )
    parser.add_argument(
        "--option", action="append", default=[], metavar="NAME=VALUE", help="a model option"
    )
    parser.add_argument("--fidelity", type=float, help="CodeFormer's fidelity weight w in [0, 1]")


def add_paste_arguments(parser: argparse.ArgumentParser) -> None:
    """``--color-correction`` and ``--mask``: how restored faces are pasted back."""
    parser.add_argument(
        "--color-correction",
        choices=METHODS,
        default="none",
        help="match each restored face's colours to the input face's before pasting (none)",
    )
    add_mask_argument(parser)


def add_mask_argument(parser: argparse.ArgumentParser) -> None:
    """``--mask square|parse``, the paste mask (read into ``EnhanceOptions.mask``)."""
    parser.add_argument(
        "--mask",
        choices=MASKS,
        default="square",
        help="paste mask: square (facexlib's feathered square, default) or parse (facexlib's "
        "face-parsing mask of each restored face; needs `facert models fetch parsenet`)",
    )


@dataclass
class Summary:
    images: int = 0
    faces: int = 0
    without_faces: int = 0
    failures: int = 0

    def line(self, seconds: float) -> str:
        return (
            f"{self.images} image{'s' * (self.images != 1)}, {self.faces} face"
            f"{'s' * (self.faces != 1)} restored, {self.without_faces} without faces, "
            f"{self.failures} failure{'s' * (self.failures != 1)}, {seconds:.1f} s"
        )


class Progress:
    """A one-line progress bar on a terminal (redrawn in place); silent when ``stream`` is not one."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 30) -> None:
        self.total, self.width = total, width
        self.stream = sys.stderr if stream is None else stream
        self.active = total > 1 and self.stream.isatty()
        self.start = time.perf_counter()

    def update(self, done: int, name: str) -> None:
        if not self.active:
            return
        filled = self.width * done // self.total
        rate = done / max(time.perf_counter() - self.start, 1e-9)
        bar = "#" * filled + "-" * (self.width - filled)
        line = f"[{bar}] {done}/{self.total} {rate:.2f} img/s {name}"[:100]
        self.stream.write(f"\r\x1b[K{line}")
        self.stream.flush()

    def error(self, message: str) -> None:
        """Print ``message`` on its own line, above the bar."""
        self.stream.write(("\r\x1b[K" if self.active else "") + message + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.active:
            self.stream.write("\n")
            self.stream.flush()


def _process(
    pipeline: Pipeline | GpuPipeline, job: Job, settings: Settings, summary: Summary
) -> None:
    image = read_image(job.source, settings.max_pixels)
    result = pipeline.enhance(image.bgr)
    write_image(job.target, LoadedImage(result.image, image.alpha, image.bit_depth))
    summary.images += 1
    summary.faces += len(result.faces)
    summary.without_faces += not result.faces


def open_pipeline(args: argparse.Namespace, settings: Settings) -> Pipeline | GpuPipeline:
    """The pipeline :func:`add_restorer_arguments` and the engine arguments describe, open;
    ``--device cuda`` (enhance only) opens the GPU frame pipeline."""
    from facert.pipeline.frame import EnhanceOptions, Pipeline
    from facert.pipeline.gpu_frame import GpuPipeline
    from facert.stages.restore.restorer import parse_options

    spec = get_spec(args.model)
    assignments = list(args.option)
    if args.fidelity is not None:
        assignments.append(f"fidelity={args.fidelity}")
    model_options = parse_options(spec, assignments)
    detector_options = {} if args.min_face is None else {"min_face_size": args.min_face}
    options = EnhanceOptions(
        upscale=args.upscale,
        only_center_face=args.only_center_face,
        largest_face=args.largest_face,
        color_correction=args.color_correction,
        max_face_size=args.max_face,
        min_score=args.min_score,
        background=args.background,
        mask=args.mask,
    )
    if args.weights is not None and not args.weights.exists():
        raise UsageError("no such weights file", path=str(args.weights))
    opener = GpuPipeline.open if getattr(args, "device", "cpu") == "cuda" else Pipeline.open
    return opener(
        settings,
        args.model,
        weights=args.weights,
        detector=args.detector,
        model_options=model_options,
        detector_options=detector_options,
        options=options,
        precision=args.precision,
        backend=args.backend,
        report=report,
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    with open_pipeline(args, settings) as pipeline:  # model, options, weights: exit 2 if wrong
        check_writable(args.output)
        jobs, errors = plan_jobs(args.inputs, args.output)
        summary = Summary(failures=len(errors))
        progress = Progress(len(jobs))
        for error in errors:
            progress.error(f"facert: error: {error}")
        for index, job in enumerate(jobs, 1):
            try:
                _process(pipeline, job, settings, summary)
            except FacertError as exc:
                summary.failures += 1
                progress.error(f"facert: error: {exc}")
            progress.update(index, job.source.name)
        progress.finish()
    print(summary.line(time.perf_counter() - progress.start))
    return 1 if summary.failures else 0
