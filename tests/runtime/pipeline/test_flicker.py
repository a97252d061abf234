"""The flicker measure on frames of a real photo: exact values for known changes."""

from __future__ import annotations

import numpy as np
import pytest
from stream_clips import Actor, make_clip, small

from facert.errors import UsageError
from facert.pipeline.flicker import FlickerMeter, face_mask, flicker


def test_known_changes(grace_hopper: np.ndarray) -> None:
    frames = make_clip([Actor(small(grace_hopper, 150), (40, 20))], 3)
    clip = [frame // 2 for _, frame in frames]  # halved: +4 below never clips
    boxes = [[np.array([60.0, 40.0, 120.0, 110.0])]] * 3
    same = flicker(clip, clip, boxes)
    assert same.mean == 0.0 and len(same.per_pair) == 2 and same.input_change.min() > 0
    # outputs: the inputs with frame 1's face region brightened by 4 levels
    # -> the output changes by up to 4 more than the input in
    # both pairs (up at 0 -> 1, down at 1 -> 2), on average over the region
    brighter = [frame.copy() for frame in clip]
    brighter[1][40:110, 60:120] += 4
    report = flicker(clip, brighter, boxes)
    changed = report.output_change - report.input_change
    assert np.all(changed <= 4.0 + 1e-9) and np.all(changed > 0)
    # against a still input the change is exactly 4 levels
    still = [clip[0]] * 3
    lit = [clip[0], clip[0].copy(), clip[0]]
    lit[1][40:110, 60:120] += 4
    assert flicker(still, lit, boxes).per_pair.tolist() == [4.0, 4.0]


def test_union_of_boxes_and_empty_pairs() -> None:
    mask = face_mask((10, 10), [np.array([-2.0, -2.0, 3.5, 3.0]), np.array([8.0, 8.0, 20.0, 9.0])])
    assert mask.sum() == 4 * 3 + 2 * 1
    frames = [np.zeros((10, 10, 3), np.uint8)] * 2
    assert flicker(frames, frames, [[], []]).mean == 0.0  # no face: no pair counted
    with pytest.raises(UsageError, match="flicker: 2 inputs, 1 outputs"):
        flicker(frames, frames[:1], [[], []])
    with pytest.raises(UsageError, match="not the input's size"):
        flicker(frames, [np.zeros((20, 20, 3), np.uint8)] * 2, [[], []])


def test_meter_takes_one_frame_at_a_time(grace_hopper: np.ndarray) -> None:
    """FlickerMeter, fed frame by frame, gives flicker()'s numbers exactly (same arithmetic)."""
    frames = [frame for _, frame in make_clip([Actor(small(grace_hopper, 150), (40, 20))], 4)]
    outputs = [frame // 2 + 10 * t for t, frame in enumerate(frames)]
    boxes = [[np.array([60.0 + t, 40.0, 120.0 + t, 110.0])] for t in range(4)]
    meter = FlickerMeter()
    for frame, output, box in zip(frames, outputs, boxes, strict=True):
        meter.add(frame, output, box)
    whole = flicker(frames, outputs, boxes)
    assert meter.report.per_pair.tolist() == whole.per_pair.tolist() and len(whole.per_pair) == 3
    with pytest.raises(UsageError, match="frame 4 is"):
        meter.add(frames[0][:10], outputs[0][:10], [])
