"""Tiny video clips made with PyAV for the video tests: a real face moving across the frame, with an
audio track of a tone; constant or variable frame rate; optional rotation metadata."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
from testdata import DATA

SIZE = 96  # frame width and height (even: yuv420p)
FACE = 48  # the face's side in the frame


def face_frames(count: int) -> list[np.ndarray]:
    """``count`` BGR frames of a face photo sliding from left to right over a grey ramp."""
    photo = cv2.imread(str(DATA / "faces" / "grace_hopper_512.png"), cv2.IMREAD_COLOR)
    face = cv2.resize(photo, (FACE, FACE), interpolation=cv2.INTER_AREA)
    ramp = np.linspace(40, 200, SIZE, dtype=np.uint8)
    frames = []
    for i in range(count):
        frame = np.repeat(np.repeat(ramp[None, :, None], SIZE, 0), 3, 2).copy()
        x = round(i * (SIZE - FACE) / max(1, count - 1))
        frame[24 : 24 + FACE, x : x + FACE] = face
        frames.append(frame)
    return frames


def scene_boxes(count: int, i: int, size: tuple[int, int] = (192, 112)) -> list[tuple[int, ...]]:
    """The ``x1, y1, x2, y2`` pixel boxes of the faces :func:`scene_frames` draws in frame ``i``:
    grace_hopper (56 px) sliding right by 4 px a frame (less when the clip is too long for
    that), the astronaut (48 px, still) from frame ``count // 3`` to ``2 * count // 3``."""
    width, height = size
    step = min(4.0, (width - 56) / max(1, count - 1))
    x = round(i * step)
    boxes = [(x, 8, x + 56, 64)]
    if count // 3 <= i < 2 * count // 3:
        boxes.append((width - 52, height - 52, width - 4, height - 4))
    return boxes


def scene_frames(count: int, size: tuple[int, int] = (192, 112)) -> list[np.ndarray]:
    """``count`` BGR frames of ``size`` (width, height) over a grey ramp with faces moving,
    appearing and leaving (:func:`scene_boxes`)."""
    faces = [
        cv2.imread(str(DATA / "faces" / name), cv2.IMREAD_COLOR)
        for name in ("grace_hopper_512.png", "astronaut_512.png")
    ]
    ramp = np.linspace(40, 200, size[0], dtype=np.uint8)
    frames = []
    for i in range(count):
        frame = np.repeat(np.repeat(ramp[None, :, None], size[1], 0), 3, 2).copy()
        for face, (x1, y1, x2, y2) in zip(faces, scene_boxes(count, i, size), strict=False):
            frame[y1:y2, x1:x2] = cv2.resize(face, (x2 - x1, y2 - y1), interpolation=cv2.INTER_AREA)
        frames.append(frame)
    return frames


def make_clip(
    path: Path,
    pts: list[int],
    time_base: Fraction,
    *,
    frames: list[np.ndarray] | None = None,
    audio: str | None = "aac",
    rotation: int = 0,
    rate: Fraction = Fraction(25),
    faststart: bool = False,
    subtitles: bool = False,
) -> None:
    """Write ``path`` (.mp4/.mkv): one frame per entry of ``pts`` (ticks of ``time_base``), H.264, and
    an ``audio`` track ("aac", "libopus" or None) of a 440 Hz tone as long as the video; ``faststart``
    puts an MP4's index before the media data (a cut file then still opens); ``subtitles`` adds a
    SubRip track (Matroska) of one line per 100 ms, muxed as packets (no subtitle encoder needed);
    ``frames`` (BGR, even sizes): the pictures, by default :func:`face_frames`."""
    import av

    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), mode="w", options=options) as out:
        video = out.add_stream("libx264", options={"preset": "ultrafast", "bf": "2"})
        pictures = face_frames(len(pts)) if frames is None else frames
        video.height, video.width = pictures[0].shape[:2]
        video.pix_fmt = "yuv420p"
        video.time_base = time_base
        video.codec_context.time_base = time_base
        video.codec_context.framerate = rate
        if rotation:
            video.set_display_rotation(rotation)
        sound = out.add_stream(audio, rate=48000) if audio else None
        text = out.add_mux_stream("subrip") if subtitles else None
        for frame_pts, bgr in zip(pts, pictures, strict=True):
            frame = av.VideoFrame.from_ndarray(bgr, format="bgr24")
            frame.pts, frame.time_base = frame_pts, time_base
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        seconds = float((pts[-1] + 1) * time_base)
        if sound is not None:
            _write_tone(out, sound, seconds)
        if text is not None:
            for k in range(int(seconds * 10)):
                packet = av.Packet(f"line {k}".encode())
                packet.pts = packet.dts = k * 100
                packet.duration, packet.time_base, packet.stream = 80, Fraction(1, 1000), text
                out.mux(packet)


def _write_tone(out: object, sound: object, seconds: float) -> None:
    import av

    rate, chunk = 48000, 960
    samples = np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate) * 0.3
    for start in range(0, len(samples) - chunk + 1, chunk):
        block = samples[start : start + chunk].astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = rate, start
        out.mux(sound.encode(frame))  # type: ignore[attr-defined]
    out.mux(sound.encode(None))  # type: ignore[attr-defined]


def damaged(
    src: Path,
    dst: Path,
    how: str,
    keep: Fraction = Fraction(1, 2),
    at: Fraction = Fraction(1, 3),
) -> Path:
    """``src`` written to ``dst`` "truncated" (its first ``keep`` of the bytes) or "corrupt" (2 kB
    scrambled at ``at`` of the file, in the media data)."""
    data = bytearray(src.read_bytes())
    if how == "truncated":
        data = data[: len(data) * keep.numerator // keep.denominator]
    else:
        middle = len(data) * at.numerator // at.denominator
        data[middle : middle + 2000] = bytes(
            (b * 7 + 13) % 256 for b in data[middle : middle + 2000]
        )
    dst.write_bytes(bytes(data))
    return dst
