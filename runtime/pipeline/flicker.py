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


class FlickerMeter:
    """The flicker measure taken one frame at a time (a video is never held whole): :meth:`add`
    each (input, output, face boxes) in order, read :attr:`report` at any time. Only the previous
    frame pair is kept."""

    def __init__(self) -> None:
        self._previous: tuple[np.ndarray, np.ndarray, list[np.ndarray]] | None = None
        self._index = 0
        self._output: list[float] = []
        self._input: list[float] = []

    def add(self, frame: np.ndarray, output: np.ndarray, boxes: Sequence[np.ndarray]) -> None:
        """The next ``frame`` ((H, W, 3) uint8), its restored ``output`` (the same size) and its
        face ``boxes`` (``x1, y1, x2, y2`` in those pixels)."""
        if frame.shape != output.shape:
            raise UsageError(
                f"flicker: frame {self._index}: output {output.shape} is not the input's size "
                f"{frame.shape}"
            )
        if self._previous is not None:
            before, restored_before, boxes_before = self._previous
            if before.shape != frame.shape:
                raise UsageError(
                    f"flicker: frame {self._index} is {frame.shape}, not {before.shape}"
                )
            mask = face_mask(frame.shape[:2], [*boxes_before, *boxes])
            if mask.any():
                self._output.append(_change(output, restored_before, mask))
                self._input.append(_change(frame, before, mask))
        self._previous = (frame, output, list(boxes))
        self._index += 1

    @property
    def report(self) -> FlickerReport:
        return FlickerReport(np.array(self._output, np.float64), np.array(self._input, np.float64))


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
    meter = FlickerMeter()
    for frame, output, frame_boxes in zip(inputs, outputs, boxes, strict=True):
        meter.add(frame, output, frame_boxes)
    return meter.report
