"""MTCNN on a frame already on the device: the preprocessing on the device, the box logic on the host.

The cascade is :class:`facert.stages.detect.mtcnn.MtcnnDetector`'s, with its own box steps
(:func:`facert.stages.detect.mtcnn.level_proposals` and the others); what changes is where the
networks' inputs are made. Each pyramid level and each R-Net/O-Net crop is the ``resize_normalize``
kernel's area resampling (:mod:`facert.stages.detect.area`'s filter: the pyramid's box is the
whole frame, a crop's box the pixel window :func:`facert.stages.detect.mtcnn_boxes.crop_windows`
gives), normalised as ``(x - 127.5) / 128`` in RGB, written straight into the network's input
binding. Only the networks' outputs come back to the host: every pyramid level's P-Net output is
queued for download before one wait; R-Net and O-Net each wait once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from facert.backends.base import Lifecycle, open_all
from facert.errors import UsageError
from facert.models.specs.mtcnn import CROP_SIZES, INPUT_NAME
from facert.pipeline.bound import BoundEngine
from facert.pipeline.device_ops import DeviceOps
from facert.stages.detect.mtcnn import (
    NETWORKS,
    MtcnnOptions,
    faces_by_area,
    level_proposals,
    merge_proposals,
    output_boxes,
    refine_boxes,
)
from facert.stages.detect.mtcnn_boxes import crop_windows, level_size, pyramid_scales
from facert.stages.faces import Face

# (x - 127.5) / 128 as value = x * SCALE + OFFSET: the same float32 value (both are one rounding
# of x / 128 - 0.99609375; the factor is a power of two).
SCALE = 1.0 / 128.0
OFFSET = -127.5 / 128.0


class GpuMtcnn(Lifecycle):
    """MTCNN over ``ops``: ``engines`` (pnet, rnet, onet; each with the device-binding protocol,
    owned: opened and closed with this) run on the ops' stream."""

    def __init__(
        self,
        engines: Mapping[str, BoundEngine],
        ops: DeviceOps,
        options: MtcnnOptions | None = None,
    ) -> None:
        if sorted(engines) != sorted(NETWORKS):
            raise UsageError(f"MTCNN needs the engines {list(NETWORKS)}, got {sorted(engines)}")
        self.engines = dict(engines)
        self.ops = ops
        self.options = options or MtcnnOptions()

    def _acquire(self) -> None:
        open_all(self.engines[name] for name in NETWORKS)

    def _release(self) -> None:
        for engine in self.engines.values():
            engine.close()

    def _run(
        self, name: str, frame: Any, boxes: np.ndarray, size: tuple[int, int]
    ) -> dict[str, Any]:
        """Queue ``name`` on the area resamplings of ``boxes`` ((N, 4) x0, y0, x1, y1) of
        ``frame`` to ``size`` (width, height); its outputs as device views."""
        from facert.kernels.plan import resize_plan

        width, height = size
        engine = self.engines[name]
        bound = engine.bind_inputs({INPUT_NAME: (len(boxes), 3, height, width)})
        plan = resize_plan(np.asarray(boxes, np.float32), size, True, SCALE, OFFSET)
        self.ops.kernels.resize_normalize(frame, plan, bound[INPUT_NAME], self.ops.stream)
        return engine.run_bound(self.ops.stream)

    def _download(self, label: str, outputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Queue every output's download into host staging named after ``label``."""
        host = {}
        for name, view in outputs.items():
            shape = tuple(int(d) for d in view.shape)
            host[name] = self.ops.host(f"mtcnn.{label}.{name}", shape, np.float32)
            self.ops.download(host[name], view)
        return host

    def detect(self, frame: Any, height: int, width: int) -> list[Face]:
        """Every face in the device ``frame`` ((height, width, 3) uint8 BGR, pitched), largest
        box first: what :meth:`facert.stages.detect.mtcnn.MtcnnDetector.detect` finds in it."""
        self._require_open()
        thresholds = self.options.thresholds
        whole = np.array([[0, 0, width, height]], np.float32)
        levels = []
        scales = pyramid_scales(
            height, width, self.options.min_face_size, self.options.scale_factor
        )
        for index, scale in enumerate(scales):
            level_height, level_width = level_size(height, width, scale)
            outputs = self._run("pnet", frame, whole, (level_width, level_height))
            levels.append((scale, self._download(f"pnet{index}", outputs)))
        self.ops.synchronize()
        found = [level_proposals(host, scale, thresholds[0]) for scale, host in levels]
        boxes = merge_proposals(found)
        boxes, host = self._stage("rnet", frame, boxes, height, width)
        if len(boxes):
            boxes = refine_boxes(boxes, host, thresholds[1])
        boxes, host = self._stage("onet", frame, boxes, height, width)
        if not len(boxes):
            return []
        return faces_by_area(*output_boxes(boxes, host, thresholds[2]))

    def _stage(
        self, name: str, frame: Any, boxes: np.ndarray, height: int, width: int
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The boxes that touch the frame and ``name``'s outputs on their crops (host arrays)."""
        if not len(boxes):
            return boxes, {}
        windows, valid = crop_windows(boxes, width, height)
        boxes = boxes[valid]
        if not len(boxes):
            return boxes, {}
        top, bottom, left, right = windows[valid].T
        sources = np.stack([left, top, right, bottom], axis=1).astype(np.float32)
        size = CROP_SIZES[name]
        host = self._download(name, self._run(name, frame, sources, (size, size)))
        self.ops.synchronize()
        return boxes, host
