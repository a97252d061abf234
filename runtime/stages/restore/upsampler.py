"""A background upsampler (Real-ESRGAN) run over a whole frame in tiles, so memory stays bounded.

The frame is cut into cores of at most ``tile`` x ``tile`` input pixels that cover it without
overlapping; each core is run with up to ``overlap`` more input pixels on every side (clipped at
the frame's edges, where the network itself pads with zeros, as on the whole frame), and only the
core's part of the output is kept. A pixel's output then depends on the frame within ``overlap``
pixels of its core: when ``overlap`` covers the network's reach the tiled output is the whole-frame
output (to float rounding); a trained RRDBNet's reach is larger than any practical overlap, but its
influence fades within a few pixels (the official RealESRGANer tiles the same way with 10 pixels).
Memory: one tile of (tile + 2 overlap)^2 input pixels through the network at a time, whatever the
frame's size; ``batch`` tiles of the same shape at a time when asked (a GPU engine's throughput:
the interior tiles all share one shape), each batch row equal to the tile's single run.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import numpy as np

from facert.backends import Engine, engine_for
from facert.backends.base import Lifecycle
from facert.errors import UsageError
from facert.models.artifacts import FP16_GRAPH, FP32_GRAPH, Artifact
from facert.models.registry import ModelSpec

DEFAULT_TILE = 256  # input pixels per tile side (x4: 1024 output pixels)
DEFAULT_OVERLAP = 16  # input pixels of context on every side of a tile
Window = tuple[int, int, int, int]  # core start, core stop, window start, window stop (input px)


def tile_cores(length: int, tile: int) -> list[tuple[int, int]]:
    """Even, non-overlapping (start, stop) cores of at most ``tile`` pixels covering ``length``."""
    count = max(1, math.ceil(length / tile))
    edges = [round(i * length / count) for i in range(count + 1)]
    return list(itertools.pairwise(edges))


def to_planes(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 BGR -> (1, 3, H, W) float32 RGB in [0, 1] (RealESRGANer's pre-processing)."""
    return np.ascontiguousarray(frame[:, :, ::-1].transpose(2, 0, 1)[None], dtype=np.float32) / 255


def from_planes(planes: np.ndarray) -> np.ndarray:
    """(3, H, W) float RGB -> (H, W, 3) uint8 BGR: clipped to [0, 1], x255, rounded."""
    values = np.clip(planes, 0.0, 1.0) * 255.0
    return np.ascontiguousarray(np.rint(values).astype(np.uint8).transpose(1, 2, 0)[:, :, ::-1])


class Upsampler(Lifecycle):
    """An upsampler spec's graph on ``engine``: whole frames in, ``spec.scale`` times larger out.

    ``tile`` and ``overlap`` in input pixels (see the module docstring); ``batch``: tiles of one
    shape per network call (1 unless the spec batches). Cheap to construct; :meth:`open` opens the
    engine, :meth:`close` closes it.
    """

    def __init__(
        self,
        spec: ModelSpec,
        engine: Engine,
        *,
        tile: int = DEFAULT_TILE,
        overlap: int = DEFAULT_OVERLAP,
        batch: int = 1,
    ) -> None:
        if spec.role != "upsampler":
            raise UsageError(f"{spec.name} is a {spec.role}, not an upsampler")
        if tile < 8 or overlap < 0:
            raise UsageError(
                f"upsampler tile must be 8 or more and overlap 0 or more, got {tile}, {overlap}"
            )
        if batch < 1:
            raise UsageError(f"upsampler batch must be 1 or more, got {batch}")
        self.spec, self.engine = spec, engine
        self.tile, self.overlap = tile, overlap
        self.batch = batch if spec.batches else 1

    @classmethod
    def from_artifact(
        cls,
        artifact: Artifact,
        *,
        threads: int = 0,
        tile: int = DEFAULT_TILE,
        overlap: int = DEFAULT_OVERLAP,
        batch: int = 1,
        precision: str = "fp32",
    ) -> Upsampler:
        """The upsampler (not opened) on the engine for ``artifact``'s FP32 graph, or its FP16
        graph for ``precision`` "fp16" (refused in one line when the export has none)."""
        if precision not in ("fp32", "fp16"):
            raise UsageError(f"upsampler precision must be fp32 or fp16, got {precision!r}")
        graph = FP16_GRAPH if precision == "fp16" else FP32_GRAPH
        if graph not in artifact.files:
            why = artifact.fp16_refused or "exported before FP16 graphs were built: export it again"
            raise UsageError(f"{artifact.spec.name} has no FP16 graph ({why})")
        engine = engine_for(artifact.path(graph), threads=threads)
        return cls(artifact.spec, engine, tile=tile, overlap=overlap, batch=batch)

    def _acquire(self) -> None:
        self.engine.open()

    def _release(self) -> None:
        self.engine.close()

    def run(self, planes: np.ndarray) -> np.ndarray:
        """(N, 3, h, w) float32 RGB [0, 1] -> (N, 3, s h, s w) float32, one network call
        (h and w even for x2)."""
        self._require_open()
        return next(iter(self.engine.run({"image": planes}).values()))

    def windows(self, height: int, width: int) -> list[tuple[Window, Window]]:
        """Per tile of an (H, W) input, its (core, window) rows and columns: input pixel ranges
        (start, stop), the core with up to ``overlap`` pixels of context each side."""
        unit = 2 if self.spec.scale == 2 else 1  # x2 unshuffles 2x2 blocks: keep the block grid
        reach = -(-self.overlap // unit) * unit
        rows = [(a * unit, b * unit) for a, b in tile_cores(height // unit, self.tile // unit)]
        columns = [(a * unit, b * unit) for a, b in tile_cores(width // unit, self.tile // unit)]
        return [
            (
                (top, bottom, max(0, top - reach), min(height, bottom + reach)),
                (left, right, max(0, left - reach), min(width, right + reach)),
            )
            for top, bottom in rows
            for left, right in columns
        ]

    def cores(self, planes: np.ndarray) -> Iterator[tuple[slice, slice, np.ndarray]]:
        """``planes`` ((1, 3, H, W) float32 RGB [0, 1]) through the network tile by tile (up to
        ``batch`` tiles of one shape per call): per core, its output rows and columns and its
        (3, h, w) float32 output."""
        pending: dict[tuple[int, int], list[tuple[Window, Window]]] = {}
        for rows, columns in self.windows(*planes.shape[2:]):
            group = pending.setdefault((rows[3] - rows[2], columns[3] - columns[2]), [])
            group.append((rows, columns))
            if len(group) == self.batch:
                yield from self._run_tiles(planes, group)
                group.clear()
        for group in pending.values():
            if group:
                yield from self._run_tiles(planes, group)

    def _run_tiles(
        self, planes: np.ndarray, tiles: list[tuple[Window, Window]]
    ) -> Iterator[tuple[slice, slice, np.ndarray]]:
        """One network call on ``tiles`` (windows of one shape); their cores' outputs."""
        scale = self.spec.scale
        inputs = [planes[0, :, y0:y1, x0:x1] for (_, _, y0, y1), (_, _, x0, x1) in tiles]
        results = self.run(np.ascontiguousarray(np.stack(inputs)))
        for result, ((top, bottom, y0, _), (left, right, x0, _)) in zip(
            results, tiles, strict=True
        ):
            core = result[
                :,
                (top - y0) * scale : (bottom - y0) * scale,
                (left - x0) * scale : (right - x0) * scale,
            ]
            yield slice(top * scale, bottom * scale), slice(left * scale, right * scale), core

    def upscale_planes(self, planes: np.ndarray) -> np.ndarray:
        """(1, 3, H, W) float32 RGB [0, 1] -> (3, s H, s W) float32, tile by tile."""
        height, width = planes.shape[2:]
        out = np.empty((3, height * self.spec.scale, width * self.spec.scale), np.float32)
        for rows, columns, core in self.cores(planes):
            out[:, rows, columns] = core
        return out

    def upscale(self, frame: np.ndarray) -> np.ndarray:
        """``frame`` (H, W, 3) uint8 BGR -> (s H, s W, 3) uint8 BGR, restored and enlarged. Each
        tile's output goes straight into the uint8 frame: beyond the input and the output, memory
        holds one tile (a 4K frame at x4: 0.4 GB of output, one 288 x 288 tile in flight)."""
        height, width = frame.shape[:2]
        planes = to_planes(frame)
        if self.spec.scale == 2 and (height % 2 or width % 2):
            # x2 unshuffles 2x2 blocks: an odd side is mirrored by one pixel, then cropped off.
            pad = ((0, 0), (0, 0), (0, height % 2), (0, width % 2))
            planes = np.pad(planes, pad, mode="reflect")
        scale = self.spec.scale
        out = np.empty((planes.shape[2] * scale, planes.shape[3] * scale, 3), np.uint8)
        for rows, columns, core in self.cores(planes):
            out[rows, columns] = from_planes(core)
        if out.shape[:2] != (height * scale, width * scale):
            out = np.ascontiguousarray(out[: height * scale, : width * scale])
        return out
