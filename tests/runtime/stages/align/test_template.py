"""Alignment follows the template the restorer's spec names (ModelSpec.template;
facert.stages.align.warp, facert.pipeline.frame.Pipeline.align)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from facert.config import Settings
from facert.errors import UsageError
from facert.models.artifacts import Artifact, check_artifact
from facert.models.exporting import ensure_artifact
from facert.models.registry import get_spec, list_specs
from facert.pipeline.frame import Pipeline
from facert.stages.align.warp import FFHQ_TEMPLATE_512, TEMPLATES_512, face_template
from facert.stages.detect.mtcnn import MtcnnDetector
from facert.stages.restore.restorer import Restorer

SHIFT = 64  # crop pixels at 512: the test template is FFHQ moved this far left


def test_every_restorer_names_a_known_template_and_unknown_ones_are_refused() -> None:
    for spec in list_specs("restorer"):
        assert spec.template == "ffhq5"  # every restorer so far: results unchanged by this step
        np.testing.assert_array_equal(
            face_template(spec.input_size, spec.template), face_template(spec.input_size)
        )
    with pytest.raises(UsageError) as info:
        face_template(512, "arcface5")
    assert str(info.value) == "unknown alignment template 'arcface5'; templates: ffhq5"


def test_the_crop_follows_the_spec_template(
    settings: Settings,
    mtcnn_artifact: Artifact,
    grace_hopper: np.ndarray,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(TEMPLATES_512, "ffhq5-left", FFHQ_TEMPLATE_512 - [SHIFT, 0])
    export = ensure_artifact(get_spec("ispl"), settings.cache_dir)
    assert export.spec.input_size == 512
    moved = check_artifact(replace(export.spec, template="ffhq5-left"), export.folder)
    with MtcnnDetector.from_artifact(mtcnn_artifact) as detector:
        faces = detector.detect(grace_hopper)
        crops, affines = Pipeline(detector, Restorer.from_artifact(export)).align(
            grace_hopper, faces
        )
        left, left_affines = Pipeline(detector, Restorer.from_artifact(moved)).align(
            grace_hopper, faces
        )
    assert len(faces) == 1
    # Same rotation and scale, shifted SHIFT pixels left; 1e-3 px covers the float32 rounding of
    # the template points (~1e-5 px) carried through the fit.
    np.testing.assert_allclose(left_affines[0][:, :2], affines[0][:, :2], rtol=0, atol=1e-6)
    np.testing.assert_allclose(left_affines[0][:, 2] - affines[0][:, 2], [-SHIFT, 0], atol=1e-3)
    # So the face sits SHIFT pixels further left in the crop; a bilinear sample moved by < 1e-3 px
    # rounds to at most 1 grey level away.
    shifted = np.abs(left[0, :, :-SHIFT].astype(int) - crops[0, :, SHIFT:].astype(int))
    assert shifted.max() <= 1
    assert np.abs(left[0].astype(int) - crops[0].astype(int)).mean() > 10  # not the same crop
