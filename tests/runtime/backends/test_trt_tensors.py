"""The boundary checks of the TensorRT engine's tensors, which need no GPU: a feed of device
buffers (by their ``__cuda_array_interface__``) and an input shape against the plan's profile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gpu_support import Described

from facert.backends.base import TensorInfo
from facert.backends.trt_tensors import IoTensor, bind_shapes, device_feed
from facert.errors import FacertError, UsageError

INPUTS = {"image": TensorInfo((None, 3, 16, 16), np.dtype(np.float16))}


def test_a_device_feed_gives_pointers_and_shapes() -> None:
    assert device_feed("g.plan", INPUTS, {"image": Described((2, 3, 16, 16))}) == {
        "image": (0x7F0000001000, (2, 3, 16, 16))
    }
    contiguous = (3 * 16 * 16 * 2, 16 * 16 * 2, 16 * 2, 2)
    assert device_feed("g.plan", INPUTS, {"image": Described((1, 3, 16, 16), strides=contiguous)})


@pytest.mark.parametrize(
    ("feed", "message"),
    [
        ({}, r"g.plan: inputs expected \['image'\], got \[\]"),
        ({"image": np.zeros((1, 3, 16, 16), np.float16)}, "must be a device buffer .* got ndarray"),
        ({"image": Described((1, 3, 16, 16), "<f4")}, "must be float16, got float32"),
        (
            {"image": Described((1, 3, 8, 8))},
            r"must have shape \[None, 3, 16, 16\], got \[1, 3, 8, 8\]",
        ),
        ({"image": Described((1, 3, 16, 16), strides=(1536, 2, 96, 6))}, "must be C-contiguous"),
    ],
)
def test_bad_device_feeds_are_one_line(feed: dict[str, Any], message: str) -> None:
    with pytest.raises(FacertError, match=message) as caught:
        device_feed("g.plan", INPUTS, feed)
    assert "\n" not in str(caught.value)


def test_shapes_outside_the_profile_are_refused_with_the_fix() -> None:
    tensor = IoTensor(
        "image", True, np.dtype(np.float16), (-1, 3, 16, 16), (1, 3, 16, 16), (8, 3, 16, 16)
    )
    assert tensor.info == TensorInfo((None, 3, 16, 16), np.dtype(np.float16))
    assert tensor.max_bytes == 8 * 3 * 16 * 16 * 2
    tensor.check_shape((8, 3, 16, 16), Path("g.plan"))
    with pytest.raises(
        UsageError,
        match=r"g.plan: input 'image' has shape \[9, 3, 16, 16\], the plan's profile allows \[1, 3, 16, 16\] to \[8, 3, 16, 16\] \(rebuild it with a larger --max-batch",
    ):
        tensor.check_shape((9, 3, 16, 16), Path("g.plan"))
    with pytest.raises(UsageError, match="has shape"):
        tensor.check_shape((1, 3, 16), Path("g.plan"))


def _tensors() -> dict[str, IoTensor]:
    image = IoTensor(
        "image", True, np.dtype(np.float16), (-1, 3, 16, 16), (1, 3, 16, 16), (4, 3, 16, 16)
    )
    weight = IoTensor("w", True, np.dtype(np.float32), (-1,), (1,), (4,))
    output = IoTensor(
        "out", False, np.dtype(np.float16), (-1, 3, 16, 16), (4, 3, 16, 16), (4, 3, 16, 16)
    )
    return {"image": image, "w": weight, "out": output}


def test_bound_shapes_are_every_input_within_the_profile() -> None:
    shapes = {"image": (2, 3, 16, 16), "w": (2,)}
    assert bind_shapes("g.plan", _tensors(), shapes) == shapes


@pytest.mark.parametrize(
    ("shapes", "message"),
    [
        ({"image": (1, 3, 16, 16)}, r"g.plan: inputs expected \['image', 'w'\], got \['image'\]"),
        ({"image": (1, 3, 16, 16), "w": (1,), "out": (1, 3, 16, 16)}, "inputs expected"),
        ({"image": (1, 3, 8, 8), "w": (1,)}, r"must have shape \[None, 3, 16, 16\]"),
        ({"image": (5, 3, 16, 16), "w": (5,)}, r"the plan's profile allows \[1, 3, 16, 16\]"),
    ],
)
def test_bad_bound_shapes_are_one_line(shapes: dict[str, tuple[int, ...]], message: str) -> None:
    with pytest.raises(FacertError, match=message) as caught:
        bind_shapes("g.plan", _tensors(), shapes)
    assert "\n" not in str(caught.value)
