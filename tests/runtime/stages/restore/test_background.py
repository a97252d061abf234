"""``--background none|upscale|restore`` in the photo pipeline: kept, resized, restored.

Runs the real pipeline (MTCNN, ISPL and WIPA from the cache `make models` fills) on grace_hopper.jpg
(one face), with Gaussian noise (std 8, seed 0) so that restoring the background shows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from facert.config import Settings
from facert.demo.metrics import psnr
from facert.errors import UsageError
from facert.models.artifacts import Artifact
from facert.models.registry import get_spec
from facert.pipeline.frame import EnhanceOptions, EnhanceResult, Pipeline
from facert.pipeline.gpu_frame import gpu_refusal
from facert.stages.align.warp import align_faces, to_tensor
from facert.stages.restore.background import default_background, resized
from facert.stages.restore.frame import tile_starts

GAIN_DB = 1.0  # dB the restored background gains at least (measured 1.5)


@pytest.fixture(scope="module")
def noisy(grace_hopper: np.ndarray) -> np.ndarray:
    noise = np.random.default_rng(0).normal(0.0, 8.0, grace_hopper.shape)
    return np.clip(grace_hopper + noise, 0, 255).round().astype(np.uint8)


def ispl_result(settings: Settings, image: np.ndarray, background: str) -> EnhanceResult:
    options = EnhanceOptions(background=background)  # type: ignore[arg-type]
    with Pipeline.open(settings, "ispl", options=options) as pipeline:
        return pipeline.enhance(image)


@pytest.fixture(scope="module")
def ispl(
    settings: Settings, mtcnn_artifact: Artifact, noisy: np.ndarray
) -> Iterator[dict[str, EnhanceResult]]:
    yield {name: ispl_result(settings, noisy, name) for name in ("none", "upscale", "restore")}


def untouched(result: EnhanceResult, image: np.ndarray) -> np.ndarray:
    """(H, W) bool: the pixels of ``image`` no face's crop reaches (each crop's square warped into
    the frame, grown by 3 pixels for the bilinear and feather reach)."""
    spec = get_spec("ispl")
    _, affines = align_faces(image, result.faces, spec.input_size, spec.crop_border, spec.template)
    reached = np.zeros(image.shape[:2], np.uint8)
    square = np.full((spec.input_size, spec.input_size), 255, np.uint8)
    for affine in affines:
        inverse = cv2.invertAffineTransform(affine)
        reached |= cv2.warpAffine(square, inverse, (image.shape[1], image.shape[0]))
    return cv2.dilate(reached, np.ones((7, 7), np.uint8)) == 0


def test_none_keeps_the_photo_and_repeats_its_pixels_when_enlarged() -> None:
    photo = np.random.default_rng(1).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    same = resized(photo, 1.0, "none")
    assert np.array_equal(same, photo) and same is not photo
    big = resized(photo, 2.0, "none")
    assert big.shape == (14, 10, 3)
    for dy in (0, 1):
        for dx in (0, 1):
            assert np.array_equal(big[dy::2, dx::2], photo)
    cubic = cv2.resize(photo, (10, 14), interpolation=cv2.INTER_CUBIC)
    assert np.array_equal(resized(photo, 2.0, "upscale"), cubic)
    assert np.array_equal(resized(photo, 2.0, "restore"), cubic)  # restored before, then resized


def test_an_unknown_background_is_one_line() -> None:
    with pytest.raises(UsageError, match=r"^--background must be one of none, upscale, restore"):
        EnhanceOptions(background="blur")  # type: ignore[arg-type]


def test_defaults_keep_what_facert_did() -> None:
    assert default_background(get_spec("wipa")) == "restore"
    assert default_background(get_spec("ispl")) == "upscale"
    assert default_background(get_spec("gpen-bfr-512")) == "upscale"


def test_a_learned_restorer_without_real_esrgan_says_what_to_fetch(
    settings: Settings, tmp_path: Path
) -> None:
    empty = dataclasses.replace(settings, cache_dir=tmp_path)
    for upscale, name in ((1.0, "realesrgan-x2"), (3.0, "realesrgan-x4")):
        options = EnhanceOptions(upscale=upscale, background="restore")
        with pytest.raises(UsageError) as info:
            Pipeline.open(empty, "gpen-bfr-512", options=options)
        message = str(info.value)
        assert "\n" not in message and f"`facert models fetch {name}`" in message


def test_the_gpu_pipeline_refuses_restore_in_one_line() -> None:
    spec = get_spec("gpen-bfr-512")
    refusal = gpu_refusal(spec, EnhanceOptions(background="restore"))
    assert refusal is not None and "\n" not in refusal and "--background restore" in refusal
    assert gpu_refusal(spec, EnhanceOptions(background="none")) is None


def test_none_and_upscale_keep_the_photo_around_the_face(
    ispl: dict[str, EnhanceResult], noisy: np.ndarray
) -> None:
    """At --upscale 1 both are the photo's own pixels: identical results, and the input exactly
    wherever no face's crop reaches."""
    none, upscale = ispl["none"], ispl["upscale"]
    assert len(none.faces) == 1
    assert np.array_equal(none.image, upscale.image)
    outside = untouched(none, noisy)
    assert outside.mean() > 0.5  # most of the photo
    assert np.array_equal(none.image[outside], noisy[outside])
    assert not np.array_equal(none.image, noisy)  # the face was restored


def test_restore_restores_the_rest_of_the_photo(
    ispl: dict[str, EnhanceResult], noisy: np.ndarray, grace_hopper: np.ndarray
) -> None:
    """ISPL tiled over the photo brings the background nearer the clean photo, and the face,
    whose correction is added relative to the restored background, is no worse than with the
    background kept. Measured: background 30.3 -> 31.8 dB; face box 30.6 (upscale) and
    31.2 dB (restore); thresholds leave a margin for other CPUs' rounding."""
    restore, upscale = ispl["restore"], ispl["upscale"]
    outside = untouched(restore, noisy)
    before = psnr(noisy[outside], grace_hopper[outside])
    after = psnr(restore.image[outside], grace_hopper[outside])
    assert after > before + GAIN_DB, (before, after)
    x1, y1, x2, y2 = (int(v) for v in restore.faces[0].box)
    box = (slice(y1, y2), slice(x1, x2))
    kept = psnr(upscale.image[box], grace_hopper[box])
    assert psnr(restore.image[box], grace_hopper[box]) > kept + 0.2


def test_wipa_restore_is_its_frame_stage(settings: Settings, mtcnn_artifact: Artifact) -> None:
    """WIPA's default is restore (its frame stage, the face graph without fade and denoise);
    with upscale the frame stage is not opened and the face graph does every step."""
    with Pipeline.open(settings, "wipa") as default:
        assert default.background == "restore" and default.frame is not None
        assert default.restorer.options["fade"] == 0.0 == default.restorer.options["denoise"]
    options = EnhanceOptions(background="upscale")
    with Pipeline.open(settings, "wipa", options=options) as kept:
        assert kept.frame is None and kept.tiles is None
        assert kept.restorer.options["fade"] == 1.0 and kept.restorer.options["denoise"] == 1.5


def test_adjacent_ispl_tiles_agree(
    settings: Settings, mtcnn_artifact: Artifact, noisy: np.ndarray
) -> None:
    """Two overlapping tiles of the noisy photo through ISPL's graph agree where their cores
    overlap (there they are cross-faded), so no seam can form between them."""
    options = EnhanceOptions(background="restore")
    with Pipeline.open(settings, "ispl", options=options) as pipeline:
        tiles = pipeline.tiles
        assert tiles is not None
        tile, margin = tiles.stage.tile, tiles.stage.margin
        padded = cv2.copyMakeBorder(noisy, *(margin,) * 4, cv2.BORDER_REFLECT_101)
        first, second = tile_starts(noisy.shape[1], tile, margin)
        spec = pipeline.restorer.spec
        left, right = (
            tiles.run_tile(
                to_tensor(np.ascontiguousarray(padded[None, :tile, s : s + tile]), spec), None
            )
            for s in (first, second)
        )
    overlap = slice(second + margin, first + tile - margin)
    a = left[0, :, margin:-margin, overlap.start - first : overlap.stop - first]
    b = right[0, :, margin:-margin, overlap.start - second : overlap.stop - second]
    difference = np.abs(a - b) * 255.0
    # Measured: mean 0.13 levels, 99.9th percentile 0.54, max 0.70 (each tile estimates its own
    # noise level); a seam would show as a step of several levels along the tile border.
    assert difference.mean() < 0.5 and difference.max() < 2.0
