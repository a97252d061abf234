"""The two Ray Serve deployments of ``facert serve --ray``: the replicas that hold the engines, and
the HTTP ingress that calls them (imported only when Ray is used: this module imports ray).

- :class:`RestorerReplica` (``--replicas`` of them): one :class:`~facert.serve.core.Restorers` each;
  its :meth:`~RestorerReplica.enhance` is a ``@serve.batch`` method, so the requests that reach a
  replica together are restored in shared calls by ``Restorers.enhance_batch``, on one worker
  thread of its own (the event loop stays free to take the next requests meanwhile).
- :class:`Ingress`: the same HTTP app as ``facert serve`` (:func:`facert.serve.app.create_app`)
  over a :class:`RayHandler`, which calls the replicas through their deployment handle, retries a
  request whose replica died, and turns Ray's failures into the server's JSON errors.

Images (numpy arrays) and results cross from the ingress to the replicas and back as Ray objects
(pickle protocol 5, zero-copy buffers). That is the cluster's own internal channel between its
trusted processes; a client's bytes never cross it: the ingress decodes them first, with the
server's limits (:func:`facert.serve.core.decode_image`).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import ray
from ray import serve
from ray.exceptions import RayActorError, WorkerCrashedError
from ray.serve.exceptions import (
    BackPressureError,
    DeploymentUnavailableError,
    ReplicaUnavailableError,
)
from ray.serve.handle import DeploymentHandle, DeploymentResponse

from facert.config import Settings
from facert.errors import first_line
from facert.serve.core import EnhanceOutcome, EnhanceParams, RequestError, Restorers, ServeConfig
from facert.serve.metrics import Metrics

# A replica that died (killed, crashed, its node lost) or is not reachable yet: tried again on
# another replica while the request's time lasts, at most RETRIES more times.
UNAVAILABLE = (
    RayActorError,
    WorkerCrashedError,
    DeploymentUnavailableError,
    ReplicaUnavailableError,
)
RETRIES = 3
RETRY_PAUSE_S = 0.2  # lets Serve's router hear of the dead replica before the next try


@dataclass
class Reply:
    """What a replica sends back for one request: its actor ``replica`` name, the number of
    requests in the ``@serve.batch`` call it went through, and the ``result`` or the request's
    error as (status, code, message, retry_after) (a RequestError does not pickle by itself).
    The first reply of a batch also carries the faces of each restorer call the batch made."""

    replica: str
    requests: int
    result: Any
    error: tuple[int, str, str, float | None] | None = None
    calls: list[int] | None = None


def _reply(replica: str, requests: int, result: Any) -> Reply:
    if isinstance(result, RequestError):
        error = (result.status, result.code, result.message, result.retry_after)
        return Reply(replica, requests, None, error)
    return Reply(replica, requests, result)


@serve.deployment(name="RestorerReplica")
class RestorerReplica:
    """The engines of one replica; ``config.max_batch`` requests per batch at most, waiting
    ``config.max_wait_ms`` for a batch to fill."""

    def __init__(self, settings: Settings, config: ServeConfig) -> None:
        self.restorers = Restorers(settings, config)
        self.restorers.open()
        self.name = ray.get_runtime_context().get_actor_name() or "replica"
        self.worker = ThreadPoolExecutor(1, thread_name_prefix="facert-replica")
        self.enhance.set_max_batch_size(config.max_batch)  # type: ignore[attr-defined]
        self.enhance.set_batch_wait_timeout_s(config.max_wait_ms / 1000)  # type: ignore[attr-defined]

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.01)  # set from the config in __init__
    async def enhance(self, items: list[tuple[np.ndarray, EnhanceParams]]) -> list[Reply]:
        """((H, W, 3) uint8 BGR image, params) items -> one Reply each (an EnhanceOutcome)."""
        loop = asyncio.get_running_loop()
        before = Counter(self.restorers.batches)  # one batch at a time: the difference is ours
        results = await loop.run_in_executor(self.worker, self.restorers.enhance_batch, items)
        replies = [_reply(self.name, len(items), result) for result in results]
        calls = self.restorers.batches - before
        replies[0].calls = [faces for faces, count in sorted(calls.items()) for _ in range(count)]
        return replies

    async def detect(self, image: np.ndarray) -> Reply:
        """The faces of ``image`` ((H, W, 3) uint8 BGR) as ``facert detect --json`` gives them."""
        loop = asyncio.get_running_loop()
        try:
            faces = await loop.run_in_executor(self.worker, self.restorers.detect, image)
        except RequestError as exc:
            return _reply(self.name, 1, exc)
        return _reply(self.name, 1, faces)

    def stats(self) -> dict[str, Any]:
        return {"replica": self.name, **self.restorers.stats()}

    def __del__(self) -> None:  # Serve calls it when the replica is stopped
        if hasattr(self, "worker"):  # not when Restorers.open failed (it closed them itself)
            self.worker.shutdown(wait=True)
            self.restorers.close()


class RayHandler:
    """:class:`facert.serve.app.Handler` over the replicas' deployment handle. It counts the
    requests each replica answered and the ``@serve.batch`` sizes they went through (``health``),
    and feeds the batch sizes and stage times to ``metrics`` (GET /metrics)."""

    def __init__(self, replicas: DeploymentHandle, config: ServeConfig, metrics: Metrics) -> None:
        self.replicas = replicas
        self.config = config
        self.metrics = metrics
        self.answered: Counter[str] = Counter()  # replica actor name -> requests
        self.batches: Counter[int] = Counter()  # requests per @serve.batch call -> requests
        self.retried = 0  # tries that met a dead or unreachable replica

    async def enhance(self, image: np.ndarray, params: EnhanceParams) -> EnhanceOutcome:
        result: EnhanceOutcome = await self._call("enhance", (image, params))
        self.metrics.stage_times(result.timings)
        return result

    async def detect(self, image: np.ndarray) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call("detect", image)
        return result

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "backend": "ray",
            "models": list(self.config.served),
            "replicas": dict(self.answered),
            "request_batches": {str(k): v for k, v in sorted(self.batches.items())},
            "retried": self.retried,
        }

    async def _call(self, method: str, argument: Any) -> Any:
        """``method`` of some replica on ``argument``: its result, or the RequestError it gave;
        504 past the request's timeout, 429 when the replicas' queue is full, 503 when no replica
        answered after RETRIES more tries."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.timeout_s
        failure: BaseException | None = None
        for _ in range(RETRIES + 1):
            response: DeploymentResponse = getattr(self.replicas, method).remote(argument)
            try:
                reply = await asyncio.wait_for(_result(response), deadline - loop.time())
            except asyncio.TimeoutError:
                response.cancel()
                seconds = self.config.timeout_s
                raise RequestError(504, "timeout", f"no result within {seconds:g} s") from None
            except BackPressureError:
                message = "the replicas' queue is full"
                raise RequestError(429, "queue_full", message, retry_after=1) from None
            except UNAVAILABLE as exc:
                failure = exc
                self.retried += 1
                if loop.time() + RETRY_PAUSE_S >= deadline:
                    break
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            return self._unpack(reply)
        reason = first_line(failure) if failure is not None else "no replica"
        raise RequestError(503, "replica_unavailable", f"no replica answered: {reason}", 1)

    def _unpack(self, reply: Reply) -> Any:
        self.answered[reply.replica] += 1
        self.batches[reply.requests] += 1
        if reply.calls is not None:
            self.metrics.batch(reply.requests, reply.calls)
        if reply.error is not None:
            status, code, message, retry_after = reply.error
            raise RequestError(status, code, message, retry_after)
        return reply.result


async def _result(response: DeploymentResponse) -> Reply:
    reply: Reply = await response
    return reply


@serve.deployment(name="Ingress")
@serve.ingress()
class Ingress:
    """The HTTP app of ``facert serve`` (:func:`facert.serve.app.create_app`) over the replicas;
    Serve builds it in the replica (``__serve_build_asgi_app__``), after the constructor."""

    def __init__(self, replicas: DeploymentHandle, config: ServeConfig) -> None:
        self.config = config
        self.metrics = Metrics()
        self.handler = RayHandler(replicas, config, self.metrics)

    def __serve_build_asgi_app__(self) -> Any:
        from facert.serve.app import create_app

        return create_app(self.handler, self.config, self.metrics)
