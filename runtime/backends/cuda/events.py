"""CUDA events: points in a stream's work, to wait for and to time kernels between.

An :class:`Event` is a :class:`facert.backends.base.Lifecycle` like every owned CUDA resource:
:meth:`open` creates it (after the driver check), :meth:`close` destroys it. :meth:`Event.record`
marks the point in a stream's queued work, :meth:`Event.synchronize` waits for it, and
:func:`elapsed_ms` is the GPU time between two recorded events (about 0.5 us resolution), the
timing the GPU bench reports per kernel.
"""

from __future__ import annotations

from typing import Any

from facert.backends.base import Lifecycle
from facert.backends.cuda.bindings import call, cuda_runtime, set_device
from facert.backends.cuda.memory import stream_handle


class Event(Lifecycle):
    """A CUDA event on ``device``; ``timing=False`` makes a lighter one that :func:`elapsed_ms`
    refuses (for waiting only)."""

    def __init__(self, device: int = 0, *, timing: bool = True) -> None:
        self.device = device
        self.timing = timing
        self._event: Any = None

    def __repr__(self) -> str:
        return f"Event(device={self.device}, timing={self.timing})"

    def _acquire(self) -> None:
        set_device(self.device)
        runtime = cuda_runtime()
        flags = runtime.cudaEventDefault if self.timing else runtime.cudaEventDisableTiming
        self._event = call("cudaEventCreateWithFlags", runtime.cudaEventCreateWithFlags(flags))

    def _release(self) -> None:
        event, self._event = self._event, None
        call("cudaEventDestroy", cuda_runtime().cudaEventDestroy(event))

    @property
    def handle(self) -> Any:
        self._require_open()
        return self._event

    def record(self, stream: Any) -> None:
        """Mark the current end of ``stream``'s queued work (anything :func:`stream_handle` takes)."""
        call("cudaEventRecord", cuda_runtime().cudaEventRecord(self.handle, stream_handle(stream)))

    def synchronize(self) -> None:
        """Wait until the work before the last :meth:`record` has run (at once if never recorded)."""
        call("cudaEventSynchronize", cuda_runtime().cudaEventSynchronize(self.handle))

    def wait_on(self, stream: Any) -> None:
        """Make ``stream``'s later work wait for this event, without blocking the host."""
        runtime = cuda_runtime()
        call(
            "cudaStreamWaitEvent",
            runtime.cudaStreamWaitEvent(stream_handle(stream), self.handle, 0),
        )


def elapsed_ms(start: Event, end: Event) -> float:
    """GPU milliseconds between two recorded timing events; waits for ``end`` first."""
    end.synchronize()
    return float(
        call("cudaEventElapsedTime", cuda_runtime().cudaEventElapsedTime(start.handle, end.handle))
    )
