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


def make_clip(
    path: Path,
    pts: list[int],
    time_base: Fraction,
    *,
    audio: str | None = "aac",
    rotation: int = 0,
    rate: Fraction = Fraction(25),
    faststart: bool = False,
    subtitles: bool = False,
) -> None:
    """Write ``path`` (.mp4/.mkv): one frame per entry of ``pts`` (ticks of ``time_base``), H.264, and
    an ``audio`` track ("aac", "libopus" or None) of a 440 Hz tone as long as the video; ``faststart``
    puts an MP4's index before the media data (a cut file then still opens); ``subtitles`` adds a
    SubRip track (Matroska) of one line per 100 ms, muxed as packets (no subtitle encoder needed)."""
    import av

    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), mode="w", options=options) as out:
        video = out.add_stream("libx264", options={"preset": "ultrafast", "bf": "2"})
        video.width = video.height = SIZE
        video.pix_fmt = "yuv420p"
        video.time_base = time_base
        video.codec_context.time_base = time_base
        video.codec_context.framerate = rate
        if rotation:
            video.set_display_rotation(rotation)
        sound = out.add_stream(audio, rate=48000) if audio else None
        text = out.add_mux_stream("subrip") if subtitles else None
        for frame_pts, bgr in zip(pts, face_frames(len(pts)), strict=True):
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
