"""Worker threads joined by bounded queues, for a run that must stop cleanly.

A run owns one ``threading.Event``: the first thread to fail sets it and records its exception,
every :class:`Pipe` then refuses to wait any longer (:class:`StoppedError`), so each thread ends within
:data:`POLL` seconds whatever it was blocked on. The main thread (the only one Python delivers
Ctrl-C to) sets the same event when it is interrupted, joins the workers, and raises.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

POLL = 0.05  # seconds a blocked put or get waits before it looks at the stop event again


class StoppedError(Exception):
    """The run is stopping (another thread failed, or the main thread was interrupted)."""


class Pipe:
    """A bounded FIFO between two threads of one run: :meth:`put` waits while it is full and
    :meth:`get` while it is empty, both until the run stops."""

    def __init__(self, stop: threading.Event, size: int) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=size)
        self._stop = stop

    def put(self, item: Any) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=POLL)
                return
            except queue.Full:
                continue
        raise StoppedError

    def get(self) -> Any:
        while not self._stop.is_set():
            try:
                return self._queue.get(timeout=POLL)
            except queue.Empty:
                continue
        raise StoppedError


class Worker(threading.Thread):
    """Runs ``work()`` in its own thread; an exception (other than :class:`StoppedError`) is kept in
    :attr:`error` and stops the run. A daemon: a process leaving abnormally never waits on it."""

    def __init__(self, name: str, work: Callable[[], None], stop: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self._work = work
        self._stop_event = stop
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._work()
        except StoppedError:
            pass
        except BaseException as exc:  # handed to the main thread, which raises it
            self.error = exc
            self._stop_event.set()


def join_all(workers: list[Worker], stop: threading.Event) -> None:
    """Stop the run and wait for every worker to end (a second Ctrl-C while waiting still waits:
    nothing may be left writing)."""
    stop.set()
    for worker in workers:
        while worker.is_alive():
            try:
                worker.join()
            except KeyboardInterrupt:
                continue
