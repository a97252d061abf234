"""The Restorer: spec options as per-face graph inputs, photo-pixel options scaled, batching."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
from testdata import DATA

from facert.config import Settings
from facert.errors import UsageError
from facert.models.artifacts import Artifact
from facert.models.exporting import ensure_artifact
from facert.models.registry import get_spec
from facert.stages.restore.restorer import Restorer, parse_options


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
