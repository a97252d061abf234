"""The live overlay of ``facert camera``: frame rate, per-stage and end-to-end latency and dropped
frames, drawn in a dark band at the top left of the output frame."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# the stages shown, by StreamPipeline's timing names ("frame" is WIPA's whole-frame stage)
SHOWN_STAGES = (
    ("frame", "frame"),
    ("detect", "det"),
    ("align", "aln"),
    ("restore", "res"),
    ("blend", "bln"),
)


@dataclass(frozen=True)
class Meter:
    """What the overlay shows: frames/s, mean milliseconds per stage and end to end (over the
    recent frames), and the frames dropped so far."""

    fps: float
    stages_ms: dict[str, float]
    latency_ms: float
    dropped: int

    def lines(self) -> list[str]:
        stages = " ".join(
            f"{short} {self.stages_ms[name]:.0f}"
            for name, short in SHOWN_STAGES
            if name in self.stages_ms and (name != "frame" or self.stages_ms[name] > 0.05)
        )
        return [
            f"{self.fps:.1f} fps  e2e {self.latency_ms:.0f} ms  dropped {self.dropped}",
            f"{stages} ms",
        ]


def _font(width: int) -> tuple[float, int, int]:
    """Font scale, thickness and line height (pixels) for a frame ``width`` pixels wide."""
    scale = max(0.3, width / 1400)
    thickness = max(1, round(scale * 1.5))
    return scale, thickness, round(28 * scale) + 4


def overlay_box(width: int, height: int, lines: list[str]) -> tuple[int, int, int, int]:
    """(x1, y1, x2, y2) of the band :func:`draw_overlay` covers in a (height, width) frame."""
    scale, thickness, step = _font(width)
    text = max(
        cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)[0][0] for line in lines
    )
    return 0, 0, min(width, text + 8), min(height, step * len(lines) + 6)


def draw_overlay(frame: np.ndarray, meter: Meter) -> np.ndarray:
    """A copy of ``frame`` ((H, W, 3) uint8 BGR) with ``meter`` written on a darkened band at its
    top left (the rest of the frame is untouched)."""
    out = frame.copy()
    lines = meter.lines()
    x1, y1, x2, y2 = overlay_box(frame.shape[1], frame.shape[0], lines)
    out[y1:y2, x1:x2] //= 3
    scale, thickness, step = _font(frame.shape[1])
    for row, line in enumerate(lines):
        origin = (4, step * (row + 1))
        cv2.putText(
            out,
            line,
            origin,
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (255, 255, 255),
            thickness,
            cv2.LINE_AA,
        )
    # text that would run past the band (a very small frame) is clipped to it
    out[y2:], out[:y2, x2:] = frame[y2:], frame[:y2, x2:]
    return out
