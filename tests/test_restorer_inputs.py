"""Per-call restorer inputs: option values given with each call (no new session to change one) and
the per-face extra inputs a spec declares (none of today's models has one: a tiny real graph that
takes a parsing map stands in for PSFR-GAN's)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import DATA
from tiny_graphs import restorer_graph

from facert.backends import OrtSession
from facert.config import Settings
from facert.errors import UnknownModelError, UsageError
from facert.models.artifacts import Artifact
from facert.models.exporting import ensure_artifact
from facert.models.registry import ExtraInput, ModelOption, ModelSpec, get_spec
from facert.stages.align.warp import from_tensor, to_tensor
from facert.stages.restore.frame import FrameRestorer
from facert.stages.restore.restorer import Restorer

SIZE = 8


@pytest.fixture(scope="module")
def ispl(settings: Settings) -> Artifact:
    return ensure_artifact(get_spec("ispl"), settings.cache_dir)


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    return np.stack(
        [cv2.imread(str(DATA / "faces" / f"{n}_512.png")) for n in ("grace_hopper", "astronaut")]
    )


def test_options_per_call_need_no_new_session(ispl: Artifact, faces: np.ndarray) -> None:
    """One open restorer, two calls at two blur widths: the results of two restorers opened with
    those widths, through the same session."""
    scales = np.array([1.0, 1.5])
    fresh = {}
    for sigma in (1.0, 2.0):
        with Restorer.from_artifact(ispl, options={"blur_sigma": sigma, "lam": 0.25}) as one:
            fresh[sigma] = one.restore(faces, scales)
    with Restorer.from_artifact(ispl) as restorer:
        engine, session = restorer.engine, restorer.engine._session  # ORT's own session object
        for sigma in (1.0, 2.0):
            call = restorer.restore(faces, scales, options={"blur_sigma": sigma, "lam": 0.25})
            assert np.array_equal(call, fresh[sigma])  # the same graph inputs: identical
        assert restorer.engine is engine and engine._session is session
        estimated = restorer.face_options(faces, scales)
        given = restorer.face_options(faces, scales, {"blur_sigma": 2.0})
    assert not np.array_equal(fresh[1.0], fresh[2.0])
    assert given["blur_sigma"].tolist() == [2.0, 2.0]  # a call's value replaces the estimate
    assert estimated["blur_sigma"].tolist() == [0.0, 0.0]  # the sharp samples read 0


def test_options_per_call_are_checked(ispl: Artifact, faces: np.ndarray) -> None:
    with Restorer.from_artifact(ispl) as restorer:
        with pytest.raises(UnknownModelError, match="has no option 'sigma'"):
            restorer.restore(faces, options={"sigma": 1.0})
        with pytest.raises(UsageError, match=r"option lam=99 is outside"):
            restorer.restore(faces, options={"lam": 99.0})
        values = restorer.face_options(faces, np.ones(2))
        with pytest.raises(UsageError, match="values.*or per call"):
            restorer.restore(faces, values=values, options={"lam": 0.25})


def test_frame_stage_options_per_call(settings: Settings, grace_hopper: np.ndarray) -> None:
    artifact = ensure_artifact(get_spec("wipa"), settings.cache_dir)
    photo = cv2.resize(grace_hopper, (160, 200), interpolation=cv2.INTER_AREA)
    with FrameRestorer.from_artifact(artifact, options={"fade": 0.0}) as unfaded:
        expected = unfaded.restore(photo)
    with FrameRestorer.from_artifact(artifact) as frame:
        engine = frame.engine
        assert np.array_equal(frame.restore(photo, {"fade": 0.0}), expected)
        assert not np.array_equal(frame.restore(photo), expected)  # the default fades back
        assert frame.engine is engine
        with pytest.raises(UsageError, match="unknown frame-stage option"):
            frame.restore(photo, {"sharpness": 1.0})


@pytest.fixture
def tiny(tmp_path: Path) -> Artifact:
    """A restorer spec with one option and one per-face extra input, and its tiny real graph."""
    spec = ModelSpec(
        name="tiny-parsing",
        family="tiny",
        role="restorer",
        summary="image x gain + parsing map",
        licence="none",
        input_size=SIZE,
        options=(ModelOption("gain", 1.0, 0.0, 2.0, "multiplies the image"),),
        extra_inputs=(ExtraInput("parsing", (1, SIZE, SIZE), "a face parsing map"),),
    )
    restorer_graph(tmp_path / "model.onnx", SIZE)
    return Artifact(spec, tmp_path, {})


def test_extra_inputs_are_fed_per_face(tiny: Artifact) -> None:
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (3, SIZE, SIZE, 3), dtype=np.uint8)
    parsing = rng.uniform(-0.5, 0.5, (3, 1, SIZE, SIZE)).astype(np.float32)
    engine = OrtSession(tiny.path("model.onnx"))
    with Restorer(tiny, engine, max_batch=2).open(warm_up=True) as restorer:
        assert restorer.engine is engine
        for gain in (1.0, 0.5):
            restored = restorer.restore(crops, options={"gain": gain}, extras={"parsing": parsing})
            expected = from_tensor(
                to_tensor(crops, tiny.spec) * np.float32(gain) + parsing, tiny.spec
            )
            # float32 multiply-add; ONNX Runtime may fuse it (one rounding instead of two), which
            # can tip a value at a rounding boundary by one level, never more
            assert np.abs(restored.astype(int) - expected).max() <= 1
        with pytest.raises(UsageError, match=r"extra inputs expected \['parsing'\], got \[\]"):
            restorer.restore(crops)
        with pytest.raises(
            UsageError, match=r"extra input 'parsing' must have shape \[3, 1, 8, 8\]"
        ):
            restorer.restore(crops, extras={"parsing": parsing[:2]})
    assert not engine.is_open


def test_a_graph_without_the_declared_extra_input_is_refused(tiny: Artifact) -> None:
    boxes = ExtraInput("boxes", (4, 4), "component boxes")
    spec = dataclasses.replace(tiny.spec, extra_inputs=(*tiny.spec.extra_inputs, boxes))
    wrong = dataclasses.replace(tiny, spec=spec)
    with pytest.raises(UsageError, match=r"do not match .*extra inputs \['boxes', 'parsing'\]"):
        Restorer(wrong, OrtSession(tiny.path("model.onnx"))).open()


def test_extra_inputs_are_part_of_the_fingerprint(tiny: Artifact) -> None:
    without = dataclasses.replace(tiny.spec, extra_inputs=())
    assert without.fingerprint() != tiny.spec.fingerprint()
