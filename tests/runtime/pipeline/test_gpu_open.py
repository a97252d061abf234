"""``--device cuda`` and ``GpuPipeline.open``: what is refused, in one line, before anything is built
(the CLI run in-process, tests/cli_runs.py); the refusals that need no GPU run everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_runs import facert, one_face_photo
from gpu_support import gpu_missing

from facert.config import Settings
from facert.errors import UnsupportedError, UsageError
from facert.models.registry import get_spec
from facert.pipeline.frame import EnhanceOptions
from facert.pipeline.gpu_frame import GpuPipeline, gpu_refusal
from facert.pipeline.gpu_open import estimated_options

needs_no_gpu = pytest.mark.skipif(gpu_missing() is None, reason="this machine has a GPU")


@needs_no_gpu
@pytest.mark.parametrize("model", ["gfpgan-1.4", "ispl"])
def test_without_a_gpu_device_cuda_exits_2_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model: str
) -> None:
    photo = one_face_photo(tmp_path / "face.png")
    code, out, err = facert(
        capsys, "enhance", photo, "-o", tmp_path / "out", "--device", "cuda", "--model", model
    )
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert err.startswith("facert: error: --device cuda needs an NVIDIA GPU: no NVIDIA driver")
    assert not (tmp_path / "out").exists()


def test_device_cuda_takes_gpu_backends_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = one_face_photo(tmp_path / "face.png")
    args = ("enhance", photo, "-o", tmp_path / "out", "--device", "cuda", "--backend", "openvino")
    code, _, err = facert(capsys, *args)
    assert code == 2
    assert err == "facert: error: --device cuda runs --backend auto, trt, torch, not openvino\n"


@needs_no_gpu
def test_the_python_api_refuses_the_same_way(settings: Settings) -> None:
    with pytest.raises(UnsupportedError, match="^--device cuda needs an NVIDIA GPU: "):
        GpuPipeline.open(settings, "gfpgan-1.4")


@pytest.mark.parametrize(
    ("model", "why"),
    [
        ("ispl", "ispl pastes a correction of its crop (paste='correction'), not a restored face"),
        ("wipa", "wipa restores the whole frame before the faces (a frame stage)"),
    ],
)
def test_restorers_the_gpu_pipeline_does_not_run_are_named(model: str, why: str) -> None:
    spec = get_spec(model)
    refusal = gpu_refusal(spec, EnhanceOptions(), estimated_options(spec, {}))
    assert refusal == f"{why}, which the GPU pipeline does not do: use --device cpu"


def test_upscale_and_estimated_options_are_refused() -> None:
    spec = get_spec("gfpgan-1.4")
    assert gpu_refusal(spec, EnhanceOptions()) is None
    assert gpu_refusal(spec, EnhanceOptions(upscale=2)) == (
        "--upscale 2: the GPU pipeline blends at the frame's own size; use --upscale 1 or "
        "--device cpu"
    )
    assert "estimates option(s) ['blur_sigma'] per face" in str(
        gpu_refusal(spec, EnhanceOptions(), ["blur_sigma"])
    )
    with pytest.raises(UsageError):
        EnhanceOptions(upscale=9)
