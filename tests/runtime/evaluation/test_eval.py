"""``facert eval``: the seeded degradation protocol, and the command on a small folder of real photos
(one unreadable) restored by WIPA through the full pipeline: layout, scores, table, contact sheet."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_runs import facert, mtcnn_only_cache, one_face_photo
from parse_cache import tiny_parser_cache

from facert.config import Settings
from facert.demo.metrics import psnr
from facert.demo.protocol import PRESETS, degrade, draw, gaussian_kernel
from facert.models.artifacts import Artifact
from facert.models.exporting import ensure_artifact
from facert.models.registry import get_spec
from facert.stages.blend import parse


def test_parameters_are_seeded_per_image_and_within_the_ranges() -> None:
    for preset in PRESETS.values():
        for name in ("a", "b", "grace_hopper"):
            params = draw(preset, 0, name)
            assert params == draw(preset, 0, name)  # the same photo gets the same damage
            assert preset.blur_sigma[0] <= params["sigma_x"] <= preset.blur_sigma[1]
            assert preset.downsample[0] <= params["downsample"] <= preset.downsample[1]
            assert preset.noise[0] <= params["noise"] <= preset.noise[1]
            assert preset.jpeg[0] <= params["jpeg_quality"] <= preset.jpeg[1]
    assert draw(PRESETS["gfpgan"], 0, "a") != draw(PRESETS["gfpgan"], 0, "b")
    assert draw(PRESETS["gfpgan"], 0, "a") != draw(PRESETS["gfpgan"], 1, "a")


def test_kernel_and_degradation(grace_hopper: np.ndarray) -> None:
    kernel = gaussian_kernel(41, 2.0, 6.0, np.pi / 2)
    assert abs(float(kernel.sum()) - 1) < 1e-5  # float32 sum of 1681 terms
    # Rotated by 90 degrees, sigma_x (2) lies along y and sigma_y (6) along x: the kernel's second
    # moments are 36 along x and 4 along y (to 2 %: the 41-tap window cuts the tails at 3.3 sigma).
    axis = np.arange(41) - 20.0
    assert abs(float((kernel.sum(0) * axis**2).sum()) - 36) < 0.72
    assert abs(float((kernel.sum(1) * axis**2).sum()) - 4) < 0.08
    image = grace_hopper
    mild = degrade(image, draw(PRESETS["mild"], 0, "x"), scale=1.5)
    heavy = degrade(image, draw(PRESETS["codeformer"], 0, "x"), scale=1.5)
    assert mild.shape == heavy.shape == image.shape
    assert np.array_equal(mild, degrade(image, draw(PRESETS["mild"], 0, "x"), scale=1.5))
    assert psnr(image, heavy) < psnr(image, mild) < 40  # both damaged, codeformer's far more


@pytest.fixture(scope="module", autouse=True)
def _exported(mtcnn_artifact: Artifact, settings: Settings) -> None:
    ensure_artifact(get_spec("wipa"), settings.cache_dir)


def test_eval_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clean = tmp_path / "clean"
    clean.mkdir()
    one_face_photo(clean / "hopper.jpg")
    (clean / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    (clean / "notes.txt").write_text("not an image: ignored")
    out = tmp_path / "out"
    code, stdout, err = facert(
        capsys, "eval", "--clean", clean, "--degrade", "mild", "--models", "wipa", "-o", out
    )
    assert code == 1  # one photo could not be read; the other was processed
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1 and "broken.jpg" in errors[0]
    for folder in ("clean", "input", "wipa"):
        assert cv2.imread(str(out / folder / "hopper.png")).shape == (300, 256, 3)
    document = json.loads((out / "eval.json").read_text())
    assert document["methods"] == ["input", "wipa"] and document["preset"]["name"] == "mild"
    [image] = document["images"]
    assert image["faces"] == 1 and image["face_scale"] > 1
    rows = {row["method"]: row for row in document["summary"]}
    # The degraded copy is damaged (mild: < 40 dB) and WIPA's output stays a photo of the same
    # face (> 20 dB over the face: a misplaced paste-back or a colour swap falls far below).
    assert 20 < rows["input"]["face_psnr_db"] < 40 and rows["wipa"]["face_psnr_db"] > 20
    assert rows["wipa"]["seconds"] > 0 and rows["input"]["seconds"] is None
    # Seams at the square mask's border (uint8 levels): none on the degraded copy (nothing pasted);
    # WIPA restores the whole photo, so the step across the face's border is no larger than inside
    # it: seam below 1 level (measured -2.16: the inside steps more; a colour cast pasted under
    # the square scores 5.4 and 7.9 levels, tests/runtime/stages/blend/test_seam.py).
    assert document["mask"] == "square" and rows["input"]["seam"] is None
    assert rows["wipa"]["seam"] < 1.0 and rows["wipa"]["seam_step"] > 0
    assert rows["wipa"]["seam_inside"] is not None and rows["wipa"]["seam_tone"] is not None
    assert "| wipa |" in (out / "eval.md").read_text() and "| input |" in stdout
    assert "seam (levels)" in stdout
    sheet = cv2.imread(str(out / "contact-sheet.png"))
    assert sheet.shape[1] == 3 * 160  # clean, input, wipa


def test_bad_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args, reason in (
        (["--degrade", "heavy"], "--degrade must be one of gfpgan, codeformer, mild"),
        (["--clean", tmp_path / "none"], "--clean must be a folder"),
        (["--clean", tmp_path], "no image files"),
        (["--models", "mtcnn"], "mtcnn is a detector"),
    ):
        code, _, err = facert(capsys, "eval", *args, "-o", tmp_path / "out")
        assert code == 2 and reason in err and err.count("\n") == 1


def test_eval_with_the_parse_mask(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--mask parse`` and colour correction through eval, the parser the deterministic ParseNet
    (tests/tiny_parsenet.py) with its class maps replaced by a disc of kept classes (the tiny
    network parses no face: its mask never rises to 1, so eval finds no line inside it and leaves
    the face out, tests/runtime/evaluation/test_seams.py), ParseNet's steps 3-5 on them: the
    restoration pasted under that mask (not the square's), the seam measured at its border, and
    eval.json and eval.md name the mask. Numbers with such a mask say little about ParseNet's."""
    clean = tmp_path / "clean"
    clean.mkdir()
    one_face_photo(clean / "hopper.png")
    size = np.arange(512)
    classes = np.where(np.hypot(*np.meshgrid(size - 256, size - 256)) < 170, 1, 17)
    monkeypatch.setattr(parse.FaceParser, "classes", lambda _, faces: [classes] * len(faces))
    documents, images = {}, {}
    with tiny_parser_cache(tmp_path_factory, settings) as cache:
        for mask in ("square", "parse"):
            out = tmp_path / mask
            code, _, err = facert(
                capsys, "--cache-dir", cache, "eval", "--clean", clean, "--degrade", "mild",
                "--models", "ispl", "--mask", mask, "--color-correction", "mean-std", "-o", out,
            )  # fmt: skip
            assert code == 0, err
            documents[mask] = json.loads((out / "eval.json").read_text())
            images[mask] = cv2.imread(str(out / "ispl" / "hopper.png")).astype(np.int16)
    assert documents["parse"]["mask"] == "parse" and documents["square"]["mask"] == "square"
    assert documents["parse"]["color_correction"] == "mean-std"
    table = (tmp_path / "parse" / "eval.md").read_text()
    assert "the parse mask each face was pasted under (colour correction mean-std)" in table
    changed = np.abs(images["parse"] - images["square"]).max(axis=2) > 0
    ys, xs = np.nonzero(changed)  # only around the face (the photo is 256 x 300)
    assert changed.any() and xs.max() - xs.min() < 200 and ys.max() - ys.min() < 200
    seams = {mask: document["summary"][1]["seam"] for mask, document in documents.items()}
    # ISPL's restoration steps no more across the disc mask's border than inside the face
    # (measured -0.86 levels; the square's on this photo: -2.46; a colour cast pasted under
    # such a mask scores 6.9-8.8, tests/runtime/evaluation/test_seams.py).
    assert seams["square"] is not None and seams["parse"] is not None and seams["parse"] < 1.0


def test_eval_parse_without_parsenet_is_one_line(
    tmp_path: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = mtcnn_only_cache(tmp_path / "cache", settings)
    code, _, err = facert(
        capsys, "--cache-dir", cache, "eval", "--models", "ispl", "--mask", "parse",
        "-o", tmp_path / "out",
    )  # fmt: skip
    assert code == 2 and err.count("\n") == 1, err
    assert "--mask parse needs parsenet" in err and "`facert models fetch parsenet`" in err
    assert not (tmp_path / "out").exists()
