"""A CUDA graph: the work one call queues on a stream, captured once and replayed with one launch.

TensorRT's ``execute_async_v3`` queues tens to hundreds of kernels; replaying them as a graph saves
their launch cost (most visible at batch 1 on small engines). A graph replays the exact pointers and
shapes it captured: the engine keeps one per input-shape set, over buffers it owns for its lifetime.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from facert.backends.base import Lifecycle
from facert.backends.cuda.bindings import call, cuda_runtime
from facert.backends.cuda.memory import Stream, stream_handle


class CudaGraph(Lifecycle):
    """The work ``enqueue(stream_handle)`` queues on ``stream``, captured by :meth:`open` (the
    stream must be idle and not the legacy default stream), launched by :meth:`launch`."""

    def __init__(self, enqueue: Callable[[int], None], stream: Stream) -> None:
        self.enqueue = enqueue
        self.stream = stream
        self._graph: Any = None
        self._exec: Any = None

    def __repr__(self) -> str:
        return f"CudaGraph({self.stream!r})"

    def _acquire(self) -> None:
        runtime = cuda_runtime()
        handle = self.stream.handle
        mode = runtime.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal
        call("cudaStreamBeginCapture", runtime.cudaStreamBeginCapture(handle, mode))
        try:
            self.enqueue(handle)
        except BaseException:  # end the capture (or the stream stays unusable), drop the graph
            _, partial = runtime.cudaStreamEndCapture(handle)
            if partial is not None:
                runtime.cudaGraphDestroy(partial)
            raise
        graph = call("cudaStreamEndCapture", runtime.cudaStreamEndCapture(handle))
        try:
            self._exec = call("cudaGraphInstantiate", runtime.cudaGraphInstantiate(graph, 0))
        except BaseException:
            runtime.cudaGraphDestroy(graph)
            raise
        self._graph = graph

    def _release(self) -> None:
        runtime = cuda_runtime()
        graph_exec, graph, self._exec, self._graph = self._exec, self._graph, None, None
        call("cudaGraphExecDestroy", runtime.cudaGraphExecDestroy(graph_exec))
        call("cudaGraphDestroy", runtime.cudaGraphDestroy(graph))

    def launch(self, stream: Any) -> None:
        """Queue the captured work on ``stream`` (a handle, as :func:`stream_handle` takes)."""
        self._require_open()
        runtime = cuda_runtime()
        call("cudaGraphLaunch", runtime.cudaGraphLaunch(self._exec, stream_handle(stream)))
