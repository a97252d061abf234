"""``facert enhance``, ``models fetch``, ``models export`` and ``models build`` with PSFR-GAN.

A tiny PSFR-GAN (tests/tiny_psfrgan.py, 32 px) is registered like the official model, with the
official file names and no sha256, and the real exporter at the tiny configuration: the CLI takes
the folder holding its two files (``--weights FOLDER``), exports its three graphs into the cache and
restores a face through the restorer graph (ParseNet + one-hot + generator), as for psfrgan itself.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from cli_runs import facert, mtcnn_only_cache, one_face_photo
from tiny_export import FACES
from tiny_psfrgan import TINY_G, TINY_P, tiny_files, tiny_spec

from facert.cli.main import main
from facert.config import Settings
from facert.export import exporters
from facert.export.families.psfrgan.exporter import PSFRGANExporter
from facert.models import registry
from facert.models.artifacts import Artifact
from facert.models.cache import artifact_dir
from facert.models.registry import ModelSpec, get_spec
from facert.models.weights import combined_sha256

NAME = "psfrgan-tiny-test"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("psfrgan-weights")
    tiny_files(folder)
    return folder


@pytest.fixture(scope="module")
def spec() -> Iterator[ModelSpec]:
    spec = dataclasses.replace(tiny_spec(), name=NAME, exporter=NAME)
    get_spec("psfrgan")  # loads the registry before it is patched
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(registry._REGISTRY, NAME, spec)
        patch.setitem(exporters._EXPORTERS, NAME, PSFRGANExporter(TINY_P, TINY_G, faces=FACES))
        yield spec


@pytest.fixture(scope="module")
def cache(
    tmp_path_factory: pytest.TempPathFactory,
    settings: Settings,
    mtcnn_artifact: Artifact,
    spec: ModelSpec,
    folder: Path,
) -> Path:
    """A cache with the user's MTCNN export and the tiny PSFR-GAN exported by the CLI from the
    folder of its two files (``facert models export NAME --weights FOLDER``)."""
    cache = mtcnn_only_cache(tmp_path_factory.mktemp("cache"), settings)
    assert (
        main(["--cache-dir", str(cache), "models", "export", NAME, "--weights", str(folder)]) == 0
    )
    return cache


def test_models_export_writes_three_graphs_keyed_by_both_files(
    spec: ModelSpec, folder: Path, cache: Path
) -> None:
    export = artifact_dir(cache, spec, combined_sha256(tiny_files(folder.parent / "same")))
    manifest = json.loads((export / "manifest.json").read_text())
    assert manifest["source"]["files"] == [w.filename for w in spec.weights]
    assert manifest["source"]["official"] is False  # no published sha256
    assert set(manifest["files"]) == {"model.onnx", "model.fp16.onnx", "parsenet.onnx"}
    assert manifest["parity"]["ort_fp16_psnr_db"] >= 40.0
    parse = manifest["parsenet"]
    assert parse["ort_fp32_vs_torch_max_abs"] <= 1e-4 * parse["output_scale"]


def test_enhance_takes_the_folder_of_both_files_and_restores_the_face(
    tmp_path: Path, spec: ModelSpec, folder: Path, cache: Path, capsys, caplog
) -> None:
    photo_path = one_face_photo(tmp_path / "p.png")
    code, out, err = facert(
        capsys, "--cache-dir", cache, "enhance", photo_path, "--model", NAME,
        "--weights", folder, "-o", tmp_path / "out", "--backend", "ort",
    )  # fmt: skip
    assert code == 0, err
    assert "1 face restored" in out.splitlines()[-1]
    # The export in the cache is found by the files' combined sha256 (not exported again) and
    # runs as unverified weights: one notice line.
    assert [r for r in caplog.records if "no published sha256" in r.getMessage()]
    restored = cv2.imread(str(tmp_path / "out" / "p.png")).astype(np.int16)
    photo = cv2.imread(str(photo_path)).astype(np.int16)
    assert (np.abs(restored - photo).max(axis=2) > 0).sum() > 1000  # the face was replaced
    assert np.array_equal(restored[:, :10], photo[:, :10])  # background untouched


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda f: f / "psfrgan_epoch15_net_G.pth", "psfrgan takes a folder holding"),
        (lambda f: f / "nothing-here", "psfrgan takes a folder holding"),
    ],
)
def test_weights_must_be_the_folder_of_both_files(
    tmp_path: Path, folder: Path, capsys, make, message: str
) -> None:
    code, _, err = facert(
        capsys, "--cache-dir", tmp_path / "cache", "models", "export", "psfrgan",
        "--weights", make(folder),
    )  # fmt: skip
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_a_folder_without_parsenet_is_refused_in_one_line(tmp_path: Path, capsys) -> None:
    tiny_files(tmp_path / "w")
    (tmp_path / "w" / "parse_multi_iter_90000.pth").unlink()
    code, _, err = facert(
        capsys, "--cache-dir", tmp_path / "cache", "models", "export", "psfrgan",
        "--weights", tmp_path / "w",
    )  # fmt: skip
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"{tmp_path / 'w'}: no parse_multi_iter_90000.pth in this folder" in err


def test_the_official_files_are_not_the_tiny_ones(tmp_path: Path, folder: Path, capsys) -> None:
    # psfrgan itself checks the files against its 512 networks before any work: refused in one
    # line naming the generator file, nothing written.
    code, _, err = facert(
        capsys, "--cache-dir", tmp_path / "cache", "models", "export", "psfrgan",
        "--weights", folder, "-o", tmp_path / "o",
    )  # fmt: skip
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"{folder / 'psfrgan_epoch15_net_G.pth'}: keys do not match PSFRGenerator" in err
    assert not (tmp_path / "o").exists()


def test_fetch_refuses_the_unpinned_files_in_one_line(tmp_path: Path, capsys) -> None:
    code, _, err = facert(capsys, "--cache-dir", tmp_path, "models", "fetch", "psfrgan")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "no published sha256 for psfrgan_epoch15_net_G.pth" in err
    assert "--weights FOLDER" in err and str(tmp_path / "psfrgan" / "weights") in err
    assert not list(tmp_path.rglob("*.pth"))


@pytest.mark.skipif(importlib.util.find_spec("tensorrt_rtx") is None, reason="no tensorrt_rtx")
def test_build_makes_tensorrt_plans_of_the_restorer_graph(
    tmp_path: Path, spec: ModelSpec, folder: Path, cache: Path, capsys
) -> None:  # from the cache's export (built by the fixture)
    out = tmp_path / "plans"
    code, stdout, err = facert(
        capsys, "--cache-dir", cache, "models", "build", NAME, "--weights", folder,
        "-o", out, "--precision", "fp16", "--compute-capability", "8.6",
    )  # fmt: skip
    assert code == 0, err
    # The restorer's FP16 graph, and ParseNet's own graph (FP32 only: it has no FP16 graph).
    lines = stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["model.fp16.onnx", "parsenet.onnx"], stdout
    assert "fp16 for sm86" in lines[0] and "fp32 for sm86" in lines[1]
    manifests = [json.loads(p.read_text()) for p in out.rglob("trt-plan/*/manifest.json")]
    [pins] = [m["build"]["fp32_pins"] for m in manifests if "fp32_pins" in m["build"]]
    # ParseNet and the instance norms stay FP32 layers in the FP16 plan.
    assert pins["pinned_nodes"] > 0 and pins["not_fp32"] == [] and pins["absent"] == []
