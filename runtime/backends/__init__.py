"""Inference backends behind one :class:`Engine` contract. ``ort`` (ONNX Runtime) runs everywhere;
``trt`` and ``openvino`` arrive later as further implementations.

:func:`engine_for` is the one place an engine is constructed: stages receive their engines (a test
can hand a stage its own) and never build one.
"""

from __future__ import annotations

from pathlib import Path

from facert.backends.base import Engine
from facert.backends.ort import OrtSession

__all__ = ["Engine", "OrtSession", "engine_for"]


def engine_for(path: Path, *, threads: int = 0) -> Engine:
    """The engine that runs the graph file ``path``, not opened yet (cheap; whoever owns it opens
    it). ONNX graphs run on ONNX Runtime, the only backend so far; ``threads`` 0 lets it choose."""
    return OrtSession(Path(path), threads=threads)
