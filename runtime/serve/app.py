"""The HTTP API of ``facert serve`` (FastAPI): routes, body limits, JSON errors, metrics.

This module imports FastAPI (the ``serve`` extra); :mod:`facert.serve` and its core do not. The
routes call a :class:`Handler` (the in-process batcher, :mod:`facert.serve.local`, or a Ray
Serve ingress) and never touch engines themselves. Every client mistake is a 4xx JSON body
``{"error": {"code": ..., "message": ...}}``; a 500 means a bug, and the server goes on serving.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, Protocol

import numpy as np
from fastapi import FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser

from facert import __version__
from facert.serve.core import (
    MEDIA_TYPES,
    EnhanceOutcome,
    EnhanceParams,
    RequestError,
    ServeConfig,
    decode_image,
    encode_image,
)
from facert.serve.metrics import Metrics

log = logging.getLogger("facert.serve")
DRAIN_LIMIT = 64 << 20  # bytes of a too-large body read and dropped so the client gets the 413


class Handler(Protocol):
    """What the HTTP routes call."""

    async def enhance(self, image: np.ndarray, params: EnhanceParams) -> EnhanceOutcome: ...

    async def detect(self, image: np.ndarray) -> list[dict[str, Any]]: ...

    def health(self) -> dict[str, Any]: ...


def error_response(error: RequestError) -> Response:
    headers = {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(error.retry_after)))
    return JSONResponse(error.to_json(), status_code=error.status, headers=headers)


async def read_body(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The request body's chunks; RequestError 413 past ``limit`` bytes (by its Content-Length,
    or while reading). The rest of a too-large body, up to DRAIN_LIMIT bytes, is read and dropped
    first, so that a client still sending it gets the 413 rather than a broken connection."""
    declared = request.headers.get("content-length", "")
    over = declared.isdigit() and int(declared) > limit
    size = 0
    stream = request.stream()
    if not over:
        async for chunk in stream:
            size += len(chunk)
            if size > limit:
                over = True
                break
            yield chunk
        if not over:
            return
    async for rest in stream:
        size += len(rest)
        if size > DRAIN_LIMIT:
            break
    length = f"{int(declared):,} bytes" if declared.isdigit() else "body"
    raise RequestError(413, "body_too_large", f"{length} is over the limit of {limit:,} bytes")


async def image_of(request: Request, config: ServeConfig) -> tuple[np.ndarray, str, float]:
    """The request's image (raw body, or the multipart field ``image``): (pixels, format, decode
    seconds)."""
    content_type = request.headers.get("content-type")
    chunks = read_body(request, config.max_body_bytes)
    if (content_type or "").startswith("multipart/form-data"):
        body, content_type = await _multipart_image(request, chunks, config)
    else:
        body = b"".join([chunk async for chunk in chunks])
    start = time.perf_counter()
    pixels, fmt = await run_in_threadpool(decode_image, body, content_type, config)
    return pixels, fmt, time.perf_counter() - start


async def _multipart_image(
    request: Request, chunks: AsyncIterator[bytes], config: ServeConfig
) -> tuple[bytes, str | None]:
    parser = MultiPartParser(request.headers, chunks, max_files=1, max_fields=20)  # type: ignore[arg-type]
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise RequestError(400, "bad_multipart", f"multipart body: {exc.message}") from None
    part = form.get("image")
    if not isinstance(part, UploadFile):
        raise RequestError(400, "bad_multipart", "multipart body has no file field 'image'")
    return await part.read(), part.content_type


IMAGE_BODY = {"type": "string", "format": "binary"}
BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "the image's bytes (png, jpeg, webp, bmp, tiff), raw or as the multipart "
        "field `image`",
        "content": {
            **{media: {"schema": IMAGE_BODY} for media in MEDIA_TYPES.values()},
            "application/octet-stream": {"schema": IMAGE_BODY},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"image": IMAGE_BODY},
                    "required": ["image"],
                }
            },
        },
    }
}
ERROR_DOC = {
    "description": "a JSON error: {'error': {'code': ..., 'message': ...}}",
    "content": {"application/json": {}},
}
ERRORS: dict[int | str, dict[str, Any]] = {
    status: ERROR_DOC for status in (400, 413, 415, 429, 503, 504)
}


def create_app(
    handler: Handler,
    config: ServeConfig,
    metrics: Metrics,
    *,
    lifespan: Callable[[Any], AbstractAsyncContextManager[None]] | None = None,
) -> FastAPI:
    """The FastAPI app: POST /v1/enhance, POST /v1/detect, GET /healthz, GET /metrics, and the
    OpenAPI schema at /openapi.json (browsable at /docs)."""
    app = FastAPI(
        title="facert",
        version=__version__,
        description="Face restoration over HTTP: image bytes in, restored image bytes out.",
        lifespan=lifespan,
    )
    _add_error_handlers(app)
    _add_enhance(app, handler, config, metrics)

    @app.post("/v1/detect", openapi_extra=BODY_DOC, responses=ERRORS, summary="Find the faces")
    async def detect(request: Request) -> list[dict[str, Any]]:
        """The faces in the image as `facert detect --json` gives them: box, score, landmarks."""
        pixels, _, seconds = await image_of(request, config)
        metrics.stage_times({"decode": seconds})
        return await handler.detect(pixels)

    @app.get("/healthz", responses={503: ERROR_DOC}, summary="Ready to serve")
    async def healthz() -> dict[str, Any]:
        return handler.health()

    @app.get("/metrics", response_class=Response, summary="Prometheus metrics")
    async def prometheus() -> Response:
        data, media = metrics.render()
        return Response(data, media_type=media)

    @app.middleware("http")
    async def count(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        response: Response = JSONResponse({}, status_code=500)
        try:
            response = await call_next(request)
        finally:
            route = request.scope.get("route")
            path = getattr(route, "path", "other")
            metrics.request(path, response.status_code, time.perf_counter() - start)
        return response

    return app


ENHANCED_DOC = {
    200: {"description": "the restored image", "content": {m: {} for m in MEDIA_TYPES.values()}},
    **ERRORS,
}


def _add_enhance(app: FastAPI, handler: Handler, config: ServeConfig, metrics: Metrics) -> None:
    @app.post(
        "/v1/enhance",
        openapi_extra=BODY_DOC,
        response_class=Response,
        responses=ENHANCED_DOC,
        summary="Restore the faces of an image",
    )
    async def enhance(
        request: Request,
        model: str | None = Query(None, description="a served model (default: the server's)"),
        fidelity: float | None = Query(None, description="fidelity weight, for models with one"),
        upscale: float = Query(1.0, description="output size factor, 1..8"),
        only_center_face: bool = Query(False, description="restore the face nearest the centre"),
        largest_face: bool = Query(False, description="restore the largest face only"),
        format: Literal["png", "jpeg", "webp"] | None = Query(
            None, description="output format (default: the input's)"
        ),
        quality: int | None = Query(None, description="jpeg/webp quality, 1..100 (default 95)"),
        mask: Literal["square", "parse"] | None = Query(
            None,
            description="paste mask: square or parse (default: the server's --mask; parse "
            "needs a server started with --mask parse)",
        ),
    ) -> Response:
        params = EnhanceParams(
            model, fidelity, upscale, only_center_face, largest_face, format, quality, mask
        )
        pixels, input_format, decode_seconds = await image_of(request, config)
        output_format = params.output_format(input_format)
        outcome = await handler.enhance(pixels, params)
        start = time.perf_counter()
        data, media = await run_in_threadpool(
            encode_image, outcome.image, output_format, params.quality
        )
        timings = {"decode": decode_seconds, **outcome.timings}
        timings["encode"] = time.perf_counter() - start
        metrics.stage_times({"decode": decode_seconds, "encode": timings["encode"]})
        headers = {
            "X-Faces": str(len(outcome.faces)),
            "X-Batch": str(outcome.batch),
            "Server-Timing": ", ".join(f"{k};dur={v * 1000:.1f}" for k, v in timings.items()),
        }
        return Response(data, media_type=media, headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestError)
    async def request_error(request: Request, exc: RequestError) -> Response:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request: Request, exc: RequestValidationError) -> Response:
        reasons = [
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg', '')}"
            for e in exc.errors()
        ]
        return error_response(RequestError(400, "bad_parameter", "; ".join(reasons)))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        codes = {404: "not_found", 405: "method_not_allowed"}
        code = codes.get(exc.status_code, "http_error")
        return error_response(RequestError(exc.status_code, code, str(exc.detail)))

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> Response:
        log.error("internal error on %s: %s: %s", request.url.path, type(exc).__name__, exc)
        body = {"error": {"code": "internal", "message": f"{type(exc).__name__}: {exc}"}}
        return JSONResponse(body, status_code=500)
