"""Face tracks across the frames of a stream: stable IDs, short gaps filled.

:class:`Tracker` matches each frame's detections to the tracks alive after the previous frame
(greedy, best pair first, by box IoU, or by landmark distance relative to the face size when the
boxes hardly overlap, a fast move), starts a track for each unmatched detection, and carries a track
whose detection dropped for up to ``TrackerConfig.max_gap`` frames: its last face, moved by its last
velocity when ``extrapolate`` is on. A track unmatched for more than ``max_gap`` frames ends.
:meth:`Tracker.carry` stands for a frame the detector skipped (``facert video --every N``): every
track is carried the same way, without counting as a missed detection.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from facert.errors import UsageError
from facert.stages.faces import Face


@dataclass(frozen=True)
class TrackerConfig:
    """How detections are matched and gaps filled.

    ``min_iou``: the least box IoU that matches a detection to a track (0.3: a face moving a tenth
    of its width per frame keeps IoU ~0.8; two neighbouring faces rarely reach 0.3). ``max_distance``:
    else the largest mean landmark distance, in track box diagonals, that still matches (0.25), per
    frame since the track was last seen by a detector run (:meth:`Tracker.carry` frames widen it).
    ``max_gap``: frames a track is carried without a detection before it ends (2: a detector drops a
    face for a frame or two on motion blur; longer would paste a stale face). ``extrapolate``: move a
    carried face by its last per-frame velocity instead of holding it still.
    """

    min_iou: float = 0.3
    max_distance: float = 0.25
    max_gap: int = 2
    extrapolate: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.min_iou <= 1.0 or self.max_distance < 0 or self.max_gap < 0:
            raise UsageError(
                f"tracker: min_iou in (0, 1], max_distance >= 0 and max_gap >= 0, got {self}"
            )


@dataclass(frozen=True)
class TrackedFace:
    """A face of one frame on its track: ``filled`` when carried over a dropped detection."""

    track_id: int
    face: Face
    filled: bool = False


@dataclass
class _Track:
    track_id: int
    face: Face  # the last face given out (carried and moved over a gap)
    detected: Face  # the last detection
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))
    missed: int = 0  # detections run since the last match
    carried: int = 0  # frames carried without running the detector since the last match


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two ``x1, y1, x2, y2`` boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, float(w)) * max(0.0, float(h))
    union = float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])) - inter
    return inter / union if union > 0 else 0.0


def _landmark_distance(track: Face, face: Face) -> float:
    """Mean landmark distance in track box diagonals."""
    diagonal = float(np.hypot(track.box[2] - track.box[0], track.box[3] - track.box[1]))
    mean = float(np.linalg.norm(track.landmarks - face.landmarks, axis=1).mean())
    return mean / max(diagonal, 1e-6)


def _moved(face: Face, shift: np.ndarray) -> Face:
    box = face.box + np.tile(shift, 2).astype(np.float32)
    return Face(box, face.score, (face.landmarks + shift).astype(np.float32))


class Tracker:
    """Assigns track IDs to each frame's faces (call :meth:`update` once per frame, in order)."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self._tracks: list[_Track] = []
        self._next_id = 0

    def _cost(self, track: _Track, face: Face) -> float | None:
        """A match cost (lower is better), or None when they do not match."""
        iou = box_iou(track.face.box, face.box)
        if iou >= self.config.min_iou:
            return 1.0 - iou
        distance = _landmark_distance(track.face, face)
        # a track carried over skipped frames may have moved that many frames' worth
        allowed = self.config.max_distance * (track.carried + 1)
        return 1.0 + distance if distance <= allowed else None

    def _match(self, faces: list[Face]) -> dict[int, int]:
        """Detection index -> track index, greedy by cost."""
        pairs = []
        for t, track in enumerate(self._tracks):
            for d, face in enumerate(faces):
                cost = self._cost(track, face)
                if cost is not None:
                    pairs.append((cost, t, d))
        matched: dict[int, int] = {}
        used: set[int] = set()
        for _, t, d in sorted(pairs):
            if d not in matched and t not in used:
                matched[d] = t
                used.add(t)
        return matched

    def update(self, faces: list[Face]) -> list[TrackedFace]:
        """This frame's faces on their tracks (detections in their order, then the filled ones)."""
        matched = self._match(faces)
        out = []
        seen: set[int] = set()
        for d, face in enumerate(faces):
            if d in matched:
                track = self._tracks[matched[d]]
                step = (face.landmarks - track.detected.landmarks).mean(axis=0)
                frames = track.missed + track.carried + 1  # since the last detection
                track.velocity = (step / frames).astype(np.float32)
                track.face, track.detected, track.missed, track.carried = face, face, 0, 0
            else:
                track = _Track(self._next_id, face, face)
                self._next_id += 1
                self._tracks.append(track)
            seen.add(track.track_id)
            out.append(TrackedFace(track.track_id, face))
        alive = []
        for track in self._tracks:
            if track.track_id not in seen:
                track.missed += 1
                if track.missed > self.config.max_gap:
                    continue
                if self.config.extrapolate:
                    track.face = _moved(track.face, track.velocity)
                out.append(TrackedFace(track.track_id, track.face, filled=True))
            alive.append(track)
        self._tracks = alive
        return out

    def carry(self) -> list[TrackedFace]:
        """The faces of a frame the detector did not run on: every live track's last face (moved
        by its velocity when ``extrapolate`` is on), marked filled. Tracks neither end nor age:
        only a detection that misses a face counts towards ``max_gap``."""
        out = []
        for track in self._tracks:
            track.carried += 1
            if self.config.extrapolate:
                track.face = _moved(track.face, track.velocity)
            out.append(TrackedFace(track.track_id, track.face, filled=True))
        return out
