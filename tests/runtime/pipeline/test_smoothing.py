"""The One-Euro landmark filter: jitter removed from a still or moving face, little lag, frame-rate
aware, on synthetic signals and on the real MTCNN landmarks of a clip of a real photo."""

from __future__ import annotations

import numpy as np
import pytest
from stream_clips import FPS, Actor, make_clip, second_difference, small

from facert.errors import UsageError
from facert.models.artifacts import Artifact
from facert.pipeline.smoothing import LandmarkSmoother, OneEuroFilter, SmoothingConfig
from facert.pipeline.tracks import Tracker
from facert.stages.detect.mtcnn import MtcnnDetector


def _filtered(signal: np.ndarray, times: np.ndarray, config: SmoothingConfig) -> np.ndarray:
    flt = OneEuroFilter(config)
    return np.array([flt(value, float(t)) for value, t in zip(signal, times, strict=True)])


def test_still_and_moving_signal() -> None:
    """1 px noise (seeded) on a still point and on one moving 90 px/s (3 px/frame at 30 fps):
    the still point's mean error falls from 0.77 px to 0.30 px (measured; asserted: below half);
    the moving point lags at most 1.5 frames'
    motion (4.5 px) once the filter has settled (after 10 frames), and its jitter (mean |second
    difference|) falls from 1.84 to 0.97 px (measured; asserted: below 1/1.5): at speed the
    filter opens up by design (beta), trading smoothing for lag."""
    rng = np.random.default_rng(1)
    times = np.arange(60) / FPS
    noise = rng.normal(0, 1.0, (60, 5, 2))
    still = _filtered(100 + noise, times, SmoothingConfig())
    assert np.abs(still[10:] - 100).mean() < np.abs(noise[10:]).mean() / 2
    truth = 100 + 90 * times[:, None, None] + np.zeros((60, 5, 2))
    moving = _filtered(truth + noise, times, SmoothingConfig())
    lag = np.abs(moving[10:] - truth[10:]).mean()
    assert lag < 4.5, lag
    assert second_difference(moving) < second_difference(truth + noise) / 1.5


def test_frame_rate_aware() -> None:
    """The same motion sampled at 30 and at 60 fps ends at nearly the same filtered value (within
    0.5 px of 10): the filter works in seconds, not frames; a sample at an unchanged time is
    returned unfiltered-over (the previous value)."""
    config = SmoothingConfig()
    ends = []
    for fps in (30.0, 60.0):
        times = np.arange(int(fps) + 1) / fps
        ends.append(_filtered(np.where(times > 0, 10.0, 0.0), times, config)[-1])
    assert abs(ends[0] - ends[1]) < 0.5 and ends[0] > 9.0
    flt = OneEuroFilter(config)
    flt(np.zeros(2), 0.0)
    assert np.array_equal(flt(np.ones(2), 0.0), np.zeros(2))


def test_real_landmark_jitter(mtcnn_artifact: Artifact, grace_hopper: np.ndarray) -> None:
    """grace_hopper still on the canvas, 1-level sensor noise: MTCNN's landmarks jitter 0.82 px
    (mean |second difference|, measured); smoothed, 0.10 px. Asserted: at least 3x less."""
    clip = make_clip([Actor(small(grace_hopper, 150), (40, 20))], 20, noise=1.0)
    tracker, smoother = Tracker(), LandmarkSmoother()
    raw, smooth = [], []
    with MtcnnDetector.from_artifact(mtcnn_artifact) as detector:
        for timestamp, frame in clip:
            tracked = tracker.update(detector.detect(frame))
            raw.append(tracked[0].face.landmarks)
            smoothed = smoother.update(tracked, timestamp)
            assert smoothed[0].track_id == tracked[0].track_id
            smooth.append(smoothed[0].face.landmarks)
    before, after = second_difference(np.array(raw)), second_difference(np.array(smooth))
    assert before > 0.3 and after < before / 3, (before, after)
    off = LandmarkSmoother(SmoothingConfig(enabled=False))
    assert off.update(tracked, 1.0) is tracked


def test_bad_config() -> None:
    with pytest.raises(UsageError, match="cutoffs"):
        SmoothingConfig(min_cutoff=0)
