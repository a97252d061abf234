"""``facert serve --ray``: facert as a Ray Serve application on a local Ray cluster (marker ``ray``,
``make test-ray``): one cluster for the module (2 CPUs), Serve on a free loopback port, the
application deployed once with 2 replicas (ONNX Runtime FP32, one thread each)."""

from __future__ import annotations

import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import cv2
import numpy as np
import pytest
from conftest import astronaut_path, grace_hopper_path
from ray_support import Answer, Cluster, get_json, local_cluster, post, replica_actors

from facert.config import Settings
from facert.pipeline.frame import Pipeline
from facert.serve.core import EnhanceParams, RequestError, ServeConfig, decode_image
from facert.serve.ray_app import Sizing

pytestmark = [
    pytest.mark.ray,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # Ray's own, on pydantic 2
]

REPLICAS = 2
# The module's cluster has 2 CPUs whatever the machine: the replicas are sized for it, not for the
# machine's cores (build_ray_app's default), or they could not be placed and deploying would wait
# for ever. 0.9 each leaves 0.2 for the small application of the queue test.
SIZING = Sizing(REPLICAS, 0.9, 1)
CLIENT_TIMEOUT_S = 60.0  # every request must come back within this (a hang fails the test)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Ray with 2 CPUs and Serve for this module; no process of it is left afterwards."""
    with local_cluster(tmp_path_factory.mktemp("ray"), num_cpus=2) as started:
        yield started


@pytest.fixture(scope="module")
def served(cluster: Cluster, settings: Settings) -> Iterator[str]:
    """facert deployed on the cluster with 2 replicas; the base URL."""
    from ray import serve

    from facert.serve.ray_app import APP_NAME, build_ray_app

    config = ServeConfig(backend="ort", precision="fp32", max_batch=4, max_wait_ms=50.0)
    start = time.perf_counter()
    app = build_ray_app(settings, config, REPLICAS, sizing=SIZING)
    serve.run(app, name=APP_NAME, route_prefix="/")
    print(f"deployed in {time.perf_counter() - start:.1f} s")
    yield cluster.url
    serve.delete(APP_NAME)


def photo(path_of: object, size: tuple[int, int]) -> bytes:
    """A real photo with one face, shrunk to ``size`` (quick to restore), as PNG bytes."""
    image = cv2.resize(cv2.imread(str(path_of)), size, interpolation=cv2.INTER_AREA)
    return cv2.imencode(".png", image)[1].tobytes()


@pytest.fixture(scope="module")
def hopper() -> bytes:
    return photo(grace_hopper_path(), (256, 300))


def test_enhance_equals_the_pipeline(served: str, hopper: bytes, settings: Settings) -> None:
    """The restored image from a replica equals Pipeline.enhance on the same photo: ORT FP32 with
    the replica's thread count, the request alone in its batch (X-Batch 1), so the same graph on
    the same input with the same kernels: bitwise equal (measured here). Up to 1 level of 255 is
    allowed on any pixel: a machine whose ONNX Runtime splits a reduction differently may round
    one float the other way."""
    answer = post(f"{served}/v1/enhance", hopper, "image/png", timeout=CLIENT_TIMEOUT_S)
    assert answer.status == 200, answer.body[:300]
    assert answer.headers["content-type"] == "image/png" and answer.headers["x-batch"] == "1"
    restored = cv2.imdecode(np.frombuffer(answer.body, np.uint8), cv2.IMREAD_COLOR)
    image = cv2.imdecode(np.frombuffer(hopper, np.uint8), cv2.IMREAD_COLOR)
    one_thread = replace(settings, threads=SIZING.threads)
    with Pipeline.open(one_thread, backend="ort", precision="fp32") as p:
        expected = p.enhance(image)
    assert len(expected.faces) == 1
    assert restored.shape == expected.image.shape
    difference = np.abs(restored.astype(np.int16) - expected.image.astype(np.int16))
    print(f"max difference {difference.max()}, pixels differing {np.count_nonzero(difference)}")
    assert difference.max() <= 1, (difference.max(), np.count_nonzero(difference))
    assert (restored != image).any()  # the face was restored, not passed through


def test_detect_answers_the_json_of_facert_detect(served: str, hopper: bytes) -> None:
    answer = post(f"{served}/v1/detect", hopper, "image/png", timeout=CLIENT_TIMEOUT_S)
    assert answer.status == 200, answer.body[:300]
    faces = answer.json()
    assert len(faces) == 1
    assert set(faces[0]) == {"box", "score", "landmarks"} and faces[0]["score"] > 0.9


def refusal(check: Callable[[], object]) -> dict[str, Any]:
    """The JSON error of the RequestError ``check`` raises (facert.serve.core's own checks, the
    ones ``facert serve`` answers with)."""
    with pytest.raises(RequestError) as caught:
        check()
    return caught.value.to_json()


BAD_BODIES = {
    "corrupt": (b"not an image at all", "image/png"),
    "empty": (b"", "image/png"),
    "not an image type": (b"GIF89a\x01\x00\x01\x00", "image/gif"),
    "truncated": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),
}


@pytest.mark.parametrize("route", ["/v1/enhance", "/v1/detect"])
@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_a_bad_body_gets_the_json_error_of_facert_serve(served: str, route: str, case: str) -> None:
    """Checked in the ingress before anything reaches a replica: the status and JSON error that
    facert.serve.core's decode_image gives, as ``facert serve`` answers; never a 500."""
    body, content_type = BAD_BODIES[case]
    answer = post(f"{served}{route}", body, content_type)
    expected = refusal(lambda: decode_image(body, content_type, ServeConfig()))
    assert 400 <= answer.status < 500 and answer.json() == expected, answer.body[:300]


def test_bad_parameters_get_the_json_error_of_facert_serve(served: str, hopper: bytes) -> None:
    """A bad parameter (checked in the ingress) and an unknown model (in a replica): 400 with
    the JSON error facert.serve.core gives."""
    answer = post(f"{served}/v1/enhance?upscale=100", hopper, "image/png")
    assert answer.status == 400
    assert answer.json() == refusal(lambda: EnhanceParams(upscale=100))
    answer = post(f"{served}/v1/enhance?model=nosuchmodel", hopper, "image/png")
    assert answer.status == 400 and answer.json()["error"]["code"] == "unknown_model"
    assert "nosuchmodel" in answer.json()["error"]["message"]


def concurrent_load(url: str, bodies: list[bytes], clients: int) -> list[Answer]:
    """Every body POSTed to /v1/enhance by ``clients`` concurrent clients; the answers."""
    with ThreadPoolExecutor(clients) as pool:
        return list(
            pool.map(
                lambda body: post(f"{url}/v1/enhance", body, "image/png", CLIENT_TIMEOUT_S), bodies
            )
        )


def test_both_replicas_serve_and_requests_are_batched(served: str, hopper: bytes) -> None:
    """16 requests from 8 concurrent clients: both replicas answer, and some ``@serve.batch``
    calls took more than one request (their faces restored in one restorer call)."""
    astronaut = photo(astronaut_path(), (256, 256))
    before = get_json(f"{served}/healthz")
    answers = concurrent_load(served, [hopper, astronaut] * 8, clients=8)
    assert [a.status for a in answers] == [200] * 16
    health = get_json(f"{served}/healthz")
    answered = Counter(health["replicas"]) - Counter(before["replicas"])
    assert len(answered) == REPLICAS and sum(answered.values()) == 16, health
    batches = Counter({int(k): v for k, v in health["request_batches"].items()})
    batches -= Counter({int(k): v for k, v in before["request_batches"].items()})
    assert max(batches) > 1, health
    assert max(int(a.headers["x-batch"]) for a in answers) > 1  # faces in one restorer call
    metrics = prometheus_values(f"{served}/metrics")  # fed from the replicas' replies
    assert metrics["facert_batch_requests_sum"] > metrics["facert_batch_requests_count"] > 0


def prometheus_values(url: str) -> dict[str, float]:
    """The unlabelled samples of a Prometheus text page."""
    with urllib.request.urlopen(url, timeout=30) as response:
        text = response.read().decode()
    samples = (line.split() for line in text.splitlines() if line and line[0] != "#")
    return {sample[0]: float(sample[1]) for sample in samples if "{" not in sample[0]}


def test_a_full_queue_answers_429_with_retry_after(
    cluster: Cluster, settings: Settings, hopper: bytes
) -> None:
    """A second application (one replica, a tenth of a CPU: what the first leaves) that takes 2 requests at a time and queues 1 more: of 8 concurrent requests the others get
    429 ``queue_full`` with Retry-After, at once; none is lost, none is a 5xx."""
    from ray import serve

    from facert.serve.ray_app import build_ray_app

    config = ServeConfig(backend="ort", precision="fp32", max_batch=1, max_queue=1)
    app = build_ray_app(settings, config, 1, sizing=Sizing(1, 0.1, 1))
    serve.run(app, name="small", route_prefix="/small")
    try:
        answers = concurrent_load(f"{cluster.url}/small", [hopper] * 8, clients=8)
    finally:
        serve.delete("small")
    statuses = Counter(a.status for a in answers)
    assert set(statuses) == {200, 429} and statuses[200] >= 3, statuses
    for answer in answers:
        if answer.status == 429:
            assert answer.json()["error"]["code"] == "queue_full"
            assert answer.headers["retry-after"] == "1"


def test_a_killed_replica_is_replaced_and_no_request_is_lost(served: str, hopper: bytes) -> None:
    """6 clients send requests back to back; one replica is killed (ray.kill) under that load.
    Every request comes back within its timeout: 200, or 503 JSON for a request whose every try
    met a dead replica (at most the ones in flight on it: one per client); no 500, no hang. Serve
    starts a new replica, and it serves."""
    import ray

    before = replica_actors()
    assert len(before) == REPLICAS
    clients, answers = 6, []
    stop_at = time.monotonic() + 600.0

    def client() -> list[Answer]:
        mine = []
        while time.monotonic() < stop_at:
            mine.append(post(f"{served}/v1/enhance", hopper, "image/png", CLIENT_TIMEOUT_S))
        return mine

    with ThreadPoolExecutor(clients) as pool:
        running = [pool.submit(client) for _ in range(clients)]
        time.sleep(3.0)  # the load is on both replicas
        ray.kill(ray.get_actor(before[0], namespace="serve"), no_restart=True)
        killed_at = time.monotonic()
        replacement = wait_for_replacement(before, deadline_s=90.0)
        stop_at = time.monotonic() + 5.0  # the new replica takes its share
        for future in running:
            answers.extend(future.result())
    statuses = Counter(a.status for a in answers)
    odd = [a.body[:200] for a in answers if a.status not in (200, 503)]
    assert set(statuses) <= {200, 503}, (statuses, odd)
    assert statuses[503] <= clients, statuses
    for answer in answers:
        if answer.status == 503:
            assert answer.json()["error"]["code"] == "replica_unavailable"
    health = get_json(f"{served}/healthz")
    assert health["replicas"].get(replacement, 0) > 0, (replacement, health)
    assert health["retried"] + statuses[503] > 0  # the kill did meet requests in flight
    print(statuses, f"replaced in {time.monotonic() - killed_at:.1f} s")


def wait_for_replacement(before: list[str], deadline_s: float) -> str:
    """The name of the replica Serve started in place of the killed one."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        now = replica_actors()
        new = [name for name in now if name not in before]
        if len(now) == REPLICAS and new and replicas_running():
            return new[0]
        time.sleep(0.5)
    raise AssertionError(f"no replacement replica within {deadline_s:g} s")


def replicas_running() -> bool:
    from ray import serve

    from facert.serve.ray_app import APP_NAME

    application = serve.status().applications[APP_NAME]
    states = application.deployments["RestorerReplica"].replica_states
    return dict(states) == {"RUNNING": REPLICAS}
