"""The flicker measure of a restored stream.

A still restored frame can look right while the clip flickers: each frame's face is restored on its
own, so texture and position change between frames more than the input did. The measure, per pair
of consecutive frames: the mean absolute difference of the output over the face region, minus the
same of the input, in uint8 levels. The face region is the union of both frames' face boxes (a
face that moved is covered where it was and where it is). 0: the restored faces change exactly as
much as the input's; above 0: the restoration adds flicker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from facert.errors import UsageError


@dataclass(frozen=True)
class FlickerReport:
    """Per pair of consecutive frames (pairs with no face are left out): the output's and the
    input's mean absolute change over the face region, and their difference; ``mean`` over pairs."""

    output_change: np.ndarray
    input_change: np.ndarray

    @property
    def per_pair(self) -> np.ndarray:
        return self.output_change - self.input_change

    @property
    def mean(self) -> float:
        return float(self.per_pair.mean()) if len(self.per_pair) else 0.0


def face_mask(shape: tuple[int, int], boxes: Sequence[np.ndarray]) -> np.ndarray:
    """(H, W) bool: the union of ``boxes`` (``x1, y1, x2, y2`` in pixels), clipped to the frame."""
    mask = np.zeros(shape, bool)
    for box in boxes:
        x1, y1 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
        x2, y2 = min(shape[1], int(np.ceil(box[2]))), min(shape[0], int(np.ceil(box[3])))
        if x2 > x1 and y2 > y1:
            mask[y1:y2, x1:x2] = True
    return mask


def _change(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return float(diff[mask].mean())


def flicker(
    inputs: Sequence[np.ndarray],
    outputs: Sequence[np.ndarray],
    boxes: Sequence[Sequence[np.ndarray]],
) -> FlickerReport:
    """The flicker of ``outputs`` over ``inputs`` (frames in order, (H, W, 3) uint8 each, outputs
    the same size as inputs), with ``boxes`` each frame's face boxes in those pixels."""
    if not len(inputs) == len(outputs) == len(boxes):
        raise UsageError(
            f"flicker: {len(inputs)} inputs, {len(outputs)} outputs, {len(boxes)} box lists"
        )
    out_change, in_change = [], []
    for t in range(1, len(inputs)):
        if inputs[t].shape != outputs[t].shape:
            raise UsageError(
                f"flicker: frame {t}: output {outputs[t].shape} is not the input's size "
                f"{inputs[t].shape}"
            )
        mask = face_mask(inputs[t].shape[:2], [*boxes[t - 1], *boxes[t]])
        if not mask.any():
            continue
        out_change.append(_change(outputs[t], outputs[t - 1], mask))
        in_change.append(_change(inputs[t], inputs[t - 1], mask))
    return FlickerReport(np.array(out_change, np.float64), np.array(in_change, np.float64))
