"""Scratch arrays reused from call to call, one set per thread (the paste-back's temporaries)."""

from __future__ import annotations

import threading

import numpy as np


class Workspace(threading.local):
    """Named scratch arrays, one set per thread.

    Fresh multi-megabyte arrays cost a page fault per 4 KiB on first touch (a large share of a
    paste at 1080p); these are kept and grow to the largest face seen.
    """

    def __init__(self) -> None:
        self.blocks: dict[str, np.ndarray] = {}

    def array(self, name: str, shape: tuple[int, ...], dtype: type[np.generic]) -> np.ndarray:
        """A C-contiguous array of ``shape`` and ``dtype`` (contents undefined), reused by name.

        The array stays valid until the next request for the same name on this thread.
        """
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        block = self.blocks.get(name)
        if block is None or block.nbytes < nbytes:
            block = np.empty(max(nbytes, 1), dtype=np.uint8)
            self.blocks[name] = block
        return block[:nbytes].view(dtype).reshape(shape)
