"""Face tracks on clips of real photos through the real MTCNN detector: IDs stay with their face,
a face dropped for one or two frames is carried (and moved along), a longer gap ends the track."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from stream_clips import Actor, make_clip, small

from facert.errors import UsageError
from facert.models.artifacts import Artifact
from facert.pipeline.tracks import TrackedFace, Tracker, TrackerConfig, box_iou
from facert.stages.detect.mtcnn import MtcnnDetector

SIZE = (420, 240)


@pytest.fixture(scope="module")
def detector(mtcnn_artifact: Artifact) -> Iterator[MtcnnDetector]:
    with MtcnnDetector.from_artifact(mtcnn_artifact) as opened:
        yield opened


def _track(
    detector: MtcnnDetector, actors: list[Actor], frames: int, config: TrackerConfig
) -> tuple[list[list[TrackedFace]], list[int]]:
    """Each frame's tracked faces and its detection count."""
    tracker = Tracker(config)
    tracked, counts = [], []
    for _, frame in make_clip(actors, frames, SIZE):
        faces = detector.detect(frame)
        counts.append(len(faces))
        tracked.append(tracker.update(faces))
    return tracked, counts


def _by_side(faces: list[TrackedFace]) -> dict[str, TrackedFace]:
    """The face left of the canvas middle (grace_hopper) and right of it (astronaut)."""
    return {("left" if f.face.center[0] < SIZE[0] / 2 else "right"): f for f in faces}


def test_ids_gaps_and_ends(
    detector: MtcnnDetector, grace_hopper: np.ndarray, astronaut: np.ndarray
) -> None:
    # grace_hopper moves right 3 px/frame, dropped in frames 4-5 (filled) and 9-11 (ends: max_gap
    # 2), back at 12; the astronaut enters at frame 2 moving left and leaves after frame 10.
    grace = Actor(small(grace_hopper, 150), (10, 20), (3, 0), hidden=frozenset({4, 5, 9, 10, 11}))
    nasa = Actor(small(astronaut, 200)[:180], (220, 30), (-2, 0.5), first=2, last=11)
    tracked, counts = _track(detector, [grace, nasa], 14, TrackerConfig(max_gap=2))
    assert counts == [1, 1, 2, 2, 1, 1, 2, 2, 2, 1, 1, 0, 1, 1]  # every shown face found
    sides = [_by_side(faces) for faces in tracked]
    left = [s["left"].track_id if "left" in s else None for s in sides]
    right = [s["right"].track_id if "right" in s else None for s in sides]
    first, second = left[0], right[2]
    assert left[:11] == [first] * 11  # frames 4-5 filled, 9-10 filled
    assert left[11] is None and left[12] == left[13] != first  # ended after 3 missed: a new ID
    assert right == [None, None] + [second] * 11 + [None]  # gone after 10: 11-12 filled, ended
    assert len({first, second, left[12]}) == 3
    filled = [sorted(s for s, f in side.items() if f.filled) for side in sides]
    lft, rgt = ["left"], ["right"]
    assert filled == [[], [], [], [], lft, lft, [], [], [], lft, lft, rgt, rgt, []]
    assert [len(f) for f in tracked] == [1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 2, 1]


def test_filled_faces_move_along(detector: MtcnnDetector, grace_hopper: np.ndarray) -> None:
    """A carried face is extrapolated at its last velocity: in the dropped frames it stays within
    2 px of where the detector finds the face when shown (the noise ~1 px), while holding it still
    is off by the motion (3 px/frame)."""
    shown = Actor(small(grace_hopper, 150), (10, 20), (3, 0))
    dropped = Actor(shown.image, shown.start, shown.velocity, hidden=frozenset({5, 6}))
    truth, _ = _track(detector, [shown], 8, TrackerConfig())
    for extrapolate, low, high in ((True, 0.0, 2.0), (False, 2.5, 7.5)):
        tracked, _ = _track(detector, [dropped], 8, TrackerConfig(extrapolate=extrapolate))
        for t in (5, 6):
            assert tracked[t][0].filled and tracked[t][0].track_id == tracked[0][0].track_id
            error = np.abs(tracked[t][0].face.landmarks - truth[t][0].face.landmarks)[:, 0]
            assert low <= error.mean() <= high, (extrapolate, t, error)


def test_matching_by_landmarks_and_config() -> None:
    assert box_iou(np.array([0, 0, 10, 10]), np.array([5, 0, 15, 10])) == pytest.approx(1 / 3)
    with pytest.raises(UsageError, match="max_gap"):
        TrackerConfig(max_gap=-1)


def test_carried_over_skipped_detections(detector: MtcnnDetector, grace_hopper: np.ndarray) -> None:
    """Detection on every 3rd frame only (``--every 3``): the frames between carry the face at
    its velocity measured over the 3 frames between detections (not over 1), within 2 px of
    where the detector finds it when run on every frame (the noise ~1 px; holding still would be
    off by 3-6 px); 5 skipped frames in a row do not end the track (only missed detections do)."""
    actor = Actor(small(grace_hopper, 150), (10, 20), (3, 0))
    truth, _ = _track(detector, [actor], 9, TrackerConfig())
    tracker = Tracker(TrackerConfig(max_gap=2))
    clip = make_clip([actor], 9, SIZE)
    tracked = [
        tracker.update(detector.detect(frame)) if t % 3 == 0 else tracker.carry()
        for t, (_, frame) in enumerate(clip)
    ]
    assert [len(f) for f in tracked] == [1] * 9
    assert {f[0].track_id for f in tracked} == {tracked[0][0].track_id}
    assert [f[0].filled for f in tracked] == [t % 3 != 0 for t in range(9)]
    for t in (4, 5, 7, 8):  # after two detections: the velocity is known
        error = np.abs(tracked[t][0].face.landmarks - truth[t][0].face.landmarks)[:, 0]
        assert error.mean() <= 2.0, (t, error)
    for _ in range(5):
        assert len(tracker.carry()) == 1
