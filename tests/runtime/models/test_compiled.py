"""Compiled artifacts keyed by (source graph, backend and version, device, precision, batch profile):
built by a real compiler (ONNX Runtime's optimized model of MTCNN's P-Net), found again under their
key, and refused in one line when their manifest or file does not match
(facert.models.compiled, facert.models.compiling, facert.backends.ort_optimized)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from facert.backends.device import cpu_fingerprint, cpu_flags, split_flags
from facert.backends.ort import OrtSession
from facert.backends.ort_optimized import OrtOptimizer
from facert.errors import ArtifactError, UsageError
from facert.io.files import sha256_of
from facert.models.artifacts import MANIFEST, Artifact
from facert.models.cache import exported_sources
from facert.models.compiled import CompiledArtifact, CompiledKey, check_compiled, find_compiled
from facert.models.compiling import compile_graph, compiled_key
from facert.models.registry import get_spec

GRAPH = "pnet.onnx"


@pytest.fixture
def built(tmp_path: Path, mtcnn_artifact: Artifact) -> CompiledArtifact:
    """P-Net optimized by ONNX Runtime into a fresh cache under ``tmp_path``."""
    compiler = OrtOptimizer()
    key = compiled_key(mtcnn_artifact, GRAPH, compiler)
    return compile_graph(tmp_path, mtcnn_artifact, key, compiler)


def test_the_key_is_the_source_graph_the_backend_the_device_the_precision(
    built: CompiledArtifact, mtcnn_artifact: Artifact, tmp_path: Path
) -> None:
    import onnxruntime

    key = built.key
    assert key.source_sha256 == sha256_of(mtcnn_artifact.path(GRAPH))
    assert (key.backend, key.backend_version) == ("onnxruntime", onnxruntime.__version__)
    assert (key.device, key.precision, key.batch_profile) == (cpu_fingerprint(), "fp32", None)
    assert built.folder == tmp_path / "mtcnn" / "compiled" / "ort-optimized" / key.digest()
    manifest = json.loads((built.folder / MANIFEST).read_text())
    assert manifest["key"] == key.to_json() and manifest["schema"] == 1
    assert manifest["file"]["sha256"] == sha256_of(built.path)
    assert sha256_of(built.path) != key.source_sha256  # ONNX Runtime rewrote the graph
    # The ONNX exports of the cache are found as before: compiled folders are not exports.
    assert exported_sources(tmp_path, mtcnn_artifact.spec) == []


def test_a_found_artifact_runs_as_its_source_graph(
    built: CompiledArtifact, mtcnn_artifact: Artifact, tmp_path: Path
) -> None:
    found = find_compiled(tmp_path, mtcnn_artifact.spec, built.key)
    assert found.path == built.path
    image = np.random.default_rng(0).uniform(-1, 1, (2, 3, 61, 47)).astype(np.float32)
    with OrtSession(mtcnn_artifact.path(GRAPH)) as source, OrtSession(found.path) as compiled:
        expected, actual = source.run({"image": image}), compiled.run({"image": image})
    # OrtSession optimizes the source graph the same way when it loads it: the same kernels run,
    # so the outputs are bit-identical (no tolerance).
    for name in expected:
        np.testing.assert_array_equal(actual[name], expected[name])


@pytest.mark.parametrize(
    ("field", "other", "label"),
    [
        ("backend_version", "1.0.0", "backend version"),
        ("device", "cpu-x86_64-000000000000", "device"),
        ("precision", "fp16", "precision"),
        ("batch_profile", (1, 4, 8), "batch profile"),
        ("source_sha256", "f" * 64, "source graph sha256"),
        ("source_graph", "rnet.onnx", "source graph"),
    ],
)
def test_an_artifact_built_under_another_key_is_refused(
    built: CompiledArtifact, field: str, other: object, label: str
) -> None:
    asked = replace(built.key, **{field: other})
    with pytest.raises(ArtifactError) as info:
        check_compiled(built.spec, built.folder, asked)
    message = str(info.value)
    assert message.startswith(f"{built.folder}: compiled for {label} ")
    assert message.endswith("; rebuild the ort-optimized artifact of mtcnn") and "\n" not in message


def test_a_manifest_that_disagrees_with_its_folder_is_refused(
    built: CompiledArtifact, tmp_path: Path
) -> None:
    """An artifact copied in from another machine (another ONNX Runtime) under this key's folder."""
    path = built.folder / MANIFEST
    manifest = json.loads(path.read_text())
    manifest["key"]["backend_version"] = "1.0.0"
    path.write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError) as info:
        find_compiled(tmp_path, built.spec, built.key)
    assert str(info.value) == (
        f"{built.folder}: compiled for backend version 1.0.0, this run asks for "
        f"{built.key.backend_version}; rebuild the ort-optimized artifact of mtcnn"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("append", "model.optimized.onnx is not the file its manifest hashed"),
        ("delete", "missing model.optimized.onnx, which its manifest lists"),
        ("schema", "compiled-artifact manifest schema 2, not 1"),
        ("fingerprint", "compiled from another version of the mtcnn graph"),
    ],
)
def test_a_damaged_or_foreign_artifact_is_refused(
    built: CompiledArtifact, tmp_path: Path, change: str, message: str
) -> None:
    manifest_path = built.folder / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    if change == "append":
        with open(built.path, "ab") as f:
            f.write(b"\0")
    elif change == "delete":
        built.path.unlink()
    else:
        manifest.update(schema=2) if change == "schema" else manifest.update(spec_fingerprint="0")
        manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=message):
        find_compiled(tmp_path, built.spec, built.key)


def test_another_model_refuses_it_and_a_rebuild_replaces_a_refused_one(
    built: CompiledArtifact, mtcnn_artifact: Artifact, tmp_path: Path
) -> None:
    with pytest.raises(ArtifactError, match="compiled for model 'mtcnn', not 'ispl'"):
        check_compiled(get_spec("ispl"), built.folder, built.key)
    built.path.write_bytes(b"not a model")
    with pytest.raises(ArtifactError, match="not the file its manifest hashed"):
        find_compiled(tmp_path, built.spec, built.key)
    rebuilt = compile_graph(tmp_path, mtcnn_artifact, built.key, OrtOptimizer())
    assert find_compiled(tmp_path, built.spec, built.key).path == rebuilt.path


def test_a_missing_artifact_and_a_failed_build_leave_nothing(
    mtcnn_artifact: Artifact, tmp_path: Path
) -> None:
    compiler = OrtOptimizer()
    key = compiled_key(mtcnn_artifact, GRAPH, compiler)
    with pytest.raises(ArtifactError, match=r"no ort-optimized artifact of mtcnn for onnxruntime"):
        find_compiled(tmp_path, mtcnn_artifact.spec, key)
    with pytest.raises(UsageError, match="keep the graph's dynamic batch"):
        compile_graph(tmp_path, mtcnn_artifact, replace(key, batch_profile=(1, 2, 4)), compiler)
    assert list((tmp_path / "mtcnn" / "compiled" / "ort-optimized").iterdir()) == []


def test_keys_are_checked_when_made(mtcnn_artifact: Artifact) -> None:
    compiler = OrtOptimizer()
    with pytest.raises(ArtifactError, match=r"has no model\.onnx \(it has onet\.onnx, pnet"):
        compiled_key(mtcnn_artifact, "model.onnx", compiler)
    with pytest.raises(UsageError, match="ort-optimized keeps the graph's precision"):
        compiled_key(mtcnn_artifact, GRAPH, compiler, precision="fp16")
    with pytest.raises(UsageError, match="batch profile must be 1 <= min <= opt <= max"):
        compiled_key(mtcnn_artifact, GRAPH, compiler, batch_profile=(4, 2, 8))


def test_every_key_field_gives_its_own_folder() -> None:
    key = CompiledKey(
        "trt-plan", "model.onnx", "a" * 64, "tensorrt", "10.3", "gpu-x", "fp16", (1, 4, 8)
    )
    variants = [
        replace(key, **{name: value})
        for name, value in [
            ("kind", "openvino-blob"),
            ("source_sha256", "b" * 64),
            ("backend_version", "10.4"),
            ("device", "gpu-y"),
            ("precision", "fp32"),
            ("batch_profile", (1, 4, 16)),
        ]
    ]
    assert len({k.digest() for k in [key, *variants]}) == 7


def test_the_cpu_fingerprint_follows_the_vector_extensions(tmp_path: Path) -> None:
    def fingerprint(flags: str) -> str:
        cpuinfo = tmp_path / "cpuinfo"
        cpuinfo.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: {flags}\n")
        return cpu_fingerprint(cpuinfo)

    assert cpu_flags(tmp_path / "absent") == ()
    avx512 = fingerprint("fpu vme avx2 avx512f fma sse4_2")
    assert avx512 == fingerprint("sse4_2 fma avx512f avx2 pse tsc")  # order, non-ISA flags
    assert avx512 != fingerprint("fpu vme avx2 fma sse4_2")  # no AVX-512: other NCHWc blocks
    assert split_flags(("amx_bf16", "avx512f", "avx2"), tmp_path / "cpuinfo") == (
        ["avx2"],
        ["amx_bf16", "avx512f"],
    )  # the last fingerprint's flags, split in the names' order


def test_a_key_reads_back_from_its_json_and_keeps_old_digests() -> None:
    plain = CompiledKey("trt-plan", "model.onnx", "ab" * 32, "tensorrt-rtx", "1.7", "sm86", "fp32",
                        (1, 4, 8))  # fmt: skip
    assert "spatial_profile" not in plain.to_json()  # keys made before it existed hash the same
    spatial = replace(plain, spatial_profile=(12, 648, 2304))
    assert spatial.to_json()["spatial_profile"] == [12, 648, 2304]
    assert spatial.digest() != plain.digest()
    for key in (plain, spatial):
        assert CompiledKey.from_json(json.loads(json.dumps(key.to_json()))) == key
    with pytest.raises(TypeError):
        CompiledKey.from_json(["not", "a", "key"])
