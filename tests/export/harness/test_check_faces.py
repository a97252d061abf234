"""The faces a learned export is checked on: fixed and the same on every machine, extra ones only
when asked (``facert models export NAME --check-faces DIR``), and then listed in the manifest.

Beside a source checkout with ../shared/data/real-inputs (the developers' machines) the harness
used to add two of those crops to its check faces, so a user's export and a developer's checked
different faces and wrote different manifests; the export below runs beside such a checkout too.
"""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

import tiny_codeformer
from testdata import DATA

from facert.cli.main import main
from facert.export.families.codeformer.export import build_codeformer_export
from facert.export.harness.checks import default_faces
from facert.export.harness.source_check import LearnedExporter
from facert.io.files import sha256_of
from facert.models.registry import ModelSpec

FIXED = ["astronaut.png", "grace_hopper.png", "astronaut-48px-q60.jpg", "grace_hopper-48px-q60.jpg"]
FACE = DATA / "faces" / "grace_hopper_512.png"

# The tiny CodeFormer on the harness's default faces (tiny_codeformer.export_tiny names its own).
export_on_default_faces = LearnedExporter(
    lambda spec: functools.partial(build_codeformer_export, **tiny_codeformer.TINY)
)


def test_the_default_check_faces_are_fixed() -> None:
    first, second = default_faces(), default_faces()
    assert [name for name, _ in first] == FIXED
    shapes = [image.shape for _, image in first]
    assert shapes == [(512, 512, 3)] * 2 + [(48, 48, 3)] * 2
    for (_, a), (_, b) in zip(first, second, strict=True):
        assert np.array_equal(a, b)  # generated again, bit for bit


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_codeformer.write_checkpoint(tmp_path_factory.mktemp("weights") / "tiny.pth")


@pytest.fixture
def spec(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> ModelSpec:
    return tiny_codeformer.register_for_test(monkeypatch, checkpoint, export_on_default_faces)


def export(capsys: pytest.CaptureFixture[str], cache: Path, *args: str | Path) -> tuple[int, str]:
    code = main(["--cache-dir", str(cache), "models", "export", *(str(a) for a in args)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_the_manifest_lists_the_fixed_faces_and_extra_ones_only_when_asked(
    tmp_path: Path, spec: ModelSpec, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache, plain, extra = tmp_path / "cache", tmp_path / "plain", tmp_path / "extra"
    code, err = export(capsys, cache, spec.name, "--weights", checkpoint, "-o", plain)
    assert code == 0, err
    manifest = json.loads((plain / "manifest.json").read_text())
    assert manifest["parity"]["faces"] == FIXED
    assert "extra_check_faces" not in manifest

    faces = tmp_path / "faces"
    faces.mkdir()
    shutil.copy(FACE, faces / "mine.png")
    args = ["--weights", checkpoint, "-o", extra, "--check-faces", faces]
    code, err = export(capsys, cache, spec.name, *args)
    assert code == 0, err
    with_extra = json.loads((extra / "manifest.json").read_text())
    assert with_extra["parity"]["faces"] == [*FIXED, "mine.png"]
    assert with_extra["extra_check_faces"] == [{"file": "mine.png", "sha256": sha256_of(FACE)}]


def test_check_faces_of_a_model_that_checks_none_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    faces = tmp_path / "faces"
    faces.mkdir()
    shutil.copy(FACE, faces / "mine.png")
    args = ["-o", tmp_path / "out", "--check-faces", faces]
    code, err = export(capsys, tmp_path / "cache", "ispl", *args)
    assert code == 2
    assert "the export of ispl checks no aligned faces: extra check faces are for learned" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("absent", "needs a folder of aligned face images"),
        ("empty", "no face images"),
        ("broken", "broken.png: cannot read this face image"),
    ],
)
def test_a_bad_check_faces_folder_is_named_before_anything_is_written(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    spec: ModelSpec,
    checkpoint: Path,
    kind: str,
    message: str,
) -> None:
    folder = tmp_path / "faces"
    if kind != "absent":
        folder.mkdir()
    if kind == "broken":
        (folder / "broken.png").write_bytes(b"not a png")
    args = ["--weights", checkpoint, "-o", tmp_path / "out", "--check-faces", folder]
    code, err = export(capsys, tmp_path / "cache", spec.name, *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
