"""Short synthetic clips made of real photos (grace_hopper, astronaut) for the stream tests.

A photo is pasted on a grey canvas at a sub-pixel offset that moves a few pixels per frame, with
seeded Gaussian sensor noise (which makes a real detector's landmarks jitter by ~0.8 px, measured).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

GREY = 90
FPS = 30.0


@dataclass(frozen=True)
class Actor:
    """``image`` pasted at ``start + t * velocity`` (x, y) in frames ``first <= t < last``, except
    in ``hidden`` frames (as if the detector dropped it: the canvas shows grey there)."""

    image: np.ndarray
    start: tuple[float, float]
    velocity: tuple[float, float] = (0.0, 0.0)
    first: int = 0
    last: int = 10**6
    hidden: frozenset[int] = frozenset()

    def offset(self, t: int) -> tuple[float, float]:
        return self.start[0] + t * self.velocity[0], self.start[1] + t * self.velocity[1]


def small(image: np.ndarray, width: int) -> np.ndarray:
    """``image`` resized to ``width`` pixels wide, aspect kept."""
    height = round(image.shape[0] * width / image.shape[1])
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def make_clip(
    actors: list[Actor],
    frames: int,
    size: tuple[int, int] = (240, 220),
    noise: float = 1.0,
    seed: int = 0,
) -> list[tuple[float, np.ndarray]]:
    """``frames`` (timestamp, (H, W, 3) uint8 BGR frame) at 30 fps; ``size`` is (width, height)."""
    rng = np.random.default_rng(seed)
    clip = []
    for t in range(frames):
        frame = np.full((size[1], size[0], 3), GREY, np.float32)
        for actor in actors:
            if not actor.first <= t < actor.last or t in actor.hidden:
                continue
            x, y = actor.offset(t)
            shift = np.float32([[1, 0, x], [0, 1, y]])
            mask = np.ones(actor.image.shape[:2], np.float32)
            pasted = cv2.warpAffine(actor.image.astype(np.float32), shift, size)
            alpha = cv2.warpAffine(mask, shift, size)[..., None]
            frame = frame * (1 - alpha) + pasted * alpha
        frame += rng.normal(0.0, noise, frame.shape)
        clip.append((t / FPS, np.clip(np.rint(frame), 0, 255).astype(np.uint8)))
    return clip


def second_difference(points: np.ndarray) -> float:
    """Mean absolute second difference over frames of (T, ...) positions: jitter, in pixels (a
    steady motion has none)."""
    return float(np.abs(np.diff(np.asarray(points, np.float64), 2, axis=0)).mean())
