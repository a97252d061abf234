"""Temporal smoothing of each track's landmarks: the One-Euro filter (Casiez et al., CHI 2012).

The aligned crop is an affine fit to five landmarks; detector noise of a pixel or two moves and
rotates the crop from frame to frame, and the restored face, pasted back, shimmers. A fixed low-pass
filter would remove the noise but lag behind a moving head; the One-Euro filter adapts its cutoff to
the speed: ``cutoff = min_cutoff + beta * |speed|``, so a still face is smoothed hard and a moving
one follows with little lag. It works on timestamps, so a variable frame rate is handled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from facert.errors import UsageError
from facert.pipeline.tracks import TrackedFace
from facert.stages.faces import Face


@dataclass(frozen=True)
class SmoothingConfig:
    """One-Euro parameters, in landmark pixels and seconds.

    ``min_cutoff`` (Hz, 1.0): the cutoff of a still face; lower removes more jitter and lags more.
    At 30 fps, 1 Hz gives alpha ~0.17: ~1 px noise falls to ~0.3 px. ``beta`` (0.05 per px/s): how
    fast the cutoff rises with speed; a face moving 100 px/s gets ~6 Hz (alpha ~0.55), so the
    lag stays ~1 frame. ``d_cutoff`` (Hz, 1.0): the cutoff of the speed estimate itself, the
    paper's default. ``enabled`` False passes landmarks through unchanged.
    """

    min_cutoff: float = 1.0
    beta: float = 0.05
    d_cutoff: float = 1.0
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.min_cutoff <= 0 or self.d_cutoff <= 0 or self.beta < 0:
            raise UsageError(f"smoothing: cutoffs > 0 and beta >= 0, got {self}")


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray:
    tau = 1.0 / (2 * math.pi * np.asarray(cutoff, np.float64))
    return np.asarray(1.0 / (1.0 + tau / dt))


class OneEuroFilter:
    """One-Euro on an array of coordinates, each filtered on its own."""

    def __init__(self, config: SmoothingConfig) -> None:
        self.config = config
        self._value: np.ndarray | None = None
        self._speed: np.ndarray | None = None
        self._time = 0.0

    def __call__(self, value: np.ndarray, timestamp: float) -> np.ndarray:
        """The filtered ``value`` at ``timestamp`` (seconds, increasing)."""
        value = np.asarray(value, np.float64)
        if self._value is None or self._speed is None:
            self._value, self._speed, self._time = value, np.zeros_like(value), timestamp
            return value.copy()
        if timestamp <= self._time:  # no time passed: nothing to filter with
            return self._value.copy()
        dt = timestamp - self._time
        speed = (value - self._value) / dt
        speed = self._speed + _alpha(self.config.d_cutoff, dt) * (speed - self._speed)
        cutoff = self.config.min_cutoff + self.config.beta * np.abs(speed)
        self._value = self._value + _alpha(cutoff, dt) * (value - self._value)
        self._speed, self._time = speed, timestamp
        return self._value.copy()


class LandmarkSmoother:
    """One filter per track; call :meth:`update` once per frame with that frame's tracked faces."""

    def __init__(self, config: SmoothingConfig | None = None) -> None:
        self.config = config or SmoothingConfig()
        self._filters: dict[int, OneEuroFilter] = {}

    def update(self, tracked: list[TrackedFace], timestamp: float) -> list[TrackedFace]:
        """``tracked`` with smoothed landmarks (and boxes moved with the landmarks' mean shift);
        filters of tracks absent from this frame are dropped."""
        if not self.config.enabled:
            return tracked
        out = []
        live = {t.track_id for t in tracked}
        self._filters = {k: f for k, f in self._filters.items() if k in live}
        for item in tracked:
            flt = self._filters.setdefault(item.track_id, OneEuroFilter(self.config))
            landmarks = flt(item.face.landmarks, timestamp).astype(np.float32)
            shift = (landmarks - item.face.landmarks).mean(axis=0)
            box = (item.face.box + np.tile(shift, 2)).astype(np.float32)
            face = Face(box, item.face.score, landmarks)
            out.append(TrackedFace(item.track_id, face, item.filled))
        return out
