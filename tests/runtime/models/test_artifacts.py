"""Export folders: the manifest lists the ONNX files built, the runtime checks them, and the graph a
precision asks for (facert.models.artifacts, facert.stages.restore.restorer.graph_file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from facert.errors import ArtifactError, UsageError
from facert.models.artifacts import FP16_GRAPH, FP32_GRAPH, MANIFEST, check_artifact
from facert.models.registry import ModelSpec, get_spec
from facert.stages.restore.restorer import graph_file

REFUSED = "ONNX Runtime FP16 vs FP32 (fidelity=0.5): PSNR -inf dB on a.png"


def export_folder(
    folder: Path, spec: ModelSpec, listed: list[str], present: list[str], **extra: object
) -> Path:
    """A folder holding the files ``present`` and a manifest for ``spec`` that lists ``listed``."""
    folder.mkdir()
    for name in present:
        (folder / name).write_bytes(b"onnx")
    manifest = {
        "spec": spec.name,
        "spec_fingerprint": spec.fingerprint(),
        "files": {name: {"sha256": "0" * 64, "bytes": 4} for name in listed},
        **extra,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest))
    return folder


def test_both_graphs_listed_and_present_give_either_precision(tmp_path: Path) -> None:
    spec = get_spec("codeformer")
    both = [FP32_GRAPH, FP16_GRAPH]
    artifact = check_artifact(spec, export_folder(tmp_path / "a", spec, both, both))
    assert artifact.files == (FP32_GRAPH, FP16_GRAPH) and artifact.fp16_refused is None
    assert graph_file(artifact, "auto") == FP32_GRAPH  # the CPU backend runs FP32
    assert graph_file(artifact, "fp32") == FP32_GRAPH
    assert graph_file(artifact, "fp16") == FP16_GRAPH
    with pytest.raises(UsageError, match="precision must be one of auto, fp32, fp16"):
        graph_file(artifact, "int8")


def test_an_export_whose_fp16_graph_was_refused_runs_fp32_only(tmp_path: Path) -> None:
    spec = get_spec("codeformer")
    folder = export_folder(tmp_path / "a", spec, [FP32_GRAPH], [FP32_GRAPH], fp16_refused=REFUSED)
    artifact = check_artifact(spec, folder)
    assert artifact.files == (FP32_GRAPH,) and artifact.fp16_refused == REFUSED
    assert graph_file(artifact, "auto") == FP32_GRAPH
    with pytest.raises(UsageError) as info:
        graph_file(artifact, "fp16")
    assert str(info.value) == (
        f"{folder}: no FP16 graph (the export refused it: {REFUSED}); "
        "run with --precision fp32 or auto"
    )


def test_a_model_built_in_fp32_only_has_no_fp16_graph(tmp_path: Path) -> None:
    spec = get_spec("ispl")
    artifact = check_artifact(spec, export_folder(tmp_path / "a", spec, [FP32_GRAPH], [FP32_GRAPH]))
    with pytest.raises(UsageError, match=r"no FP16 graph \(ispl is built in FP32 only\)"):
        graph_file(artifact, "fp16")


@pytest.mark.parametrize(
    ("listed", "present", "message"),
    [
        ([FP32_GRAPH, FP16_GRAPH], [FP32_GRAPH], "missing model.fp16.onnx, which its manifest"),
        ([FP16_GRAPH], [FP32_GRAPH, FP16_GRAPH], "manifest lists no model.onnx"),
        ([FP32_GRAPH, "extra.onnx"], [FP32_GRAPH, "extra.onnx"], "lists extra.onnx, which"),
    ],
)
def test_a_manifest_that_does_not_match_its_files_is_refused(
    tmp_path: Path, listed: list[str], present: list[str], message: str
) -> None:
    spec = get_spec("codeformer")
    with pytest.raises(ArtifactError, match=message):
        check_artifact(spec, export_folder(tmp_path / "a", spec, listed, present))


def test_every_file_but_the_fp16_graph_is_required(tmp_path: Path) -> None:
    spec = get_spec("mtcnn")
    files = list(spec.onnx_files)
    assert check_artifact(spec, export_folder(tmp_path / "a", spec, files, files)).files
    with pytest.raises(ArtifactError, match="manifest lists no rnet.onnx"):
        check_artifact(spec, export_folder(tmp_path / "b", spec, files[::2], files))
