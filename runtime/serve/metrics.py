"""The server's Prometheus metrics, in a registry of its own (not prometheus_client's global one, so
two servers in one process, or a test's, never share counts).

- ``facert_requests_total{route, status}``: HTTP requests answered;
- ``facert_request_seconds{route}``: their latency (histogram);
- ``facert_stage_seconds{stage}``: seconds per stage of each request (decode, queue, frame,
  detect, align, restore, blend, encode; ``restore`` is the shared call its faces went through);
- ``facert_batch_faces``: faces per restorer call; ``facert_batch_requests``: requests per batch;
- ``facert_queue_depth``: requests waiting for the batcher.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64)


class Metrics:
    """The counters, histograms and gauge above; :meth:`render` gives the Prometheus text."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        own: dict[str, Any] = {"registry": self.registry}
        self.requests = Counter(
            "facert_requests",
            "HTTP requests answered, by route and status",
            ["route", "status"],
            **own,
        )
        self.latency = Histogram(
            "facert_request_seconds",
            "HTTP request latency, by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            **own,
        )
        self.stages = Histogram(
            "facert_stage_seconds",
            "seconds per stage of a request",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            **own,
        )
        self.batch_faces = Histogram(
            "facert_batch_faces", "faces per restorer call", buckets=BATCH_BUCKETS, **own
        )
        self.batch_requests = Histogram(
            "facert_batch_requests", "requests per batch", buckets=BATCH_BUCKETS, **own
        )
        self.queue_depth = Gauge("facert_queue_depth", "requests waiting for the batcher", **own)

    def request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def stage_times(self, timings: Mapping[str, float]) -> None:
        for stage, seconds in timings.items():
            self.stages.labels(stage).observe(seconds)

    def batch(self, requests: int, faces_per_call: Iterable[int]) -> None:
        self.batch_requests.observe(requests)
        for faces in faces_per_call:
            self.batch_faces.observe(faces)

    def render(self) -> tuple[bytes, str]:
        """(the Prometheus text exposition, its content type)."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
