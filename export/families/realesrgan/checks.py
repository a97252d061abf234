"""The FP16 graph of Real-ESRGAN and the checks on real photo tiles that decide whether it ships.

``model.fp16.onnx`` is ``model.onnx`` demoted whole to float16 (:mod:`facert.export.precision.onnx_fp16`;
RRDBNet has no part that needs float32: no normalisation, no softmax, its residuals scaled by 0.2),
with the FP32 file's float32 interface. It is checked with ONNX Runtime on :data:`TILES` tiles of
the parity photo at its own resolution (the content the upsampler sees, unresized):

- FP32 batch of the tiles vs each tile alone: max abs at most ``TOLERANCE`` x the output scale
  (a batch row that mixes with another is a wrong graph: refused, :class:`ExportError`);
- FP16 vs FP32, per tile: PSNR at least :data:`FP16_MIN_PSNR_DB` (peak-to-peak: the output
  range's width 1, or the reference's own when larger: deterministic test weights);
- FP16 batch vs FP16 alone: PSNR at least :data:`FP16_BATCH_MIN_PSNR_DB`.

A failing FP16 check removes the FP16 file and logs one line: the export goes on with the FP32
graph alone, its manifest's ``fp16_refused`` says why (the runtime then runs FP32).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from facert.backends import engine_for
from facert.demo.metrics import psnr
from facert.errors import ExportError
from facert.export.families.mtcnn.export import parity_photo
from facert.export.harness.checks import FP16_BATCH_MIN_PSNR_DB, FP16_MIN_PSNR_DB, output_scale
from facert.export.harness.onnx import remove_graph
from facert.export.precision.onnx_fp16 import demote_file

log = logging.getLogger(__name__)

TILES = 3  # tiles of the parity photo checked, one batch
TILE = 48  # input pixels a side (even: x2 unshuffles 2 x 2 blocks)


def photo_tiles(count: int = TILES, size: int = TILE) -> np.ndarray:
    """(count, 3, size, size) float32 RGB [0, 1]: tiles of the parity photo at its own resolution,
    along its diagonal from the centre (face, then what surrounds it: different content each)."""
    photo, _ = parity_photo()
    height, width = photo.shape[:2]
    tiles = []
    for index in range(count):
        top = min(height - size, height // 3 + index * size)
        left = min(width - size, width // 3 + index * size)
        tiles.append(photo[top : top + size, left : left + size])
    return np.ascontiguousarray(np.stack(tiles).transpose(0, 3, 1, 2), dtype=np.float32) / 255


def run_alone_and_batched(path: Path, tiles: np.ndarray, name: str) -> tuple[np.ndarray, ...]:
    """``path``'s outputs for ``tiles`` one at a time and as one batch: two (N, 3, sH, sW) float32."""
    with engine_for(path) as engine:
        alone = [next(iter(engine.run({name: tile[None]}).values()))[0] for tile in tiles]
        batched = next(iter(engine.run({name: tiles}).values()))
    return np.stack(alone).astype(np.float32), np.asarray(batched, np.float32)


def peak(reference: np.ndarray) -> float:
    """The PSNR peak of a tile's output: its range's width (1), or the reference's spread."""
    return max(1.0, float(reference.max() - reference.min()))


def fp32_batch_check(path: Path, name: str, tolerance: float) -> tuple[np.ndarray, dict[str, Any]]:
    """FP32 batch rows vs single runs on the photo tiles; :class:`ExportError` past ``tolerance``
    x the output scale. Returns the single runs (the FP16 reference) and the facts."""
    tiles = photo_tiles()
    alone, batched = run_alone_and_batched(path, tiles, name)
    worst = float(np.abs(batched - alone).max())
    limit = tolerance * output_scale(alone)
    if not worst <= limit:
        raise ExportError(
            f"{path.name}: batch of {len(tiles)} tiles differs from single runs by {worst:.3g} "
            f"(limit {limit:.3g})"
        )
    return alone, {"tiles": f"{len(tiles)} x {TILE}x{TILE}", "fp32_batch_vs_single_max_abs": worst}


def fp16_graph(
    fp32_path: Path, fp16_path: Path, name: str, reference: np.ndarray
) -> dict[str, Any]:
    """Write ``fp16_path`` (``fp32_path`` demoted) and check it against ``reference`` (the FP32
    single runs of :func:`photo_tiles`). Returns the facts; ``fp16_refused`` when a check failed
    (file removed)."""
    try:
        demote_file(fp32_path, target=fp16_path)
    except ExportError as error:  # a weight beyond float16's range
        return refuse(fp16_path, {}, str(error.args[0]) if error.args else str(error))
    alone, batched = run_alone_and_batched(fp16_path, photo_tiles(), name)
    accuracy = [psnr(r, a, peak(r)) for r, a in zip(reference, alone, strict=True)]
    rows = [psnr(a, b, peak(a)) for a, b in zip(alone, batched, strict=True)]
    facts: dict[str, Any] = {
        "fp16_psnr_db": round(min(accuracy), 2),
        "fp16_psnr_db_per_tile": [round(v, 2) for v in accuracy],
        "fp16_batch_vs_single_psnr_db": round(min(rows), 2),
    }
    if not min(accuracy) >= FP16_MIN_PSNR_DB:
        return refuse(
            fp16_path,
            facts,
            f"FP16 vs FP32 PSNR {min(accuracy):.1f} dB on a photo tile (at least "
            f"{FP16_MIN_PSNR_DB:.0f} dB needed; not finite means float16 overflow)",
        )
    if not min(rows) >= FP16_BATCH_MIN_PSNR_DB:
        return refuse(
            fp16_path,
            facts,
            f"FP16 batch vs single runs PSNR {min(rows):.1f} dB (at least "
            f"{FP16_BATCH_MIN_PSNR_DB:.0f} dB needed)",
        )
    return facts


def refuse(fp16_path: Path, facts: dict[str, Any], reason: str) -> dict[str, Any]:
    """Remove the FP16 file (and its external data), log one line, and record why in ``facts``."""
    remove_graph(fp16_path)
    log.warning("%s: FP16 graph refused, FP32 graph installed alone: %s", fp16_path.name, reason)
    return {**facts, "fp16_refused": reason}
