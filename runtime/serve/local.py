"""The in-process dynamic batcher: :class:`LocalHandler` queues requests (at most
``config.max_queue`` waiting: beyond, 429 with Retry-After) and one worker thread serves them
through :meth:`Restorers.enhance_batch`, up to ``config.max_batch`` requests at a time, waiting
at most ``config.max_wait_ms`` for a batch to fill. A request not done within ``config.timeout_s``
gets a 504 and is dropped from the queue if it has not started.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import os
import threading
import time
from collections import Counter, deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from facert.config import Settings
from facert.serve.core import EnhanceOutcome, EnhanceParams, RequestError, Restorers, ServeConfig
from facert.serve.metrics import Metrics

if TYPE_CHECKING:
    from fastapi import FastAPI

# How `facert serve --workers N` hands its settings to each worker process (uvicorn starts them
# from an import string): JSON written by the CLI, read by :func:`worker_app` only.
WORKER_ENV = "FACERT_SERVE_WORKER"


@dataclass(eq=False)  # compared by identity (queue.remove)
class _Job:
    image: np.ndarray
    params: EnhanceParams | None  # None: a detect request
    queued: float = field(default_factory=time.perf_counter)
    future: Future[Any] = field(default_factory=Future)


class LocalHandler:
    """The :class:`facert.serve.app.Handler` of one process: a queue and one worker thread over
    ``restorers`` (opened by the caller; :meth:`close` closes them)."""

    def __init__(self, restorers: Restorers, config: ServeConfig, metrics: Metrics) -> None:
        self.restorers, self.config, self.metrics = restorers, config, metrics
        self._queue: deque[_Job] = deque()
        self._wake = threading.Condition()
        self._closing = False
        self._batch_seconds = 1.0  # a running mean, for Retry-After
        self._thread = threading.Thread(target=self._serve, name="facert-batcher", daemon=True)

    def start(self) -> LocalHandler:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the worker after the batch it is in; requests still queued get 503."""
        with self._wake:
            self._closing = True
            self._wake.notify_all()
        if self._thread.is_alive():
            self._thread.join()
        for job in self._queue:
            if not job.future.done():  # cancelled ones (timed out) are done
                job.future.set_exception(
                    RequestError(503, "shutting_down", "the server is stopping")
                )
        self._queue.clear()
        self.restorers.close()

    def health(self) -> dict[str, Any]:
        if not self._thread.is_alive() or self._closing:
            raise RequestError(503, "not_ready", "the batcher is not running", retry_after=1)
        stats = self.restorers.stats()
        return {"status": "ok", "queue": len(self._queue), "pid": os.getpid(), **stats}

    async def enhance(self, image: np.ndarray, params: EnhanceParams) -> EnhanceOutcome:
        result: EnhanceOutcome = await self._submit(_Job(image, params))
        return result

    async def detect(self, image: np.ndarray) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._submit(_Job(image, None))
        return result

    async def _submit(self, job: _Job) -> Any:
        with self._wake:
            if self._closing:
                raise RequestError(503, "shutting_down", "the server is stopping", retry_after=1)
            if len(self._queue) >= self.config.max_queue:
                waiting = len(self._queue)
                raise RequestError(
                    429,
                    "queue_full",
                    f"{waiting} requests are waiting (the most is {self.config.max_queue})",
                    retry_after=self.retry_after(waiting),
                )
            self._queue.append(job)
            self.metrics.queue_depth.set(len(self._queue))
            self._wake.notify()
        try:
            return await asyncio.wait_for(asyncio.wrap_future(job.future), self.config.timeout_s)
        except asyncio.TimeoutError:  # wait_for cancelled the future: dropped unless it had started
            with self._wake:
                if job in self._queue:
                    self._queue.remove(job)
                    self.metrics.queue_depth.set(len(self._queue))
            raise RequestError(
                504, "timeout", f"not done within {self.config.timeout_s:g} s; try again later"
            ) from None

    def retry_after(self, waiting: int) -> int:
        """Seconds until ``waiting`` queued requests are likely served (at least 1)."""
        batches = math.ceil(waiting / self.config.max_batch)
        return max(1, math.ceil(batches * self._batch_seconds))

    def _next_batch(self) -> list[_Job] | None:
        """Up to max_batch jobs: the first waiting one, and those arriving within max_wait_ms."""
        with self._wake:
            while not self._queue and not self._closing:
                self._wake.wait()
            if self._closing:
                return None
            batch = [self._queue.popleft()]
            deadline = time.monotonic() + self.config.max_wait_ms / 1000
            while len(batch) < self.config.max_batch and not self._closing:
                if self._queue:
                    batch.append(self._queue.popleft())
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._wake.wait(remaining)
            self.metrics.queue_depth.set(len(self._queue))
        return [job for job in batch if job.future.set_running_or_notify_cancel()]

    def _serve(self) -> None:
        while (batch := self._next_batch()) is not None:
            start = time.perf_counter()
            try:
                self._run(batch, start)
            except Exception as exc:  # a bug: these requests fail (500), the worker lives on
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)
            seconds = time.perf_counter() - start
            self._batch_seconds = 0.8 * self._batch_seconds + 0.2 * seconds

    def _run(self, batch: list[_Job], start: float) -> None:
        for job in batch:
            self.metrics.stages.labels("queue").observe(start - job.queued)
        for job in (j for j in batch if j.params is None):
            job.future.set_result(self.restorers.detect(job.image))
        jobs = [j for j in batch if j.params is not None]
        if not jobs:
            return
        before = Counter(self.restorers.batches)
        outcomes = self.restorers.enhance_batch([(j.image, j.params) for j in jobs if j.params])
        calls = Counter(self.restorers.batches)
        calls.subtract(before)
        self.metrics.batch(len(jobs), [size for size, n in calls.items() for _ in range(n)])
        for job, outcome in zip(jobs, outcomes, strict=True):
            if isinstance(outcome, RequestError):
                job.future.set_exception(outcome)
            else:
                self.metrics.stage_times(outcome.timings)
                job.future.set_result(outcome)


def local_app(
    settings: Settings, config: ServeConfig, restorers: Restorers | None = None
) -> FastAPI:
    """The app of one process: ``restorers`` (opened here when not given, opened already when
    given), a :class:`LocalHandler` started now, both closed when the app shuts down."""
    from contextlib import asynccontextmanager

    from facert.serve.app import create_app

    if restorers is None:
        restorers = Restorers(settings, config)
        restorers.open()
    metrics = Metrics()
    handler = LocalHandler(restorers, config, metrics).start()

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        try:
            yield
        finally:
            await asyncio.to_thread(handler.close)

    return create_app(handler, config, metrics, lifespan=lifespan)


def worker_environment(settings: Settings, config: ServeConfig) -> str:
    """The JSON :func:`worker_app` reads from :data:`WORKER_ENV`."""
    values = dataclasses.asdict(config)
    values["weights"] = {k: str(v) for k, v in config.weights.items()}
    return json.dumps({"settings": dataclasses.asdict(settings), "config": values}, default=str)


def worker_app() -> FastAPI:
    """The app of one ``--workers`` process (uvicorn's factory), from :data:`WORKER_ENV`."""
    values = json.loads(os.environ[WORKER_ENV])
    settings = Settings(
        **{**values["settings"], "cache_dir": Path(values["settings"]["cache_dir"])}
    )
    fields = values["config"]
    fields["models"] = tuple(fields["models"])
    fields["weights"] = {k: Path(v) for k, v in fields["weights"].items()}
    return local_app(settings, ServeConfig(**fields))
