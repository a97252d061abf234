"""The Restorer: spec options as per-face graph inputs, photo-pixel options scaled, batching; option
values given per call (no new session to change one) and the per-face extra inputs a spec declares
(none of today's models has one: a tiny real graph that takes a parsing map stands in for PSFR-GAN's)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
from testdata import DATA
from tiny_graphs import restorer_graph

from facert.backends import OrtSession
from facert.config import Settings
from facert.errors import UnknownModelError, UsageError
from facert.models.artifacts import Artifact
from facert.models.exporting import ensure_artifact
from facert.models.registry import ExtraInput, ModelOption, ModelSpec, get_spec
from facert.stages.align.warp import from_tensor, to_tensor
from facert.stages.restore.frame import FrameRestorer
from facert.stages.restore.restorer import Restorer, parse_options

TINY_SIZE = 8  # the tiny graph's crops


@pytest.fixture(scope="module")
def ispl(settings: Settings) -> Artifact:
    return ensure_artifact(get_spec("ispl"), settings.cache_dir)


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    return np.stack(
        [cv2.imread(str(DATA / "faces" / f"{n}_512.png")) for n in ("grace_hopper", "astronaut")]
    )


def test_parse_options_checks_names_and_ranges() -> None:
    spec = get_spec("ispl")
    assert parse_options(spec, ["blur_sigma=2", "lam=0.25"]) == {"blur_sigma": 2.0, "lam": 0.25}
    for bad, message in [
        ("blur_sigma", "NAME=VALUE"),
        ("lam=x", "not a number"),
        ("lam=99", "outside"),
    ]:
        with pytest.raises(UsageError, match=message):
            parse_options(spec, [bad])


def test_photo_pixel_options_follow_the_face_scale(ispl: Artifact, faces: np.ndarray) -> None:
    """blur_sigma is in photo pixels: a face magnified 2x into the crop carries a 2x wider blur,
    so restoring it at scale 2 with sigma 1 equals restoring it at scale 1 with sigma 2."""
    with Restorer.from_artifact(ispl, options={"blur_sigma": 1.0}) as at_one:
        scaled = at_one.restore(faces[:1], np.array([2.0]))
    with Restorer.from_artifact(ispl, options={"blur_sigma": 2.0}) as at_two:
        direct = at_two.restore(faces[:1], np.array([1.0]))
        other = at_two.restore(faces[:1], np.array([0.5]))
    assert np.array_equal(scaled, direct)  # the same graph inputs: identical
    assert not np.array_equal(direct, other)


def test_batches_equal_single_runs(ispl: Artifact, faces: np.ndarray) -> None:
    with Restorer.from_artifact(ispl, max_batch=4).open(warm_up=True) as restorer:
        batch = restorer.restore(faces, np.array([1.0, 1.5]))
        singles = [
            restorer.restore(faces[i : i + 1], np.array([s])) for i, s in enumerate([1.0, 1.5])
        ]
    # ORT may pick other kernels per batch size: float32 reordering, at most 1 level after rounding
    assert np.abs(batch.astype(int) - np.concatenate(singles)).max() <= 1


def test_a_graph_that_does_not_fit_the_spec_is_refused(ispl: Artifact) -> None:
    wrong = dataclasses.replace(ispl, spec=dataclasses.replace(ispl.spec, input_size=256))
    with pytest.raises(UsageError, match="do not match the ispl spec"):
        Restorer.from_artifact(wrong).open()


def test_an_estimated_option_is_measured_per_face_unless_given(
    ispl: Artifact, faces: np.ndarray
) -> None:
    """ISPL's blur_sigma: estimated on each crop by default (the sharp sample faces read 0; a
    face blurred by 3 crop pixels reads more), the user's value when given, "auto" the default."""
    blurred = np.stack([cv2.GaussianBlur(f, (0, 0), 3.0) for f in faces])
    crops, scales = np.concatenate([faces, blurred]), np.array([1.64, 2.92, 1.0, 1.0])
    with Restorer.from_artifact(ispl) as estimated:
        values = estimated.face_options(crops, scales)
        assert values["blur_sigma"][:2].tolist() == [0.0, 0.0]
        assert (values["blur_sigma"][2:] > 1.0).all()
        assert values["lam"].tolist() == [get_spec("ispl").option("lam").default] * 4
        assert np.array_equal(
            estimated.restore(crops, scales), estimated.restore(crops, scales, values)
        )
    with Restorer.from_artifact(ispl, options={"blur_sigma": 2.0}) as given:
        assert given.face_options(crops, scales)["blur_sigma"].tolist() == [2.0] * 4
    spec = get_spec("ispl")
    assert parse_options(spec, ["blur_sigma=2", "blur_sigma=auto"]) == {}
    with pytest.raises(UsageError, match="not a number"):
        parse_options(spec, ["lam=auto"])  # lam is not estimated


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
        fade = artifact.spec.option("fade")
        with pytest.raises(UsageError, match=r"option fade=\S+ is outside"):
            frame.restore(photo, {"fade": fade.maximum + 1.0})


@pytest.fixture
def tiny(tmp_path: Path) -> Artifact:
    """A restorer spec with one option and one per-face extra input, and its tiny real graph."""
    spec = ModelSpec(
        name="tiny-parsing",
        family="tiny",
        role="restorer",
        summary="image x gain + parsing map",
        licence="none",
        input_size=TINY_SIZE,
        options=(ModelOption("gain", 1.0, 0.0, 2.0, "multiplies the image"),),
        extra_inputs=(ExtraInput("parsing", (1, TINY_SIZE, TINY_SIZE), "a face parsing map"),),
    )
    restorer_graph(tmp_path / "model.onnx", TINY_SIZE)
    return Artifact(spec, tmp_path, {})


def test_extra_inputs_are_fed_per_face(tiny: Artifact) -> None:
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (3, TINY_SIZE, TINY_SIZE, 3), dtype=np.uint8)
    parsing = rng.uniform(-0.5, 0.5, (3, 1, TINY_SIZE, TINY_SIZE)).astype(np.float32)
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
