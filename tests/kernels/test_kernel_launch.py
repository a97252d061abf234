"""The launchers' argument checks, run here on objects that carry a ``__cuda_array_interface__``
dict (no driver: every check runs before anything touches a GPU), the plan upload packing, and on
a GPU the launchers themselves."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pytest

from facert.errors import UnsupportedError, UsageError
from facert.kernels.launch import CudaKernels
from facert.kernels.plan import blend_plan, resize_plan, warp_plan
from facert.kernels.uploads import packed_offsets
from facert.kernels.validate import check_rows, check_tiles, frame_layout, tensor_layout
from facert.models.registry import get_spec

BASE = 0x7F0000000000  # a device address, 256-byte aligned like cudaMalloc's


@dataclass
class Cai:
    """Device memory as a launcher sees it: only its array interface."""

    shape: tuple[int, ...]
    typestr: str
    strides: tuple[int, ...] | None = None
    pointer: int = BASE
    read_only: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        return {
            "shape": self.shape,
            "typestr": self.typestr,
            "data": (self.pointer, self.read_only),
            "strides": self.strides,
            "version": 3,
            **self.extra,
        }


def test_a_pitched_frame_gives_its_pitch() -> None:
    layout = frame_layout(Cai((1080, 1920, 3), "|u1", (5888, 3, 1)))
    assert (layout.height, layout.width, layout.pitch, layout.pointer) == (1080, 1920, 5888, BASE)
    assert frame_layout(Cai((4, 5, 3), "|u1")).pitch == 15  # no strides: rows of 3 W bytes


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (
            Cai((1080, 1920), "|u1"),
            r"expected an \(H, W, 3\) uint8 BGR frame, got shape \[1080, 1920\] \|u1",
        ),
        (Cai((1080, 1920, 3), "<f4"), r"got shape \[1080, 1920, 3\] <f4"),
        (
            Cai((1080, 1920, 3), "|u1", (5000, 3, 1)),
            r"pitch >= 5760 \(3 x width\), got \(5000, 3, 1\)",
        ),
        (Cai((1080, 1920, 3), "|u1", (3, 5760, 1)), r"expected strides \(pitch, 3, 1\)"),
        (Cai((4, 4, 3), "|u1", pointer=0), "a null device pointer"),
        (Cai((50000, 16000, 3), "|u1"), "exceed the kernels' 2 GiB"),
        (Cai((4, 4, 3), "|u1", extra={"mask": object()}), "masked arrays are not supported"),
        (np.zeros((4, 4, 3), np.uint8), "expected device memory with __cuda_array_interface__"),
    ],
)
def test_frames_the_kernels_cannot_take_are_refused_in_one_line(frame: Any, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        frame_layout(frame)
    assert str(caught.value).startswith("frame: ") and "\n" not in str(caught.value)


def test_a_read_only_frame_is_refused_where_the_kernel_writes() -> None:
    frame = Cai((4, 4, 3), "|u1", read_only=True)
    frame_layout(frame)  # warp-crop reads it
    with pytest.raises(UsageError, match="frame: is read-only, the kernel writes it"):
        frame_layout(frame, writable=True)


@pytest.mark.parametrize(("typestr", "half"), [("<f4", False), ("<f2", True)])
def test_float32_or_float16_by_typestr(typestr: str, half: bool) -> None:
    layout = tensor_layout(Cai((4, 3, 512, 512), typestr), "out", (4, 3, 512, 512))
    assert layout.half is half and layout.shape == (4, 3, 512, 512)


@pytest.mark.parametrize(
    ("tensor", "message"),
    [
        (
            Cai((3, 3, 512, 512), "<f4"),
            r"out: expected shape \[4, 3, 512, 512\], got \[3, 3, 512, 512\]",
        ),
        (
            Cai((4, 3, 512, 512), "|u1"),
            r"out: expected float32 \(<f4\) or float16 \(<f2\), got \|u1",
        ),
        (Cai((4, 3, 512, 512), ">f4"), "got >f4"),
        (Cai((4, 3, 512, 512), "<f4", (4, 1048576, 2048, 4)), "expected a C-contiguous tensor"),
        (Cai((4, 3, 512, 512), "<f4", pointer=BASE + 2), "is not 4-byte aligned"),
        (Cai((4, 3, 512, 512), "<f2", pointer=BASE + 1), "is not 2-byte aligned"),
    ],
)
def test_tensors_the_kernels_cannot_take_are_refused_in_one_line(tensor: Cai, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        tensor_layout(tensor, "out", (4, 3, 512, 512))


def test_explicit_contiguous_strides_pass() -> None:
    strides = (3 * 512 * 512 * 2, 512 * 512 * 2, 512 * 2, 2)
    tensor_layout(Cai((4, 3, 512, 512), "<f2", strides), "faces", (4, 3, 512, 512))


def test_plan_arrays_and_tiles_are_checked() -> None:
    assert check_rows(np.zeros((5, 6), np.float32), "crop_to_frame", 6) == 5
    with pytest.raises(UsageError, match=r"plan.crop_to_frame: expected \(N, 6\), got \[5, 4\]"):
        check_rows(np.zeros((5, 4), np.float32), "crop_to_frame", 6)
    with pytest.raises(UsageError, match="plan.face_params: 5 rows for 4 faces"):
        check_rows(np.zeros((5, 20), np.float32), "face_params", 20, 4)
    with pytest.raises(UsageError, match="at most 65535 per launch"):
        check_rows(np.zeros((65536, 4), np.float32), "boxes", 4)
    frame = frame_layout(Cai((100, 200, 3), "|u1"))
    assert check_tiles(np.array([[0, 0], [192, 96]], np.int32), frame, 16) == 2
    for tiles in ([[208, 0]], [[8, 0]], [[0, -16]]):
        with pytest.raises(UsageError, match="multiples of 16 inside the 200x100 frame"):
            check_tiles(np.array(tiles, np.int32), frame, 16)
    with pytest.raises(UsageError, match=r"plan.tiles: expected \(M, 2\) int32"):
        check_tiles(np.zeros((2, 2), np.int64), frame, 16)


def test_plan_arrays_are_packed_at_256_byte_boundaries() -> None:
    arrays = [np.zeros(20, np.float32), np.zeros(1, np.float32), np.zeros((3, 2), np.int32)]
    assert packed_offsets(arrays) == ([0, 256, 512], 536)
    assert packed_offsets([]) == ([], 1)


def test_the_launchers_are_cheap_until_opened() -> None:
    kernels = CudaKernels()
    kernels.close()
    from facert.backends.cuda import driver_status

    if not driver_status().present:
        with pytest.raises(UnsupportedError, match="facert's CUDA kernels needs an NVIDIA GPU"):
            kernels.open()


SPEC = get_spec("gfpgan-1.4")


def affines(count: int) -> list[np.ndarray]:
    """``count`` frame -> crop affines: 512 crops of 400 frame px side by side along a 1080p row."""
    scale = 512 / 400
    return [
        np.array([[scale, 0, -scale * 420 * i], [0, scale, -scale * 300]]) for i in range(count)
    ]


WARP = warp_plan(affines(2), SPEC)
BLEND = blend_plan(affines(2), SPEC, (1080, 1920))
RESIZE = resize_plan(
    [[0, 0, 1920, 1080], [10, 10, 58, 58], [0, 0, 24, 24]], (320, 180), False, 1 / 128, -127.5 / 128
)
FRAME = Cai((1080, 1920, 3), "|u1", (5888, 3, 1))


def test_each_launcher_checks_its_arguments_before_the_gpu() -> None:
    """An unopened CudaKernels: bad arguments fail their check (UsageError); good ones get as far
    as the launch, which needs it open (RuntimeError)."""
    kernels = CudaKernels()
    warp = WARP
    with pytest.raises(
        UsageError, match=r"out: expected shape \[2, 3, 512, 512\], got \[3, 3, 512, 512\]"
    ):
        kernels.warp_crop(FRAME, warp, Cai((3, 3, 512, 512), "<f2"), None)
    with pytest.raises(
        UsageError, match=r"plan.border_mode: 0 \(constant\) or 1 \(reflect101\), not 2"
    ):
        kernels.warp_crop(
            FRAME,
            replace(WARP, border_mode=2),
            Cai((2, 3, 512, 512), "<f2"),
            None,
        )
    with pytest.raises(RuntimeError, match="is not open"):
        kernels.warp_crop(FRAME, warp, Cai((2, 3, 512, 512), "<f2"), None)

    blend = BLEND
    assert len(BLEND.tiles) > 0
    with pytest.raises(UsageError, match="faces: expected shape"):
        kernels.blend(FRAME, Cai((1, 3, 512, 512), "<f4"), blend, None)
    with pytest.raises(UsageError, match="frame: is read-only"):
        kernels.blend(
            Cai((1080, 1920, 3), "|u1", read_only=True), Cai((2, 3, 512, 512), "<f4"), blend, None
        )
    with pytest.raises(UsageError, match="plan.tables: at least one element"):
        kernels.blend(
            FRAME,
            Cai((2, 3, 512, 512), "<f4"),
            replace(BLEND, tables=np.zeros(0, np.float32)),
            None,
        )
    with pytest.raises(RuntimeError, match="is not open"):
        kernels.blend(FRAME, Cai((2, 3, 512, 512), "<f4"), blend, None)

    resize = RESIZE
    with pytest.raises(UsageError, match=r"out: expected shape \[3, 3, 180, 320\]"):
        kernels.resize_normalize(FRAME, resize, Cai((3, 3, 320, 180), "<f4"), None)
    with pytest.raises(RuntimeError, match="is not open"):
        kernels.resize_normalize(FRAME, resize, Cai((3, 3, 180, 320), "<f4"), None)


def test_no_faces_is_no_launch() -> None:
    """Zero faces (or zero tiles): nothing to do, nothing launched, even unopened."""
    kernels = CudaKernels()
    kernels.warp_crop(
        FRAME,
        replace(WARP, crop_to_frame=np.zeros((0, 6), np.float32)),
        Cai((0, 3, 512, 512), "<f4", pointer=0),
        None,
    )
    kernels.blend(
        FRAME,
        Cai((2, 3, 512, 512), "<f4"),
        replace(BLEND, tiles=np.zeros((0, 2), np.int32)),
        None,
    )


@pytest.mark.gpu
def test_plan_uploads_land_in_device_memory_through_the_ring() -> None:
    """Ten uploads through a ring of 3 slots (one growing past its first 64 KiB): each lands where
    its pointers say (read back exactly: copies only)."""
    from facert.backends.cuda.memory import Stream, copy_async
    from facert.kernels.uploads import PlanUploads

    rng = np.random.default_rng(3)
    with Stream() as stream, PlanUploads() as uploads:
        for round_ in range(10):
            rows = 40_000 if round_ == 7 else 5
            arrays = [
                rng.random((rows, 6), dtype=np.float32),
                rng.integers(0, 99, (3, 2), dtype=np.int32),
            ]
            pointers = uploads.stage(arrays, stream)
            uploads.done(stream)
            for array, pointer in zip(arrays, pointers, strict=True):
                back = np.empty_like(array)
                copy_async(back.ctypes.data, pointer.address, array.nbytes, stream)
                stream.synchronize()
                np.testing.assert_array_equal(back, array)
