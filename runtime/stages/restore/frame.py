"""A restorer's frame stage: the whole photo restored before its faces, tile by tile, on ONNX Runtime.

Some damage is not the faces' own: an old print is faded, scratched and grainy everywhere. A spec
with a :class:`facert.models.registry.FrameStage` (WIPA) restores the whole photo first, through a second
graph; the pipeline then detects and restores the faces on the result (:mod:`facert.pipeline.frame`).

The graph takes tiles of a fixed size, so memory stays bounded whatever the photo's size (a 4K
photo is a few dozen tiles, one at a time). The photo is mirrored by ``margin`` pixels at its edges
and cut into tiles whose cores (each tile less its ``margin`` on every side) cover it and overlap;
in an overlap the two tiles are cross-faded linearly, elsewhere each pixel comes from one tile's
core, where the tile's own borders (the wavelets' periodic wrap, the filters' reach) are at least
``margin`` pixels away. What must be global to the photo (WIPA's fading statistics) comes from
``photo_means``, the photo's block means, fed identically with every tile.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import cv2
import numpy as np

from facert.backends import Engine, engine_for
from facert.backends.base import Lifecycle
from facert.errors import UsageError
from facert.models.artifacts import Artifact
from facert.models.registry import FrameStage, ModelSpec
from facert.stages.align.warp import from_tensor, to_tensor
from facert.stages.restore.restorer import check_range

# One tile through the graph: (1, 3, T, T) float32 tile and (1, 3, M, M) photo means in, tile out.
TileRunner = Callable[[np.ndarray, np.ndarray], np.ndarray]


def photo_means(frame: np.ndarray, stage: FrameStage, spec: ModelSpec) -> np.ndarray:
    """(1, 3, M, M) float32: ``frame``'s (H, W, 3) uint8 BGR block means, in the graph's colours.

    Blocks of ``stage.means_block`` pixels (OpenCV's area resampling), then resampled by nearest
    neighbour onto the M x M grid (repeating or skipping blocks, never averaging them further, so
    the grid holds the distribution of the photo's block means whatever its size).
    """
    height, width = frame.shape[:2]
    blocks = (
        max(1, math.ceil(width / stage.means_block)),
        max(1, math.ceil(height / stage.means_block)),
    )
    small = cv2.resize(frame.astype(np.float32), blocks, interpolation=cv2.INTER_AREA)
    grid = cv2.resize(small, (stage.means, stage.means), interpolation=cv2.INTER_NEAREST)
    low, high = spec.input_range
    channels = grid[:, :, ::-1] if spec.color_order == "RGB" else grid
    means = channels.transpose(2, 0, 1)[None] * np.float32((high - low) / 255.0) + np.float32(low)
    return np.ascontiguousarray(means, dtype=np.float32)


def tile_starts(length: int, tile: int, margin: int) -> list[int]:
    """Where tiles start along an axis of the mirrored photo (``length + 2 * margin`` pixels, or
    ``tile`` if that is more): evenly spread, consecutive cores touching or overlapping."""
    padded = max(length + 2 * margin, tile)
    step = tile - 2 * margin
    count = 1 + max(0, math.ceil((padded - tile) / step))
    return [round(float(s)) for s in np.linspace(0, padded - tile, count)]


def axis_weights(starts: list[int], tile: int, margin: int) -> list[np.ndarray]:
    """(tile,) float32 per tile: 1 on its core, 0 on its margins, linear ramps where its core
    overlaps a neighbour's (the two ramps sum to 1)."""
    weights = []
    centres = np.arange(tile, dtype=np.float32) + 0.5
    for index, start in enumerate(starts):
        weight = ((centres >= margin) & (centres < tile - margin)).astype(np.float32)
        if index > 0:
            low, high = margin, starts[index - 1] + tile - margin - start
            if high > low:
                weight = np.minimum(weight, np.clip((centres - low) / (high - low), 0.0, 1.0))
        if index + 1 < len(starts):
            low, high = starts[index + 1] - start + margin, tile - margin
            if high > low:
                weight = np.minimum(weight, np.clip((high - centres) / (high - low), 0.0, 1.0))
        weights.append(weight)
    return weights


def restore_by_tiles(
    frame: np.ndarray, stage: FrameStage, spec: ModelSpec, run: TileRunner
) -> np.ndarray:
    """``frame`` (H, W, 3) uint8 BGR restored tile by tile with ``run``: (H, W, 3) uint8 BGR."""
    height, width = frame.shape[:2]
    tile, margin = stage.tile, stage.margin
    rows, columns = tile_starts(height, tile, margin), tile_starts(width, tile, margin)
    padded = cv2.copyMakeBorder(
        frame,
        margin,
        max(margin, tile - height - margin),
        margin,
        max(margin, tile - width - margin),
        cv2.BORDER_REFLECT_101,
    )
    means = photo_means(frame, stage, spec)
    total = np.zeros((3, *padded.shape[:2]), np.float32)
    column_weights = axis_weights(columns, tile, margin)
    for top, row_weight in zip(rows, axis_weights(rows, tile, margin), strict=True):
        for left, column_weight in zip(columns, column_weights, strict=True):
            piece = padded[top : top + tile, left : left + tile][None]
            restored = run(to_tensor(np.ascontiguousarray(piece), spec), means)[0]
            weight = row_weight[:, None] * column_weight[None, :]
            total[:, top : top + tile, left : left + tile] += restored * weight
    # The cores' weights sum to 1 over the photo, so ``total`` is the cross-faded result there.
    core = total[None, :, margin : margin + height, margin : margin + width]
    return from_tensor(core, spec)[0]


class FrameRestorer(Lifecycle):
    """The frame stage of a restorer spec on ``engine`` (the stage's graph): whole photos in,
    restored photos out.

    ``options`` overrides the spec's defaults for its graph-input options (lengths in photo pixels,
    fed unscaled) in every call; a call may override them again. Cheap to construct; :meth:`open`
    opens the engine and checks it, :meth:`close` closes it.
    """

    def __init__(
        self, artifact: Artifact, engine: Engine, *, options: Mapping[str, float] | None = None
    ) -> None:
        if artifact.spec.frame_stage is None:
            raise UsageError(f"model {artifact.spec.name} has no frame stage")
        self.spec = artifact.spec
        self.stage: FrameStage = artifact.spec.frame_stage
        self.engine = engine
        self.options = {o.name: o.default for o in self.spec.options if o.graph_input}
        self.options.update(options or {})

    @classmethod
    def from_artifact(
        cls, artifact: Artifact, *, options: Mapping[str, float] | None = None, threads: int = 0
    ) -> FrameRestorer:
        """The frame stage (not opened) on the engine for ``artifact``'s frame-stage graph."""
        stage = artifact.spec.frame_stage
        if stage is None:
            raise UsageError(f"model {artifact.spec.name} has no frame stage")
        return cls(
            artifact, engine_for(artifact.path(stage.graph), threads=threads), options=options
        )

    def __repr__(self) -> str:
        return f"FrameRestorer({self.engine.name})"

    def _acquire(self) -> None:
        self.engine.open()
        inputs = self.engine.inputs
        expected = {"image", "photo_means", *self.options}
        if set(inputs) != expected or tuple(inputs["image"].shape[1:]) != (
            3,
            self.stage.tile,
            self.stage.tile,
        ):
            self.engine.close()
            raise UsageError(
                f"{self.engine.name}: the frame-stage graph does not match the "
                f"{self.spec.name} spec; export the model again"
            )

    def _release(self) -> None:
        self.engine.close()

    def run_tile(
        self, tile: np.ndarray, means: np.ndarray, options: Mapping[str, float] | None = None
    ) -> np.ndarray:
        """One tile through the graph: (1, 3, T, T) float32 and the photo's (1, 3, M, M) means
        (:func:`photo_means`) in, the restored (1, 3, T, T) float32 tile out. ``options``: this
        call's option values (this stage's when None)."""
        values = self.options if options is None else options
        feed = {name: np.full(1, value, np.float32) for name, value in values.items()}
        feed["image"], feed["photo_means"] = tile, means
        return next(iter(self.engine.run(feed).values()))

    def restore(self, frame: np.ndarray, options: Mapping[str, float] | None = None) -> np.ndarray:
        """``frame`` (H, W, 3) uint8 BGR -> the restored (H, W, 3) uint8 BGR photo. ``options``
        overrides this stage's option values for this call (no new session)."""
        values = {**self.options, **(options or {})}
        unknown = sorted(set(values) - set(self.options))
        if unknown:
            raise UsageError(f"{self.spec.name}: unknown frame-stage option(s) {unknown}")
        for name, value in (options or {}).items():  # a call's values, checked like the face's
            values[name] = check_range(self.spec.option(name), float(value), name)
        return restore_by_tiles(
            frame, self.stage, self.spec, lambda tile, means: self.run_tile(tile, means, values)
        )
