"""The engines of ``facert serve``, without any web framework: configuration, request parameters,
image decoding and encoding with the server's limits, and :class:`Restorers`, which restores the
faces of several requests in shared restorer calls.

Everything a client can get wrong is a :class:`RequestError` (an HTTP status, a short code and a
one-line message); the HTTP layer (:mod:`facert.serve.app`, or a Ray replica) turns it into JSON.
Nothing here imports fastapi, uvicorn or ray.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from facert.config import DEFAULT_MAX_PIXELS, Settings
from facert.errors import FacertError, UsageError, first_line
from facert.models.specs import DEFAULT_DETECTOR, DEFAULT_RESTORER
from facert.stages.faces import Face

if TYPE_CHECKING:
    from facert.pipeline.frame import Pipeline, PreparedFaces

MAX_UPSCALE = 8.0  # as facert.pipeline.frame.MAX_UPSCALE (not imported: it pulls the engines in)
OUTPUT_FORMATS = ("png", "jpeg", "webp")
# As facert.stages.blend.parse.Mask (not imported: it pulls the engines in).
PasteMask = Literal["square", "parse"]
PASTE_MASKS: tuple[str, ...] = get_args(PasteMask)
# Pillow's format name -> ours, for the formats facert decodes (images.IMAGE_SUFFIXES).
READ_FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp", "BMP": "bmp", "TIFF": "tiff"}
MEDIA_TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "bmp": "image/bmp",
    "tiff": "image/tiff",
}
SUFFIXES = {"png": ".png", "jpeg": ".jpg", "webp": ".webp", "bmp": ".bmp", "tiff": ".tif"}
# Content types a request body may declare (a missing one, too: the bytes say what they are).
ACCEPTED_TYPES = frozenset(
    {*MEDIA_TYPES.values(), "image/jpg", "image/x-ms-bmp", "application/octet-stream"}
)
DEFAULT_QUALITY = 95


class RequestError(Exception):
    """A failure the client caused: ``status`` (HTTP), ``code`` (a short machine name) and a
    one-line ``message``; ``retry_after`` (seconds) for 429 and 503."""

    def __init__(
        self, status: int, code: str, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.retry_after = retry_after

    def to_json(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


@dataclass(frozen=True)
class ServeConfig:
    """What one server serves and its limits (see README, "HTTP server")."""

    host: str = "127.0.0.1"
    port: int = 8000
    model: str = DEFAULT_RESTORER  # the model a request gets when it names none
    models: tuple[str, ...] = ()  # models requests may name (empty: only ``model``)
    detector: str = DEFAULT_DETECTOR
    background: str | None = None  # --background for every model (None: each model's default)
    mask: str = "square"  # --mask for every model
    backend: str = "auto"
    precision: str = "auto"
    weights: Mapping[str, Path] = field(default_factory=dict)  # model -> official checkpoint
    max_batch: int = 8  # faces per restorer call across requests
    max_wait_ms: float = 10.0  # how long a batch waits to fill
    max_queue: int = 32  # requests waiting; beyond: 429 + Retry-After
    max_body_bytes: int = 20 << 20
    max_pixels: int = DEFAULT_MAX_PIXELS  # checked from the image header before decoding
    timeout_s: float = 30.0  # per request; past it: 504 JSON error, request dropped

    def __post_init__(self) -> None:
        for name, value, low in (
            ("max-batch", self.max_batch, 1),
            ("max-queue", self.max_queue, 1),
            ("max-body-bytes", self.max_body_bytes, 1),
            ("max-pixels", self.max_pixels, 1),
            ("port", self.port, 0),
        ):
            if value < low:
                raise UsageError(f"serve: --{name} must be at least {low}, got {value}")
        if not self.max_wait_ms >= 0:
            raise UsageError(f"serve: --max-wait-ms must be 0 or more, got {self.max_wait_ms}")
        if not self.timeout_s > 0:
            raise UsageError(f"serve: --timeout must be more than 0, got {self.timeout_s}")

    @property
    def served(self) -> tuple[str, ...]:
        """Every model a request may name, ``model`` first."""
        return tuple(dict.fromkeys((self.model, *self.models)))


@dataclass(frozen=True)
class EnhanceParams:
    """One request's options (its query parameters); checked on construction (RequestError 400)."""

    model: str | None = None
    fidelity: float | None = None
    upscale: float = 1.0
    only_center_face: bool = False
    largest_face: bool = False
    format: str | None = None  # "png" | "jpeg" | "webp"; None: the input's format
    quality: int | None = None  # 1..100, jpeg and webp
    mask: PasteMask | None = None  # None: the server's --mask

    def __post_init__(self) -> None:
        if not 1.0 <= self.upscale <= MAX_UPSCALE:
            raise _bad("upscale", f"must be between 1 and {MAX_UPSCALE:g}, got {self.upscale:g}")
        if self.only_center_face and self.largest_face:
            raise _bad("only_center_face", "and largest_face exclude each other")
        if self.format is not None and self.format not in OUTPUT_FORMATS:
            raise _bad("format", f"must be one of {', '.join(OUTPUT_FORMATS)}, got {self.format!r}")
        if self.quality is not None and not 1 <= self.quality <= 100:
            raise _bad("quality", f"must be between 1 and 100, got {self.quality}")
        if self.mask is not None and self.mask not in PASTE_MASKS:
            raise _bad("mask", f"must be one of {', '.join(PASTE_MASKS)}, got {self.mask!r}")
        if self.fidelity is not None and not np.isfinite(self.fidelity):
            raise RequestError(
                400, "bad_fidelity", f"fidelity must be a number, got {self.fidelity}"
            )

    def output_format(self, input_format: str) -> str:
        """The format of the response for an input in ``input_format``; RequestError 400 when a
        quality is asked of a format without one."""
        fmt = self.format or input_format
        if self.quality is not None and fmt not in ("jpeg", "webp"):
            raise _bad("quality", f"applies to jpeg and webp, not {fmt}")
        return fmt


def _bad(name: str, reason: str) -> RequestError:
    return RequestError(400, "bad_parameter", f"{name} {reason}")


@dataclass
class EnhanceOutcome:
    """One request's result: the restored (H*up, W*up, 3) uint8 BGR ``image``, its ``faces``, its
    stage ``timings`` (seconds; ``restore`` is the whole shared call) and ``batch``, the most
    faces in a restorer call its faces went through (0 without faces)."""

    image: np.ndarray
    faces: list[Face]
    timings: dict[str, float]
    batch: int


_DECODE = threading.Lock()  # decode_bytes captures file descriptor 2: one decode at a time


def decode_image(
    body: bytes, content_type: str | None, config: ServeConfig
) -> tuple[np.ndarray, str]:
    """A request body -> ((H, W, 3) uint8 BGR, format name). RequestError 400 (empty, corrupt,
    truncated), 413 (over ``max_body_bytes``, or over ``max_pixels`` by its header, before any
    pixel is decoded), 415 (a content type or a format facert does not read)."""
    from facert.errors import InputError
    from facert.io.images import decode_bytes

    media = (content_type or "").split(";")[0].strip().lower()
    if media == "application/x-www-form-urlencoded":  # curl --data-binary's default: undeclared
        media = ""
    if media and media not in ACCEPTED_TYPES:
        raise RequestError(
            415,
            "unsupported_media_type",
            f"content type {media!r} is not an image facert reads "
            f"({', '.join(sorted(MEDIA_TYPES.values()))})",
        )
    if len(body) > config.max_body_bytes:
        raise RequestError(
            413, "body_too_large", f"body of {len(body):,} bytes is over {config.max_body_bytes:,}"
        )
    if not body:
        raise RequestError(400, "empty_body", "empty body: send the image's bytes")
    fmt = _checked_header(body, config)
    try:
        with _DECODE:
            loaded = decode_bytes(body, config.max_pixels, "image")
    except InputError as exc:
        raise RequestError(400, "corrupt_image", first_line(exc)) from None
    return loaded.bgr, READ_FORMATS[fmt]


def _checked_header(body: bytes, config: ServeConfig) -> str:
    """The Pillow format name of ``body`` from its header; RequestError 400 (corrupt), 413 (too
    many pixels) or 415 (not a format facert reads)."""
    from facert.errors import InputError
    from facert.io.images import probe_size

    try:
        width, height, fmt = probe_size(Path("image"), body)
    except InputError as exc:
        unknown = "unknown format" in str(exc) and not _signed(body)
        code = (415, "unsupported_media_type") if unknown else (400, "corrupt_image")
        raise RequestError(*code, first_line(exc)) from None
    if fmt not in READ_FORMATS:
        readable = ", ".join(READ_FORMATS.values())
        raise RequestError(415, "unsupported_media_type", f"{fmt} is not read ({readable})")
    if width * height > config.max_pixels:
        raise RequestError(
            413,
            "too_many_pixels",
            f"{width}x{height} is {width * height:,} pixels, over the "
            f"limit of {config.max_pixels:,}",
        )
    return fmt


def _signed(body: bytes) -> bool:
    """Whether ``body`` starts like a format facert reads (then a failed header is corrupt)."""
    starts = (b"\x89PNG", b"\xff\xd8\xff", b"BM", b"II*\0", b"MM\0*")
    return body.startswith(starts) or (body[:4] == b"RIFF" and body[8:12] == b"WEBP")


def encode_image(image: np.ndarray, fmt: str, quality: int | None) -> tuple[bytes, str]:
    """(H, W, 3) uint8 BGR -> (the encoded bytes, their media type); ``quality`` (1..100) for
    jpeg and webp, default 95."""
    import cv2

    params: list[int] = []
    if fmt == "jpeg":
        params = [cv2.IMWRITE_JPEG_QUALITY, quality or DEFAULT_QUALITY]
    elif fmt == "webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, quality or DEFAULT_QUALITY]
    ok, buffer = cv2.imencode(SUFFIXES[fmt], image, params)
    if not ok:
        raise FacertError(f"cannot encode the result as {fmt}")
    return buffer.tobytes(), MEDIA_TYPES[fmt]


@dataclass
class _Item:
    """One request between its front half (detect, align) and its blend."""

    index: int
    params: EnhanceParams
    pipeline: Pipeline
    image: np.ndarray  # after the frame stage
    faces: list[Face]
    prepared: PreparedFaces
    values: dict[str, np.ndarray]  # the restorer's option values per face
    timings: dict[str, float]
    restored: np.ndarray | None = None
    batch: int = 0


class Restorers:
    """The engines of one process (one replica): one opened :class:`Pipeline` per served model.

    :meth:`enhance_batch` serves several requests at once, their faces restored in shared calls
    per model (at most ``config.max_batch`` faces each); it and :meth:`detect` are called from
    one thread at a time. ``batches`` counts the restorer calls by their number of faces.
    """

    def __init__(self, settings: Settings, config: ServeConfig) -> None:
        self.settings, self.config = settings, config
        self.pipelines: dict[str, Pipeline] = {}
        self.batches: Counter[int] = Counter()

    def open(self) -> None:
        """Open every served model (``config.model`` first); those opened are closed again when
        a later one fails (UsageError for unknown names, missing weights...)."""
        from facert.models.registry import get_spec
        from facert.pipeline.frame import EnhanceOptions, Pipeline

        for name in self.config.served:
            get_spec(name)  # every name is checked before any model is opened
        try:
            for name in self.config.served:
                pipeline = Pipeline.open(
                    self.settings,
                    name,
                    weights=self.config.weights.get(name),
                    detector=self.config.detector,
                    options=EnhanceOptions(
                        background=self.config.background,
                        mask=self.config.mask,
                    ),
                    precision=self.config.precision,
                    backend=self.config.backend,
                )
                self.pipelines[name] = pipeline
                if pipeline.restorer.spec.batches:
                    pipeline.restorer.max_batch = self.config.max_batch
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        while self.pipelines:
            self.pipelines.popitem()[1].close()

    def stats(self) -> dict[str, Any]:
        batches = self.batches.copy()  # one C-level copy: safe while the worker thread counts
        return {"models": list(self.pipelines), "batches": dict(sorted(batches.items()))}

    def detect(self, image: np.ndarray) -> list[dict[str, Any]]:
        """The faces in ``image`` ((H, W, 3) uint8 BGR) as ``facert detect --json`` gives them."""
        pipeline = self._pipeline(self.config.model)
        return [face.to_json() for face in pipeline.detector.detect(image)]

    def enhance_batch(
        self, items: Sequence[tuple[np.ndarray, EnhanceParams]]
    ) -> list[EnhanceOutcome | RequestError]:
        """Restore the faces of each ((H, W, 3) uint8 BGR image, its params); one outcome per
        item, in order: an item's bad model or fidelity is its RequestError, the others are served."""
        results: list[EnhanceOutcome | RequestError | None] = [None] * len(items)
        groups: dict[str, list[_Item]] = {}
        for index, (image, params) in enumerate(items):
            try:
                item = self._front(index, image, params)
            except RequestError as exc:
                results[index] = exc
                continue
            groups.setdefault(item.pipeline.restorer.spec.name, []).append(item)
        for group in groups.values():
            self._restore(group)
            for item in group:
                results[item.index] = self._blend(item)
        return [r for r in results if r is not None]

    def _pipeline(self, name: str) -> Pipeline:
        pipeline = self.pipelines.get(name)
        if pipeline is None:
            if not self.pipelines:
                raise RequestError(503, "not_ready", "the models are not open", retry_after=1)
            raise RequestError(
                400,
                "unknown_model",
                f"model {name!r} is not served here (served: {', '.join(self.pipelines)})",
            )
        return pipeline

    def _front(self, index: int, image: np.ndarray, params: EnhanceParams) -> _Item:
        """Check the item's model and fidelity, then frame stage, detect, align, prepare."""
        from facert.pipeline.frame import EnhanceOptions

        pipeline = self._pipeline(params.model or self.config.model)
        if params.mask == "parse" and pipeline.parser is None:
            raise RequestError(
                400,
                "mask_not_served",
                "mask 'parse' needs ParseNet, which this server did not load: start it with "
                "--mask parse (mask=square is served)",
            )
        restorer = pipeline.restorer
        options = None if params.fidelity is None else {"fidelity": params.fidelity}
        if options is not None:
            if not any(o.name == "fidelity" and o.graph_input for o in restorer.spec.options):
                name = restorer.spec.name
                raise RequestError(400, "bad_fidelity", f"model {name} has no fidelity option")
            try:
                restorer.call_options(options)
            except UsageError as exc:
                raise RequestError(400, "bad_fidelity", first_line(exc)) from None
        timings: dict[str, float] = {}
        start = time.perf_counter()
        image = pipeline.frame_stage(image)
        start = _lap(timings, "frame", start)
        selection = EnhanceOptions(1.0, params.only_center_face, params.largest_face)
        faces = pipeline.detect(image, selection)
        start = _lap(timings, "detect", start)
        crops, affines = pipeline.align(image, faces)
        prepared = pipeline.prepare(image, faces, crops, affines)
        values = restorer.face_options(prepared.inputs, prepared.scales, options) if faces else {}
        _lap(timings, "align", start)
        return _Item(index, params, pipeline, image, faces, prepared, values, timings)

    def _restore(self, group: list[_Item]) -> None:
        """The faces of ``group`` (items of one model) in calls of at most max_batch faces."""
        start = time.perf_counter()
        restorer = group[0].pipeline.restorer
        with_faces = [item for item in group if item.faces]
        for item in group:
            item.restored = item.prepared.crops
        if with_faces:
            inputs = np.concatenate([item.prepared.inputs for item in with_faces])
            scales = np.concatenate([item.prepared.scales for item in with_faces])
            names = with_faces[0].values.keys()
            values = {n: np.concatenate([item.values[n] for item in with_faces]) for n in names}
            extra_names = with_faces[0].prepared.extras  # per-face extra inputs (DFDNet's boxes)
            extras = {
                n: np.concatenate([item.prepared.extras[n] for item in with_faces])
                for n in extra_names
            }
            size = restorer.max_batch
            outputs, calls = [], np.zeros(len(inputs), np.int64)
            for first in range(0, len(inputs), size):
                part = slice(first, first + size)
                parts = {n: v[part] for n, v in values.items()}
                extra = {n: v[part] for n, v in extras.items()}
                outputs.append(restorer.restore(inputs[part], scales[part], parts, extras=extra))
                calls[part] = len(outputs[-1])
                self.batches[len(outputs[-1])] += 1
            ends = np.cumsum([len(item.faces) for item in with_faces])
            restored = np.split(np.concatenate(outputs), ends[:-1])
            for item, faces, batch in zip(
                with_faces, restored, np.split(calls, ends[:-1]), strict=True
            ):
                item.restored, item.batch = faces, int(batch.max())
        seconds = time.perf_counter() - start
        for item in group:
            item.timings["restore"] = seconds

    def _blend(self, item: _Item) -> EnhanceOutcome:
        start = time.perf_counter()
        assert item.restored is not None  # set by _restore (an invariant, not user input)
        params = item.params
        image = item.pipeline.blend(
            item.image, item.faces, item.prepared, item.restored, params.upscale, params.mask
        )
        _lap(item.timings, "blend", start)
        return EnhanceOutcome(image, item.faces, item.timings, item.batch)


def _lap(timings: dict[str, float], stage: str, start: float) -> float:
    now = time.perf_counter()
    timings[stage] = now - start
    return now
