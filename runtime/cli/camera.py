"""``facert camera --source 0|FILE|URL [--output window|FILE|virtual]``: restore the faces of a live
source as it comes, showing the newest frame (older ones are dropped, never queued)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from facert.cli.engines import add_engine_arguments, report
from facert.cli.enhance import add_restorer_arguments, open_pipeline
from facert.config import Settings
from facert.errors import UnsupportedError, UsageError
from facert.io.camera import Capture, OpenCvSource
from facert.io.camera_live import LiveOptions, LiveStats, live_config, run_live
from facert.io.camera_sinks import Sink, open_sink

LIVE_MAX_FRAMES = 1


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "camera",
        help="restore the faces of a live camera, video file or stream as it plays",
        description="Capture in a thread of its own keeping only the newest frame (frames the "
        "pipeline cannot keep up with are dropped, never queued: the latency stays bounded), "
        "restore its faces, draw the fps and per-stage latency on it, and show it. Ctrl-C stops "
        "(a file being written is then discarded); so does q in the window.",
    )
    parser.add_argument(
        "--source",
        required=True,
        help="a camera index (0), a video file, a URL (rtsp://...), or a GStreamer pipeline "
        "ending in appsink (needs an OpenCV built with GStreamer, e.g. JetPack's)",
    )
    parser.add_argument(
        "--output",
        default="window",
        help="window (default; needs opencv-python, not -headless), virtual (a virtual camera: "
        "the camera extra, v4l2loopback on Linux), or a video FILE (.mp4, .mkv; written "
        "atomically)",
    )
    add_restorer_arguments(parser, upscale=False)
    add_engine_arguments(parser)
    parser.add_argument(
        "--max-frames",
        type=int,
        default=LIVE_MAX_FRAMES,
        metavar="N",
        help="frames held to batch their faces (default 1: each frame restored as soon as it "
        "comes; more adds up to N-1 frame intervals of latency)",
    )
    parser.add_argument("--no-overlay", action="store_true", help="no fps/latency overlay")
    parser.add_argument("--frames", type=int, metavar="N", help="stop after N frames shown")
    parser.add_argument(
        "--fps",
        type=float,
        metavar="F",
        help="play a file source at F frames/s (default: its own rate; 0: as fast as it "
        "decodes); ask a camera for F",
    )
    parser.set_defaults(run=run)


def _check(args: argparse.Namespace) -> None:
    if args.max_frames < 1:
        raise UsageError(f"--max-frames must be at least 1, got {args.max_frames}")
    if args.frames is not None and args.frames < 1:
        raise UsageError(f"--frames must be at least 1, got {args.frames}")
    if args.fps is not None and args.fps < 0:
        raise UsageError(f"--fps must be 0 or more, got {args.fps:g}")
    output, source = Path(args.output), Path(args.source)
    named = args.output not in ("window", "virtual") and output.exists() and source.exists()
    if named and output.resolve() == source.resolve():
        raise UsageError("the output would overwrite the source", path=args.output)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from facert.pipeline.frame import Pipeline
    from facert.pipeline.stream import StreamPipeline

    _check(args)
    source = OpenCvSource(args.source, args.fps)
    sink: Sink = open_sink(args.output)
    options = LiveOptions(overlay=not args.no_overlay, frames=args.frames)
    stats = LiveStats()
    with Capture(source) as capture:  # a source that cannot be opened: one line, exit 1
        try:
            sink.open(source.size, source.rate)
            with open_pipeline(args, settings) as pipeline:
                if not isinstance(pipeline, Pipeline):
                    raise UnsupportedError("facert camera runs on the CPU pipeline")
                with StreamPipeline(pipeline, live_config(args.max_frames)) as stream:
                    report(f"camera: {args.source} -> {args.output} (Ctrl-C to stop)")
                    run_live(capture, stream, sink, options, stats)
        except KeyboardInterrupt:
            sink.abort()
            capture.close()
            stats.count(capture)
            print(stats.summary(), flush=True)
            raise
        except BaseException:
            sink.abort()
            raise
    stats.count(capture)
    sink.close()
    print(stats.summary())
    return 0
