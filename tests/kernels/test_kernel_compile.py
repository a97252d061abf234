"""NVRTC compiles facert's kernels here, without a GPU: the tiny program of tests/tiny_kernels.py
(cubin for the architecture asked, one-line errors with NVRTC's log, the cubin cache keyed by the
sources, the architecture and NVRTC's version, written atomically) and the real sources for every
architecture facert ships."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tiny_kernels import cubin_arch, tiny_sources

pytest.importorskip("cuda.bindings.nvrtc", reason="not run: cuda-python (facert[kernels]) absent")

from facert.errors import ArtifactError, MissingDependencyError, UsageError
from facert.kernels import compile as kernel_compile
from facert.kernels.compile import (
    FACERT_SOURCES,
    arch_of,
    cached_cubin,
    check_arch,
    compile_cubin,
    cubin_path,
    nvrtc_version,
)
from facert.kernels.launch import ENTRY_POINTS

SHIPPED_ARCHS = ("sm_75", "sm_86", "sm_87", "sm_89", "sm_90", "sm_120")


@pytest.mark.parametrize("arch", ["sm_75", "sm_90", "sm_120"])
def test_the_cubin_is_for_the_architecture_asked(tmp_path: Path, arch: str) -> None:
    cubin = compile_cubin(arch, tiny_sources(tmp_path))
    assert cubin_arch(cubin) == check_arch(arch)
    assert b"tiny_axpy\0" in cubin and b"tiny_scale\0" in cubin  # both units, one module


def test_a_program_that_does_not_compile_is_one_line_then_the_log(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError) as caught:
        compile_cubin("sm_86", tiny_sources(tmp_path, broken=True))
    first, *log = str(caught.value).splitlines()
    assert first.startswith(f"{tmp_path}: NVRTC {nvrtc_version()} could not compile the kernels")
    assert 'broken.cu(2): error: identifier "not_declared_anywhere" is undefined' in first
    assert any("1 error detected" in line for line in log)


@pytest.mark.parametrize("arch", ["86", "sm86", "compute_86", "sm_8", "sm_86 "])
def test_architectures_are_written_sm_xy(arch: str) -> None:
    with pytest.raises(UsageError, match=r"a CUDA architecture is written sm_XY \(sm_86\)"):
        check_arch(arch)


def test_an_architecture_nvrtc_does_not_know_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(
        UsageError, match=r"^NVRTC \d+\.\d+ does not compile for sm_35; it supports sm_75"
    ):
        compile_cubin("sm_35", tiny_sources(tmp_path))


def test_compute_capabilities_map_to_architectures() -> None:
    assert arch_of("8.6") == "sm_86"
    assert arch_of("12.0") == "sm_120"


def test_the_cache_compiles_once_then_hits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources = tiny_sources(tmp_path / "src")
    cache = tmp_path / "cache"
    path = cached_cubin(cache, "sm_86", sources)
    assert path.parent == cache / "kernels"
    assert path.name.startswith(f"facert-sm_86-nvrtc{nvrtc_version()}-")
    assert cubin_arch(path.read_bytes()) == 86
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left

    def no_compiling(arch: str, sources: object) -> bytes:
        raise AssertionError("the cache missed")

    monkeypatch.setattr(kernel_compile, "compile_cubin", no_compiling)
    assert cached_cubin(cache, "sm_86", sources) == path  # a hit: nothing compiled


def test_the_cache_key_is_sources_arch_and_nvrtc_version(tmp_path: Path) -> None:
    sources = tiny_sources(tmp_path / "src")
    first = cubin_path(tmp_path, "sm_86", sources)
    assert cubin_path(tmp_path, "sm_86", sources) == first  # deterministic
    assert cubin_path(tmp_path, "sm_89", sources) != first
    (sources.directory / "tiny.cuh").write_text(
        (sources.directory / "tiny.cuh").read_text() + "// an edit\n"
    )
    assert cubin_path(tmp_path, "sm_86", sources) != first  # a header edit is a new key
    assert nvrtc_version() in first.name


def test_a_failed_compile_caches_nothing(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError):
        cached_cubin(tmp_path / "cache", "sm_86", tiny_sources(tmp_path / "src", broken=True))
    assert not any((tmp_path / "cache").rglob("*"))


def test_without_cuda_python_the_error_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cuda.bindings

    monkeypatch.setitem(sys.modules, "cuda.bindings.nvrtc", None)  # the import fails
    monkeypatch.delattr(cuda.bindings, "nvrtc", raising=False)
    with pytest.raises(MissingDependencyError) as caught:
        compile_cubin("sm_86", tiny_sources(tmp_path))
    message = str(caught.value)
    assert "\n" not in message
    assert message.endswith("pip install 'facert[kernels]'")


def test_a_missing_source_is_named(tmp_path: Path) -> None:
    sources = tiny_sources(tmp_path)
    (tmp_path / "scale.cu").unlink()
    with pytest.raises(ArtifactError, match=r"scale.cu: kernel source missing or unreadable"):
        compile_cubin("sm_86", sources)


REAL = all((FACERT_SOURCES.directory / n).is_file() for n in FACERT_SOURCES.units)


@pytest.mark.skipif(not REAL, reason="not run: facert's kernel sources are not in this tree")
@pytest.mark.parametrize("arch", SHIPPED_ARCHS)
def test_the_real_kernels_compile_for_every_shipped_architecture(arch: str) -> None:
    """Every entry point the launchers call is in the one cubin, for each architecture."""
    cubin = compile_cubin(arch)
    assert cubin_arch(cubin) == check_arch(arch)
    missing = [name for name in ENTRY_POINTS if f"{name}\0".encode() not in cubin]
    assert not missing


def test_compiling_leaves_python_s_shared_bytes_alone(tmp_path: Path) -> None:
    """NVRTC writes its log and the cubin into buffers it is given. A clean compile's log is 1 byte;
    ``b" " * 1`` is CPython's one shared b" ", so writing into it turned every b" " in the process
    into b"\\0" (and broke torch.load later in the same process): buffers must be bytearrays."""
    compile_cubin("sm_86", tiny_sources(tmp_path))
    assert bytes([32])[0] == 32  # the shared object (a b" " literal may be another one)
