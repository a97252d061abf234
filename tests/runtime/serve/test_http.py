"""``facert serve``'s HTTP API against a real uvicorn server on 127.0.0.1 (started once for the
module) with a plain HTTP client: results, per-request options, bad input, batching, metrics."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_runs import facert
from http_support import Reply, Server, running
from serve_support import (
    blurred,
    encoded,
    photo,
    png_header,
    shared_tiny_folder,
    tiny_codeformer_cache,
    two_faces,
)

from facert.config import Settings
from facert.pipeline.frame import Pipeline
from facert.serve.core import ServeConfig

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

LIMITS = dict(max_body_bytes=2 << 20, max_pixels=4_000_000)


@pytest.fixture(scope="module")
def tiny(
    tmp_path_factory: pytest.TempPathFactory, settings: Settings
) -> Iterator[tuple[Settings, str, Path]]:
    with tiny_codeformer_cache(shared_tiny_folder(tmp_path_factory, settings), settings) as found:
        yield found


@pytest.fixture(scope="module")
def server(tiny: tuple[Settings, str, Path]) -> Iterator[Server]:
    """ISPL (default) and the tiny CodeFormer; a batch waits up to 300 ms for 8 requests."""
    settings, name, checkpoint = tiny
    config = ServeConfig(
        models=(name,), weights={name: checkpoint}, max_batch=8, max_wait_ms=300, **LIMITS
    )
    with running(settings, config) as client:
        yield client


def image_of(reply: Reply) -> np.ndarray:
    assert reply.status == 200, reply.body[:300]
    image = cv2.imdecode(np.frombuffer(reply.body, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_enhance_returns_pipeline_enhance_result(
    server: Server, tiny: tuple[Settings, str, Path]
) -> None:
    image = blurred()
    reply = server.call("/v1/enhance", encoded(image), "image/png")
    assert reply.headers["Content-Type"] == "image/png" and reply.headers["X-Faces"] == "2"
    assert "restore;dur=" in reply.headers["Server-Timing"]
    with Pipeline.open(tiny[0]) as pipeline:
        reference = pipeline.enhance(image).image
    served = image_of(reply)
    # Its faces went through a restorer call of another size than Pipeline.enhance's: equal up
    # to 1 level (the last float bit of another batch; measured equal, see test_core.close_to).
    assert np.abs(served.astype(int) - reference).max() <= 1
    assert np.abs(served.astype(int) - image).max() > 20  # the faces were restored
    assert np.array_equal(image_of(server.upload("/v1/enhance", encoded(image))), served)


def test_formats_quality_and_options(server: Server, tiny: tuple[Settings, str, Path]) -> None:
    body = encoded(photo(), ".jpg")
    jpeg = server.call("/v1/enhance?quality=30", body, "image/jpeg")
    assert jpeg.headers["Content-Type"] == "image/jpeg"
    best = server.call("/v1/enhance?quality=100", body, "image/jpeg")
    assert len(jpeg.body) < len(best.body)
    webp = server.call("/v1/enhance?format=webp&upscale=2", body)  # no type: the bytes say
    assert webp.headers["Content-Type"] == "image/webp"
    assert image_of(webp).shape[:2] == (photo().shape[0] * 2, photo().shape[1] * 2)
    largest = server.call("/v1/enhance?largest_face=true", encoded(two_faces()), "image/png")
    assert largest.headers["X-Faces"] == "1"
    name = tiny[1]
    low = image_of(server.call(f"/v1/enhance?model={name}&fidelity=0", encoded(two_faces())))
    high = image_of(server.call(f"/v1/enhance?model={name}&fidelity=1", encoded(two_faces())))
    assert np.abs(low.astype(int) - high).max() > 10  # fidelity per request, one session


def test_detect_equals_the_cli_json(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "two.png"
    cv2.imwrite(str(path), two_faces())
    reply = server.call("/v1/detect", path.read_bytes(), "image/png")
    code, out, _ = facert(capsys, "detect", path, "--json")
    assert code == 0 and reply.status == 200
    assert reply.json() == json.loads(out) and len(reply.json()) == 2


def test_bad_input_gets_its_4xx_json_and_the_server_goes_on(server: Server) -> None:
    good = encoded(photo())
    jpeg = encoded(photo(), ".jpg")
    cases: list[tuple[str, bytes, str | None, int, str]] = [
        ("/v1/enhance", b"", "image/png", 400, "empty_body"),
        ("/v1/enhance", b"\x89PNG\r\n\x1a\n" + b"\x13" * 300, "image/png", 400, "corrupt_image"),
        ("/v1/enhance", jpeg[: len(jpeg) // 2], "image/jpeg", 400, "corrupt_image"),
        ("/v1/detect", good[:-100], "image/png", 400, "corrupt_image"),
        ("/v1/enhance", good, "text/plain", 415, "unsupported_media_type"),
        ("/v1/enhance", b"just some text", None, 415, "unsupported_media_type"),
        ("/v1/enhance", b"\0" * (3 << 20), "image/png", 413, "body_too_large"),
        ("/v1/enhance", png_header(100_000, 100_000), "image/png", 413, "too_many_pixels"),
        ("/v1/enhance?model=gfpgan", good, "image/png", 400, "unknown_model"),
        ("/v1/enhance?fidelity=0.5", good, "image/png", 400, "bad_fidelity"),  # ISPL: none
        ("/v1/enhance?model=codeformer-tiny-test&fidelity=2", good, None, 400, "bad_fidelity"),
        ("/v1/enhance?fidelity=abc", good, None, 400, "bad_parameter"),
        ("/v1/enhance?upscale=abc", good, None, 400, "bad_parameter"),
        ("/v1/enhance?upscale=20", good, None, 400, "bad_parameter"),
        ("/v1/enhance?format=gif", good, None, 400, "bad_parameter"),
        ("/v1/enhance?quality=0", good, None, 400, "bad_parameter"),
        ("/v1/enhance?quality=50", good, None, 400, "bad_parameter"),  # png has none
        ("/v1/enhance?only_center_face=1&largest_face=1", good, None, 400, "bad_parameter"),
        ("/v1/enhance?mask=oval", good, None, 400, "bad_parameter"),
        ("/v1/enhance?mask=parse", good, None, 400, "mask_not_served"),  # no ParseNet loaded
        ("/v1/nothing", good, None, 404, "not_found"),
    ]
    for path, body, media, status, code in cases:
        reply = server.call(path, body, media)
        assert (reply.status, reply.error["code"]) == (status, code), (path, reply.body[:300])
    assert server.upload("/v1/enhance", good, field="photo").error["code"] == "bad_multipart"
    assert (
        server.call("/v1/enhance", b"--x\r\nbroken", "multipart/form-data; boundary=x").status
        == 400
    )
    assert (
        "100000x100000" in server.call("/v1/enhance", png_header(100_000, 100_000)).error["message"]
    )
    assert server.call("/healthz").json()["status"] == "ok"
    assert server.call("/v1/enhance", good, "image/png").status == 200
    assert server.metric("facert_requests_total", route="/v1/enhance", status="500") == 0


def test_concurrent_requests_share_batches(server: Server) -> None:
    before = server.metric("facert_batch_requests_count")
    single = server.metric("facert_batch_requests_bucket", le="1.0")
    body = encoded(two_faces())
    with ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(lambda _: server.call("/v1/enhance", body, "image/png"), range(6)))
    assert [r.status for r in replies] == [200] * 6
    batches = server.metric("facert_batch_requests_count") - before
    shared = batches - (server.metric("facert_batch_requests_bucket", le="1.0") - single)
    assert batches < 6 and shared >= 1  # some batch served several requests
    assert max(int(r.headers["X-Batch"]) for r in replies) > 2  # faces of several requests
    assert all(len(r.body) > 0 for r in replies)


def test_openapi_and_metrics(server: Server) -> None:
    schema = server.call("/openapi.json").json()
    assert {"/v1/enhance", "/v1/detect", "/healthz", "/metrics"} <= set(schema["paths"])
    body = schema["paths"]["/v1/enhance"]["post"]["requestBody"]["content"]
    assert {"image/png", "multipart/form-data"} <= set(body)
    params = {p["name"] for p in schema["paths"]["/v1/enhance"]["post"]["parameters"]}
    assert {"model", "fidelity", "upscale", "format", "quality"} <= params
    assert server.call("/docs").status == 200
    assert server.metric("facert_requests_total", route="/v1/enhance", status="200") >= 1
    assert server.metric("facert_stage_seconds_count", stage="restore") >= 1
    assert server.metric("facert_stage_seconds_count", stage="decode") >= 1
    assert server.metric("facert_batch_faces_count") >= 1
    assert "facert_queue_depth" in server.call("/metrics").body.decode()


def test_queue_full_and_timeout(tiny: tuple[Settings, str, Path]) -> None:
    """One request at a time, one waiting, 0.5 s each: the others get 429 + Retry-After, a slow
    one 504; every error is JSON and the server serves afterwards."""
    config = ServeConfig(max_batch=1, max_queue=1, max_wait_ms=0, timeout_s=0.5, **LIMITS)
    with running(tiny[0], config) as server:
        body = encoded(two_faces())
        with ThreadPoolExecutor(8) as pool:
            replies = list(
                pool.map(lambda _: server.call("/v1/enhance", body, "image/png"), range(8))
            )
        statuses = sorted(r.status for r in replies)
        assert set(statuses) <= {200, 429, 504} and 429 in statuses and 504 in statuses, statuses
        for reply in replies:
            if reply.status == 429:
                assert (
                    reply.error["code"] == "queue_full" and int(reply.headers["Retry-After"]) >= 1
                )
            elif reply.status == 504:
                assert reply.error["code"] == "timeout"
        assert server.call("/healthz").status == 200
        for _ in range(60):  # the request in flight finishes, then the server serves again
            if (reply := server.call("/v1/detect", body, "image/png")).status == 200:
                break
            assert reply.status in (429, 504)
            time.sleep(0.5)
        assert reply.status == 200 and len(reply.json()) == 2
