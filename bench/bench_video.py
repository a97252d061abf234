"""``facert video`` frames/s per model on a generated 640x360 clip with faces, against the naive way.

For each model, on the same clip (two real faces, ~130 px: one moving 3 px a frame throughout,
one shown for the middle third; 2 levels of sensor noise; an AAC track), in one process:

- naive: decode, ``Pipeline.enhance`` frame by frame, encode, one thread (what a script would do);
- video: :func:`facert.pipeline.video.restore_video` (what ``facert video`` runs: decoding and
  encoding in their own threads, tracks, smoothed landmarks; its default ``--batch 1``, one face
  per restorer call);
- video --batch 4: the same, 4 faces per restorer call gathered across frames;
- video --every 3: the detector on every third frame only.

Each way runs ``--rounds`` times in a rotating order; the fastest round of each is shown.

It prints frames/s, the ratio to the naive way, the flicker measure (restored face region's
frame-to-frame change minus the input's, uint8 levels) and seconds per stage, with the CPU's
features and the load average (timings on a shared machine are indicative only).

    .venv/bin/python bench/bench_video.py [--models ispl wipa gfpgan] [--frames 12] [--rounds 2]
        [--workdir DIR] [--backend ort] [--precision fp32]

gfpgan is GFPGAN v1.4 at full size with the deterministic fill in the official layout
(bench/learned_models.py): exported once into ``--workdir`` (default ``~/.cache/facert-bench``, as
bench_learned.py; minutes the first time), so it needs torch; compute does not depend on the values.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facert.backends.device import SHOWN_FLAGS, cpu_description, split_flags
from facert.config import Settings, load_settings
from facert.io.video import EncodeOptions, read_frames
from facert.io.yuv import bgr_to_frame
from facert.models.exporting import ensure_artifact
from facert.models.registry import get_spec
from facert.pipeline.flicker import FlickerMeter
from facert.pipeline.frame import Pipeline
from facert.pipeline.stream import StreamConfig, StreamPipeline
from facert.pipeline.video import restore_video

HERE = Path(__file__).resolve().parent
FACES = HERE.parent / "tests" / "data" / "faces"
SIZE = (640, 360)
RATE = 25
ENCODE = EncodeOptions(preset="veryfast")  # the same encoder for both ways


def say(line: str) -> None:
    print(line, flush=True)


def clip_frames(count: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` BGR frames of :data:`SIZE`: grace_hopper (130 px) moving right 3 px a frame, the
    astronaut (120 px, still) in the middle third, over a grey ramp with 2 levels of noise."""
    rng = np.random.default_rng(seed)
    grace = cv2.resize(cv2.imread(str(FACES / "grace_hopper_512.png")), (130, 130), cv2.INTER_AREA)
    astronaut = cv2.resize(cv2.imread(str(FACES / "astronaut_512.png")), (120, 120), cv2.INTER_AREA)
    ramp = np.linspace(50, 190, SIZE[0], dtype=np.float32)
    frames = []
    for i in range(count):
        frame = np.repeat(np.repeat(ramp[None, :, None], SIZE[1], 0), 3, 2)
        x = 60 + 3 * i
        frame[60:190, x : x + 130] = grace
        if count // 3 <= i < 2 * count // 3:
            frame[200:320, 460:580] = astronaut
        frame = frame + rng.normal(0.0, 2.0, frame.shape)
        frames.append(np.clip(np.rint(frame), 0, 255).astype(np.uint8))
    return frames


def write_clip(path: Path, frames: list[np.ndarray]) -> None:
    """H.264 (ultrafast, CRF 18) at :data:`RATE` fps with a 440 Hz AAC tone as long as the video."""
    import av

    with av.open(str(path), mode="w") as out:
        video = out.add_stream("libx264", rate=RATE, options={"preset": "ultrafast", "crf": "18"})
        video.width, video.height, video.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        sound = out.add_stream("aac", rate=48000)
        for i, bgr in enumerate(frames):
            frame = bgr_to_frame(bgr, "yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, RATE)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        samples = 0.3 * np.sin(2 * np.pi * 440 * np.arange(len(frames) * 48000 // RATE) / 48000)
        for start in range(0, len(samples) - 1023, 1024):
            block = av.AudioFrame.from_ndarray(
                samples[start : start + 1024].astype(np.float32)[None], format="fltp", layout="mono"
            )
            block.sample_rate, block.pts = 48000, start
            out.mux(sound.encode(block))
        out.mux(sound.encode(None))


def naive(pipeline: Pipeline, src: Path, dst: Path) -> dict[str, Any]:
    """Decode, enhance each frame, encode, in one thread."""
    import av

    began = time.perf_counter()
    meter, frames, faces = FlickerMeter(), 0, 0
    with av.open(str(dst), mode="w") as out:
        stream = out.add_stream(ENCODE.codec, rate=RATE, options=ENCODE.codec_options())
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], ENCODE.pix_fmt
        for decoded in read_frames(src):
            result = pipeline.enhance(decoded.bgr)
            meter.add(decoded.bgr, result.image, [face.box for face in result.faces])
            frame = bgr_to_frame(result.image, ENCODE.pix_fmt)
            frame.pts, frame.time_base = decoded.pts, decoded.time_base
            out.mux(stream.encode(frame))
            frames, faces = frames + 1, faces + len(result.faces)
        out.mux(stream.encode(None))
    seconds = time.perf_counter() - began
    return {"frames": frames, "faces": faces, "fps": frames / seconds, "flicker": meter.report.mean}


def streamed(
    pipeline: Pipeline, src: Path, dst: Path, every: int, batch: int | None
) -> dict[str, Any]:
    stream = StreamPipeline(pipeline, StreamConfig(every=every, batch=batch)).open()
    report = restore_video(stream, src, dst, ENCODE)  # the pipeline stays open: opened by bench
    return {
        "frames": report.frames,
        "faces": report.faces,
        "fps": report.fps,
        "flicker": report.flicker.mean,
        "stages": report.timings,
    }


# (label, None for the naive way or (every, batch) for facert video's)
WAYS: list[tuple[str, tuple[int, int | None] | None]] = [
    ("naive (enhance per frame)", None),
    ("facert video", (1, 1)),  # its default: --batch 1
    ("facert video --batch 4", (1, 4)),
    ("facert video --every 3", (3, 1)),
]


def open_model(name: str, settings: Settings, args: argparse.Namespace) -> Pipeline:
    if name in ("ispl", "wipa"):
        ensure_artifact(get_spec(name), settings.cache_dir)
        return Pipeline.open(settings, name, backend=args.backend, precision=args.precision)
    sys.path.insert(0, str(HERE))
    from learned_models import BY_LABEL, checkpoint_path, ensure_export

    model = BY_LABEL[name]
    ensure_export(model, args.workdir, log=say)
    cache = args.workdir / "cache"
    mtcnn = cache / "mtcnn"
    if not mtcnn.exists():  # the detector from the user's cache, linked in
        mtcnn.symlink_to(settings.cache_dir / "mtcnn", target_is_directory=True)
    learned = dataclasses.replace(settings, cache_dir=cache)
    weights = checkpoint_path(model, args.workdir)
    return Pipeline.open(
        learned, model.spec_name, weights=weights, backend=args.backend, precision=args.precision
    )


def bench(name: str, src: Path, folder: Path, settings: Settings, args: argparse.Namespace) -> None:
    """Each way ``args.rounds`` times, in a rotating order (a load that changes during the run
    falls on every way alike); the fastest round of each is shown."""
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    best: dict[str, dict[str, Any]] = {}
    with open_model(name, settings, args) as pipeline:
        pipeline.enhance(next(read_frames(src)).bgr)  # warm-up: first runs allocate
        for round_ in range(args.rounds):
            for label, way in WAYS[round_ % len(WAYS) :] + WAYS[: round_ % len(WAYS)]:
                dst = folder / f"{name}-{len(best)}.mp4"
                row = (
                    naive(pipeline, src, dst) if way is None else streamed(pipeline, src, dst, *way)
                )
                if label not in best or row["fps"] > best[label]["fps"]:
                    best[label] = row
    say(f"\n{name} (load average before: {load}; best of {args.rounds} rounds)")
    say(
        f"  {'way':28} {'frames/s':>9} {'x naive':>8} {'faces':>6} {'flicker':>8}  seconds per stage"
    )
    plain = best[WAYS[0][0]]["fps"]
    for label, _ in WAYS:
        row = best[label]
        stages = " ".join(f"{k} {v:.2f}" for k, v in row.get("stages", {}).items())
        say(
            f"  {label:28} {row['fps']:9.2f} {row['fps'] / plain:8.2f} {row['faces']:6d} "
            f"{row['flicker']:+8.3f}  {stages}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["ispl", "wipa", "gfpgan"])
    parser.add_argument("--frames", type=int, default=12, help="clip length (default 12)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each way (default 2)")
    parser.add_argument("--backend", default="ort")
    parser.add_argument("--precision", default="fp32")
    cache_home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    parser.add_argument("--workdir", type=Path, default=cache_home / "facert-bench")
    args = parser.parse_args()
    has, lacks = split_flags(SHOWN_FLAGS)
    present, absent = " ".join(has) or "none", " ".join(lacks) or "none"
    say(f"CPU: {cpu_description()}, {os.cpu_count()} logical cores")
    say(f"instructions present: {present}; absent: {absent}")
    say(
        f"clip: {SIZE[0]}x{SIZE[1]}, {args.frames} frames at {RATE} fps, 2 faces; {args.backend} "
        f"{args.precision}; encoder {ENCODE.codec} {ENCODE.preset} CRF {ENCODE.crf}"
    )
    settings = load_settings()
    with tempfile.TemporaryDirectory(prefix="facert-bench-video-") as tmp:
        folder = Path(tmp)
        src = folder / "clip.mp4"
        write_clip(src, clip_frames(args.frames))
        for name in args.models:
            bench(name, src, folder, settings, args)


if __name__ == "__main__":
    main()
