"""facert's CUDA kernels behind validated launchers: warp-crop, blend and resize-normalise.

:class:`CudaKernels` is a :class:`facert.backends.base.Lifecycle`: :meth:`open` checks for a GPU,
gets the kernels for its architecture (the prebuilt fatbin, or NVRTC's cached cubin:
:func:`facert.kernels.fatbin.kernel_image`), loads them (:class:`facert.kernels.module.KernelModule`)
and makes the plan upload ring (:class:`facert.kernels.uploads.PlanUploads`). Each launcher takes
device memory as any object with ``__cuda_array_interface__`` (a :class:`DeviceView`, a CUDA torch
tensor, a CuPy array), a plan (:mod:`facert.kernels.plan`: the host-computed per-face arrays) and
a stream; it checks every argument first (:mod:`facert.kernels.validate`, one-line
:class:`UsageError`), uploads the plan's arrays on the stream and queues the kernel there. Nothing
synchronizes: the caller orders its later work on the same stream.

Matrices follow the kernels' convention: ``crop_to_frame`` holds per face the inverse of facert's
(2, 3) frame -> crop affine, 6 float32, ``x = m0 u + m1 v + m2``, ``y = m3 u + m4 v + m5`` with
pixel centres at integer coordinates. The float16 or float32 variant of a kernel is chosen by the
network tensor's type (``<f2`` / ``<f4``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from facert.backends.base import Lifecycle
from facert.errors import DeviceError, UsageError
from facert.kernels.compile import FACERT_SOURCES, KernelSources, arch_of
from facert.kernels.module import KernelModule, Pointer
from facert.kernels.plan import BLEND_PARAMS, TILE, BlendPlan, ResizePlan, WarpPlan
from facert.kernels.uploads import PlanUploads
from facert.kernels.validate import (
    check_rows,
    check_tiles,
    frame_layout,
    tensor_layout,
)

BLOCK = (16, 16, 1)
KERNELS = ("warp_crop", "blend", "resize_normalize")
ENTRY_POINTS = tuple(f"facert_{kernel}_{p}" for kernel in KERNELS for p in ("f32", "f16"))


def _blocks(extent: int) -> int:
    return -(-extent // BLOCK[0])


def _entry(kernel: str, half: bool) -> str:
    return f"facert_{kernel}_{'f16' if half else 'f32'}"


class CudaKernels(Lifecycle):
    """facert's kernels on GPU ``device`` (see the module's docstring); ``cache_dir``: where NVRTC's
    cubins are cached (default: the settings' cache, ``FACERT_CACHE``). One thread at a time: the
    plan upload ring is the object's own."""

    def __init__(
        self,
        cache_dir: Path | None = None,
        device: int = 0,
        sources: KernelSources = FACERT_SOURCES,
    ) -> None:
        self.cache_dir = cache_dir
        self.device = device
        self.sources = sources
        self.origin = ""  # "fatbin" or "nvrtc", once open
        self._module: KernelModule | None = None
        self._uploads: PlanUploads | None = None

    def __repr__(self) -> str:
        return f"CudaKernels(device={self.device})"

    def _acquire(self) -> None:
        from facert.backends.cuda import require_gpu
        from facert.kernels.fatbin import kernel_image

        status = require_gpu(self.device, purpose="facert's CUDA kernels")
        cache_dir = self.cache_dir
        if cache_dir is None:
            from facert.config import load_settings

            cache_dir = load_settings().cache_dir
        arch = arch_of(str(status.compute_capability))
        image = kernel_image(arch, cache_dir, self.sources)
        try:
            module = KernelModule(image.data, ENTRY_POINTS, self.device).open()
        except DeviceError as exc:  # a cubin newer than the driver: say which
            raise DeviceError(
                f"{exc} (facert's kernels for {arch} from {image.path}; the driver supports "
                f"CUDA {status.cuda_version})"
            ) from None
        try:
            self._uploads = PlanUploads(self.device).open()
        except BaseException:
            module.close()
            raise
        self._module, self.origin = module, image.origin

    def _release(self) -> None:
        uploads, module, self._uploads, self._module = self._uploads, self._module, None, None
        try:
            if uploads is not None:
                uploads.close()
        finally:
            if module is not None:
                module.close()

    def _launch(
        self,
        name: str,
        grid: tuple[int, int, int],
        arrays: list[np.ndarray],
        args: Any,
        stream: Any,
    ) -> None:
        """Upload ``arrays``, then launch ``name`` with ``args(pointers)`` on ``stream``."""
        self._require_open()
        module, uploads = self._module, self._uploads
        if module is None or uploads is None:  # unreachable while open
            raise RuntimeError(f"{self!r} lost its module")
        pointers = uploads.stage(arrays, stream)
        try:
            module.launch(name, grid, BLOCK, args(pointers), stream)
        finally:
            uploads.done(stream)

    def warp_crop(self, frame: Any, plan: WarpPlan, out: Any, stream: Any) -> None:
        """Sample each face's ``plan.size`` square crop of ``frame`` ((H, W, 3) uint8 BGR,
        pitched) into ``out`` ((N, 3, S, S) float32/float16 in the plan's colour order and range,
        bilinear, the plan's border), queued on ``stream``."""
        image = frame_layout(frame)
        count = check_rows(plan.crop_to_frame, "crop_to_frame", 6)
        size = int(plan.size)
        target = tensor_layout(out, "out", (count, 3, size, size), writable=True)
        if plan.border_mode not in (0, 1):
            raise UsageError(
                f"plan.border_mode: 0 (constant) or 1 (reflect101), not {plan.border_mode}"
            )
        if count == 0:
            return
        matrices = np.asarray(plan.crop_to_frame, dtype=np.float32)
        border = tuple(float(v) for v in plan.border_bgr)
        self._launch(
            _entry("warp_crop", target.half),
            (_blocks(size), _blocks(size), count),
            [matrices],
            lambda p: (
                Pointer(image.pointer),
                image.width,
                image.height,
                image.pitch,
                p[0],
                count,
                size,
                Pointer(target.pointer),
                int(plan.rgb),
                float(plan.scale),
                float(plan.offset),
                int(plan.border_mode),
                *border,
            ),
            stream,
        )

    def blend(self, frame: Any, faces: Any, plan: BlendPlan, stream: Any) -> None:
        """Paste ``faces`` ((N, 3, S, S) float32/float16, the spec's output colour order and
        range) into ``frame`` ((H, W, 3) uint8 BGR, pitched) in place, through the plan's masks,
        later faces over earlier ones, over the plan's tiles only; queued on ``stream``."""
        image = frame_layout(frame, writable=True)
        count = check_rows(plan.face_params, "face_params", BLEND_PARAMS)
        size = int(plan.size)
        source = tensor_layout(faces, "faces", (count, 3, size, size))
        tiles = check_tiles(plan.tiles, image, TILE)
        tables = np.asarray(plan.tables, dtype=np.float32).reshape(-1)
        if tables.size == 0:
            raise UsageError("plan.tables: at least one element (the kernels always read it)")
        if count == 0 or tiles == 0:
            return
        arrays = [
            np.asarray(plan.face_params, np.float32),
            tables,
            np.asarray(plan.tiles, np.int32),
        ]
        self._launch(
            _entry("blend", source.half),
            (tiles, 1, 1),
            arrays,
            lambda p: (
                Pointer(image.pointer),
                image.width,
                image.height,
                image.pitch,
                Pointer(source.pointer),
                count,
                size,
                int(plan.rgb),
                float(plan.low),
                float(plan.high),
                p[0],
                p[1],
                p[2],
                tiles,
            ),
            stream,
        )

    def resize_normalize(self, frame: Any, plan: ResizePlan, out: Any, stream: Any) -> None:
        """Area-resize each of the plan's boxes of ``frame`` ((H, W, 3) uint8 BGR, pitched) to
        ``out`` ((N, 3, out_height, out_width) float32/float16, ``level * scale + offset`` in
        the plan's colour order), queued on ``stream``."""
        image = frame_layout(frame)
        count = check_rows(plan.boxes, "boxes", 4)
        height, width = int(plan.out_height), int(plan.out_width)
        if height < 1 or width < 1:
            raise UsageError(f"plan: output size {width}x{height} must be positive")
        target = tensor_layout(out, "out", (count, 3, height, width), writable=True)
        if count == 0:
            return
        self._launch(
            _entry("resize_normalize", target.half),
            (_blocks(width), _blocks(height), count),
            [np.asarray(plan.boxes, dtype=np.float32)],
            lambda p: (
                Pointer(image.pointer),
                image.width,
                image.height,
                image.pitch,
                p[0],
                count,
                width,
                height,
                Pointer(target.pointer),
                int(plan.rgb),
                float(plan.scale),
                float(plan.offset),
            ),
            stream,
        )
