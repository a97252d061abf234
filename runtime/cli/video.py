"""``facert video IN -o OUT``: restore the faces of a video through the stream pipeline."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

from facert.cli.engines import add_engine_arguments
from facert.cli.enhance import add_restorer_arguments, open_pipeline
from facert.config import Settings
from facert.errors import UsageError

if TYPE_CHECKING:
    from facert.io.video import Progress
    from facert.pipeline.frame import Pipeline
    from facert.pipeline.video import VideoReport

REDRAW_SECONDS = 0.25  # the progress line is redrawn at most 4 times a second


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {text!r}")
    return value


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "video",
        help="restore the faces in a video",
        description="Decode, restore (faces batched across frames, tracked, landmarks smoothed) "
        "and re-encode a video; audio and subtitle streams are copied packet for packet, every "
        "frame keeps its timestamp (variable frame rate included) and the rotation is kept. "
        "OUT is written through a temporary file and a rename: nothing is left at OUT on an "
        "error or Ctrl-C.",
    )
    parser.add_argument("input", type=Path, metavar="IN", help="a video file")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT")
    add_restorer_arguments(parser, upscale=False)
    add_engine_arguments(parser)
    parser.add_argument(
        "--every",
        type=int,
        default=1,
        metavar="N",
        help="run the face detector on every N-th frame only; the frames between restore the "
        "tracked faces carried forward (default 1: every frame). Faster by the detector's share; "
        "a new face is picked up up to N-1 frames late",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=1,
        metavar="N",
        help="the most faces per restorer call, gathered across consecutive frames (at most 4 "
        "frames held). Default 1: on CPUs batches gained nothing (measured on 2 cores; under "
        "heavy load 4 faces per call took 2-3.7x as long); larger batches are for GPU engines",
    )
    parser.add_argument("--start", type=_seconds, metavar="S", help="restore from S seconds")
    parser.add_argument("--duration", type=_seconds, metavar="D", help="restore D seconds")
    parser.add_argument("--codec", default="libx264", help="video encoder (default: libx264)")
    parser.add_argument("--crf", type=int, default=18, help="encoder quality (default: 18)")
    parser.add_argument("--preset", default="medium", help="encoder preset (default: medium)")
    parser.add_argument("--pix-fmt", default="yuv420p", help="pixel format (default: yuv420p)")
    parser.set_defaults(run=run)


class VideoProgress:
    """Frames done/total, frames/s and ETA on one line of a terminal, redrawn at most every
    ``interval`` seconds; silent when ``stream`` is not a terminal."""

    def __init__(self, stream: TextIO | None = None, interval: float = REDRAW_SECONDS) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.active = self.stream.isatty()
        self.interval = interval
        self.drawn = -float("inf")
        self.draws = 0

    def update(self, progress: Progress) -> None:
        now = time.perf_counter()
        last = progress.total is not None and progress.frames >= progress.total
        if not self.active or (now - self.drawn < self.interval and not last):
            return
        self.drawn = now
        self.draws += 1
        total = f"/{progress.total}" if progress.total else ""
        eta = "" if progress.eta is None else f", ETA {_clock(progress.eta)}"
        line = f"frames {progress.frames}{total}, {progress.fps:.1f} frames/s{eta}"
        self.stream.write(f"\r\x1b[K{line}")
        self.stream.flush()

    def finish(self) -> None:
        if self.active and self.draws:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return (
        f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"
        if minutes >= 60
        else f"{minutes}:{secs:02d}"
    )


def summary(report: VideoReport) -> str:
    """The closing line: frames, faces, speed, flicker, seconds per stage."""
    stages = ", ".join(f"{name} {seconds:.2f}" for name, seconds in report.timings.items())
    pairs = len(report.flicker.per_pair)
    return (
        f"{report.frames} frames, {report.faces} faces restored, {report.fps:.2f} frames/s "
        f"({report.seconds:.1f} s), flicker {report.flicker.mean:+.3f} levels over {pairs} "
        f"frame pairs (restored face change minus the input's); seconds per stage: {stages}"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from facert.io.video import EncodeOptions, check_paths, probe
    from facert.io.video_encode import check_encoder
    from facert.pipeline.stream import StreamConfig, StreamPipeline
    from facert.pipeline.video import restore_video

    if args.every < 1:
        raise UsageError(
            f"--every must be at least 1 (detect on every N-th frame), got {args.every}"
        )
    if args.batch is not None and args.batch < 1:
        raise UsageError(f"--batch must be at least 1 face, got {args.batch}")
    if args.duration is not None and args.duration <= 0:
        raise UsageError(f"--duration must be > 0 seconds, got {args.duration:g}")
    options = EncodeOptions(args.codec, args.crf, args.preset, args.pix_fmt)
    check_encoder(options)
    check_paths(args.input, args.output)
    probe(args.input)  # an unreadable input fails here, before the models are loaded
    pipeline = cast("Pipeline", open_pipeline(args, settings))
    progress = VideoProgress()
    config = StreamConfig(every=args.every, batch=args.batch)
    with StreamPipeline(pipeline, config) as stream:
        try:
            report = restore_video(
                stream,
                args.input,
                args.output,
                options,
                progress=progress.update,
                start=args.start,
                duration=args.duration,
            )
        finally:
            progress.finish()
    print(summary(report))
    return 0
