"""The prebuilt fatbin: built with nvcc here (skips without it), read back (which images it holds),
and chosen over NVRTC only when it holds the device's architecture AND was built from the sources
installed beside it; otherwise NVRTC's cached cubin."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tiny_kernels import cubin_arch, tiny_sources

from facert.errors import ArtifactError
from facert.kernels.fatbin import (
    FACTS_NAME,
    FATBIN_NAME,
    build_fatbin,
    fatbin_entries,
    kernel_image,
    main,
)

NVCC = shutil.which("nvcc") or (
    "/usr/local/cuda/bin/nvcc" if Path("/usr/local/cuda/bin/nvcc").is_file() else None
)
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="not run: no nvcc on this machine")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny program's fatbin for sm_75 and sm_86, built beside its sources."""
    if NVCC is None:
        pytest.skip("not run: no nvcc on this machine")
    folder = tmp_path_factory.mktemp("fatbin")
    build_fatbin(folder, ("sm_86", "sm_75"), tiny_sources(folder), NVCC)
    return folder


@needs_nvcc
def test_the_fatbin_holds_each_architecture_and_ptx_of_the_newest(built: Path) -> None:
    entries = fatbin_entries((built / FATBIN_NAME).read_bytes())
    assert sorted(entries) == [("elf", 75), ("elf", 86), ("ptx", 86)]
    facts = json.loads((built / FACTS_NAME).read_text())
    assert facts["archs"] == ["sm_75", "sm_86"]
    assert facts["sources_sha256"] == tiny_sources(built).digest()
    assert facts["nvcc"].count(".") == 1


@needs_nvcc
def test_the_loader_prefers_the_fatbin_for_an_architecture_it_holds(
    built: Path, tmp_path: Path
) -> None:
    image = kernel_image("sm_86", tmp_path, tiny_sources(built))
    assert (image.origin, image.path) == ("fatbin", built / FATBIN_NAME)
    assert not (tmp_path / "kernels").exists()  # nothing compiled


@needs_nvcc
def test_other_architectures_compile_with_nvrtc(built: Path, tmp_path: Path) -> None:
    pytest.importorskip("cuda.bindings.nvrtc", reason="not run: cuda-python absent")
    image = kernel_image("sm_89", tmp_path, tiny_sources(built))
    assert image.origin == "nvrtc" and image.path.parent == tmp_path / "kernels"
    assert cubin_arch(image.data) == 89


@needs_nvcc
def test_a_fatbin_of_other_sources_is_never_loaded(built: Path, tmp_path: Path) -> None:
    pytest.importorskip("cuda.bindings.nvrtc", reason="not run: cuda-python absent")
    stale = tmp_path / "stale"
    shutil.copytree(built, stale)
    sources = tiny_sources(stale)
    (stale / "axpy.cu").write_text((stale / "axpy.cu").read_text() + "// edited since\n")
    image = kernel_image("sm_86", tmp_path / "cache", sources)
    assert image.origin == "nvrtc"


@needs_nvcc
def test_a_failed_nvcc_build_is_one_line_then_its_output(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError) as caught:
        build_fatbin(tmp_path, ("sm_86",), tiny_sources(tmp_path, broken=True), NVCC)
    first = str(caught.value).splitlines()[0]
    assert first.startswith(f"{tmp_path}: nvcc could not build the kernels' fatbin: ")
    assert "not_declared_anywhere" in first
    assert not (tmp_path / FATBIN_NAME).exists() and not (tmp_path / FACTS_NAME).exists()


def test_not_a_fatbin_is_refused() -> None:
    with pytest.raises(ArtifactError, match="not a CUDA fatbin"):
        fatbin_entries(b"\x7fELF" + bytes(60))


def test_the_command_reports_a_missing_nvcc(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--out-dir", str(tmp_path), "--nvcc", str(tmp_path / "no-nvcc")]) == 1
    assert capsys.readouterr().err.startswith("error: building the kernels' fatbin needs nvcc")
