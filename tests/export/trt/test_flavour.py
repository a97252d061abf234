"""The flavour table and the engine profile (no TensorRT needed for most of it)."""

from __future__ import annotations

import pytest

from facert.errors import MissingDependencyError, UsageError
from facert.export.trt.flavour import (
    TENSORRT,
    TENSORRT_RTX,
    capability_label,
    get_flavour,
)
from facert.export.trt.profiles import PNET_SPATIAL, Profile, default_profile


def test_flavours_by_name_and_unknown_ones_refused() -> None:
    assert get_flavour("tensorrt-rtx") is TENSORRT_RTX and get_flavour("tensorrt") is TENSORRT
    with pytest.raises(
        UsageError, match="unknown TensorRT flavour 'trt': expected one of tensorrt-rtx"
    ):
        get_flavour("trt")


def test_rtx_targets_checked_and_labelled() -> None:
    TENSORRT_RTX.check_targets(("8.6", "12.0"))
    assert capability_label(("8.6", "8.9", "12.0")) == "sm86+sm89+sm120"
    with pytest.raises(UsageError, match=r"not 8\.7 \(Jetson"):
        TENSORRT_RTX.check_targets(("8.7",))
    with pytest.raises(UsageError, match=r"not 6\.1$"):
        TENSORRT_RTX.check_targets(("6.1",))
    with pytest.raises(UsageError, match="builds for the GPU it runs on"):
        TENSORRT.check_targets(("8.6",))


@pytest.mark.skipif(TENSORRT.available(), reason="enterprise TensorRT is installed")
def test_a_missing_flavour_names_its_extra() -> None:
    with pytest.raises(MissingDependencyError, match=r"pip install 'facert\[tensorrt\]'"):
        TENSORRT.module()


def test_profiles_cover_batch_and_the_pnet_pyramid() -> None:
    assert default_profile("model.fp16.onnx", None) == Profile((1, 4, 8))
    assert default_profile("model.onnx", 2) == Profile((1, 2, 2))
    assert default_profile("pnet.onnx", None) == Profile((1, 1, 1), PNET_SPATIAL)
    low, opt, high = default_profile("pnet.onnx", None).shapes("image", (0, 3, "height", "width"))
    assert (low, opt, high) == ([1, 3, 12, 12], [1, 3, 648, 648], [1, 3, 2304, 2304])
    with pytest.raises(UsageError, match="dynamic dimension 2"):
        default_profile("model.onnx", None).shapes("image", (0, 3, "height", "width"))
    with pytest.raises(UsageError, match="--max-batch must be at least 1"):
        default_profile("model.onnx", 0)
