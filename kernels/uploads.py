"""The per-launch plan arrays (affines, blend parameters, mask tables, tiles, boxes) on the GPU.

A launch needs a few kilobytes of host-computed arrays in device memory. :class:`PlanUploads` owns
a small ring of slots, each a page-locked staging buffer and a device buffer of the same size
(grown, doubling, when a launch needs more); :meth:`PlanUploads.stage` packs the arrays into a
slot's staging memory (each at a 256-byte boundary) and queues ONE asynchronous copy on the
launch's stream; :meth:`PlanUploads.done` records an event after the launch. A slot is reused only
after its event has passed, so neither its staging memory nor its device memory is overwritten
while a copy or a kernel on any stream may still read it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from facert.backends.base import Lifecycle
from facert.backends.cuda.events import Event
from facert.backends.cuda.memory import DeviceBuffer, PinnedBuffer, copy_async
from facert.kernels.module import Pointer

ALIGN = 256
SLOTS = 3
_FIRST = 64 * 1024


def packed_offsets(arrays: Sequence[np.ndarray], align: int = ALIGN) -> tuple[list[int], int]:
    """Each array's byte offset when packed at ``align`` boundaries, and the total size."""
    offsets, end = [], 0
    for array in arrays:
        start = -(-end // align) * align
        offsets.append(start)
        end = start + array.nbytes
    return offsets, max(end, 1)


class _Slot(Lifecycle):
    def __init__(self, nbytes: int, device: int) -> None:
        self.nbytes, self.device = nbytes, device
        self.staging = PinnedBuffer(nbytes, device)
        self.memory = DeviceBuffer(nbytes, device)
        self.event = Event(device, timing=False)
        self.recorded = False

    def _acquire(self) -> None:
        opened: list[Lifecycle] = []
        try:
            for resource in (self.staging, self.memory, self.event):
                opened.append(resource.open())
        except BaseException:
            for resource in reversed(opened):
                resource.close()
            raise

    def _release(self) -> None:
        for resource in (self.event, self.memory, self.staging):
            resource.close()


class PlanUploads(Lifecycle):
    """Device copies of plan arrays for launches on GPU ``device`` (see the module's docstring)."""

    def __init__(self, device: int = 0, slots: int = SLOTS) -> None:
        self.device = device
        self._slots: list[_Slot | None] = [None] * slots
        self._next = 0
        self._current: _Slot | None = None

    def __repr__(self) -> str:
        return f"PlanUploads(device={self.device}, slots={len(self._slots)})"

    def _release(self) -> None:
        for index, slot in enumerate(self._slots):
            if slot is not None:
                if slot.recorded:
                    slot.event.synchronize()  # nothing may read it once freed
                slot.close()
            self._slots[index] = None

    def _slot(self, nbytes: int) -> _Slot:
        """The next slot of the ring, free (its last use has passed) and at least ``nbytes``."""
        index, self._next = self._next, (self._next + 1) % len(self._slots)
        slot = self._slots[index]
        if slot is not None and slot.recorded:
            slot.event.synchronize()
            slot.recorded = False
        if slot is None or slot.nbytes < nbytes:
            size = max(_FIRST, 1 << (nbytes - 1).bit_length())
            if slot is not None:
                slot.close()
            self._slots[index] = None
            slot = _Slot(size, self.device).open()
            self._slots[index] = slot
        return slot

    def stage(self, arrays: Sequence[np.ndarray], stream: Any) -> list[Pointer]:
        """Queue the upload of ``arrays`` (C-contiguous copies are made as needed) on ``stream``;
        the device address of each, valid for the launch that follows (then call :meth:`done`)."""
        self._require_open()
        arrays = [np.ascontiguousarray(array) for array in arrays]
        offsets, total = packed_offsets(arrays)
        slot = self._slot(total)
        staging = slot.staging.array((slot.nbytes,), np.uint8)
        for array, offset in zip(arrays, offsets, strict=True):
            staging[offset : offset + array.nbytes] = array.reshape(-1).view(np.uint8)
        copy_async(slot.memory.pointer, slot.staging.pointer, total, stream)
        self._current = slot
        return [Pointer(slot.memory.pointer + offset) for offset in offsets]

    def done(self, stream: Any) -> None:
        """Mark the end of the launch that read the last :meth:`stage`'s arrays on ``stream``."""
        slot, self._current = self._current, None
        if slot is not None:
            slot.event.record(stream)
            slot.recorded = True
