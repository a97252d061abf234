"""facert.serve.core: decoding with the server's limits, request parameters, and Restorers serving
several requests in shared restorer calls with the same result as Pipeline.enhance."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
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
from facert.errors import UsageError
from facert.pipeline.frame import EnhanceOptions, Pipeline
from facert.serve.core import (
    EnhanceParams,
    RequestError,
    Restorers,
    ServeConfig,
    decode_image,
    encode_image,
)

CONFIG = ServeConfig(max_body_bytes=1 << 20, max_pixels=2_000_000)


def refused(body: bytes, content_type: str | None = "image/png") -> RequestError:
    with pytest.raises(RequestError) as caught:
        decode_image(body, content_type, CONFIG)
    return caught.value


def test_decode_reads_png_and_jpeg() -> None:
    image = photo()
    pixels, fmt = decode_image(encoded(image), "image/png", CONFIG)
    assert fmt == "png" and np.array_equal(pixels, image)
    pixels, fmt = decode_image(encoded(image, ".jpg"), None, CONFIG)  # no type: the bytes say
    assert fmt == "jpeg" and pixels.shape == image.shape


def test_decode_refuses_bad_bodies_with_their_status() -> None:
    jpeg = encoded(photo(), ".jpg")
    cases = {
        b"": (400, "empty_body"),
        b"\x89PNG\r\n\x1a\n" + b"\0" * 40: (400, "corrupt_image"),
        jpeg[: len(jpeg) // 2]: (400, "corrupt_image"),  # truncated
        encoded(photo())[:-200]: (400, "corrupt_image"),
        b"hello, not an image": (415, "unsupported_media_type"),
        png_header(100_000, 100_000): (413, "too_many_pixels"),  # from the header alone
        b"\0" * ((1 << 20) + 1): (413, "body_too_large"),
    }
    for body, (status, code) in cases.items():
        error = refused(body, None)
        assert (error.status, error.code) == (status, code), (body[:20], error.message)
        assert "\n" not in error.message and error.message
    assert "100000x100000" in refused(png_header(100_000, 100_000)).message
    gif = cv2.imencode(".png", photo())[1].tobytes()
    assert refused(gif, "text/plain").status == 415
    assert refused(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", None).status == 415


def test_encode_formats_and_quality() -> None:
    image = photo()
    data, media = encode_image(image, "png", None)
    assert media == "image/png" and np.array_equal(decode_image(data, media, CONFIG)[0], image)
    small, media = encode_image(image, "jpeg", 20)
    large, _ = encode_image(image, "jpeg", 95)
    assert media == "image/jpeg" and len(small) < len(large)
    assert encode_image(image, "webp", 50)[1] == "image/webp"


def test_params_and_config_are_checked() -> None:
    for bad in (
        {"upscale": 0.5},
        {"upscale": 9},
        {"format": "gif"},
        {"quality": 0},
        {"only_center_face": True, "largest_face": True},
        {"fidelity": float("nan")},
    ):
        with pytest.raises(RequestError) as caught:
            EnhanceParams(**bad)  # type: ignore[arg-type]
        assert caught.value.status == 400
    with pytest.raises(RequestError, match="quality applies to jpeg and webp"):
        EnhanceParams(quality=50).output_format("png")
    assert EnhanceParams(format="webp").output_format("png") == "webp"
    for bad_config in ({"max_batch": 0}, {"timeout_s": 0}, {"max_queue": 0}):
        with pytest.raises(UsageError):
            ServeConfig(**bad_config)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, settings: Settings
) -> Iterator[tuple[Settings, Restorers, str, Path]]:
    """Restorers serving ISPL (default) and the tiny CodeFormer, max 3 faces per call."""
    with tiny_codeformer_cache(shared_tiny_folder(tmp_path_factory, settings), settings) as (
        tiny_settings,
        name,
        checkpoint,
    ):
        config = ServeConfig(models=(name,), weights={name: checkpoint}, max_batch=3)
        restorers = Restorers(tiny_settings, config)
        restorers.open()
        try:
            yield tiny_settings, restorers, name, checkpoint
        finally:
            restorers.close()


def alone(settings: Settings, image: np.ndarray, model: str = "ispl", **kw: object) -> np.ndarray:
    """Pipeline.enhance's result on its own: the reference."""
    fidelity = kw.pop("fidelity", None)
    weights = kw.pop("weights", None)
    options = EnhanceOptions(**kw)  # type: ignore[arg-type]
    model_options = {} if fidelity is None else {"fidelity": fidelity}
    with Pipeline.open(
        settings, model, weights=weights, options=options, model_options=model_options
    ) as pipeline:
        return pipeline.enhance(image).image


def close_to(served: np.ndarray, reference: np.ndarray) -> None:
    """Equal up to the batch the faces went through: ONNX Runtime's kernels may round the last
    float bit differently for another batch size, which moves a pixel by at most 1 level after
    the uint8 rounding (measured: max 1 level on 0.1% of pixels at most, often 0)."""
    assert served.shape == reference.shape
    difference = np.abs(served.astype(np.int16) - reference.astype(np.int16))
    assert difference.max() <= 1 and (difference > 0).mean() < 0.005, (
        difference.max(),
        (difference > 0).mean(),
    )


def test_shared_batches_equal_pipeline_enhance(
    served: tuple[Settings, Restorers, str, Path],
) -> None:
    settings, restorers, tiny, checkpoint = served
    grace, both = photo(), two_faces()
    items = [
        (grace, EnhanceParams()),
        (both, EnhanceParams(upscale=2)),
        (both, EnhanceParams(largest_face=True)),
        (grace, EnhanceParams(model=tiny, fidelity=0.0)),
        (both, EnhanceParams(model="gfpgan")),  # not served: this item alone fails
        (both, EnhanceParams(model=tiny, fidelity=1.0)),
        (grace, EnhanceParams(fidelity=0.5)),  # ISPL has no fidelity
        (both, EnhanceParams(model=tiny, fidelity=2.0)),  # out of range
    ]
    before = sum(restorers.batches.values())
    outcomes = restorers.enhance_batch(items)
    assert len(outcomes) == len(items)
    errors = {i: o for i, o in enumerate(outcomes) if isinstance(o, RequestError)}
    assert {i: (e.status, e.code) for i, e in errors.items()} == {
        4: (400, "unknown_model"),
        6: (400, "bad_fidelity"),
        7: (400, "bad_fidelity"),
    }
    assert "gfpgan" in errors[4].message and "ispl" in errors[4].message
    ok = [o for o in outcomes if not isinstance(o, RequestError)]
    assert [len(o.faces) for o in ok] == [1, 2, 1, 1, 2]
    # ISPL: 1 + 2 + 1 faces in calls of at most 3; the tiny model: 1 + 2 faces in one call.
    assert [o.batch for o in ok] == [3, 3, 1, 3, 3]
    assert sum(restorers.batches.values()) - before == 3
    assert ok[1].image.shape[:2] == (both.shape[0] * 2, both.shape[1] * 2)
    close_to(ok[0].image, alone(settings, grace))
    close_to(ok[1].image, alone(settings, both, upscale=2))
    close_to(ok[2].image, alone(settings, both, largest_face=True))
    tiny_alone = alone(settings, both, tiny, fidelity=1.0, weights=checkpoint)
    close_to(ok[4].image, tiny_alone)
    fixed = restorers.enhance_batch([(blurred(), EnhanceParams())])[0]
    assert not isinstance(fixed, RequestError)
    assert np.abs(fixed.image.astype(int) - blurred()).max() > 20  # faces were changed
    # fidelity is per request: the same image at w = 0 differs from w = 1
    low = restorers.enhance_batch([(both, EnhanceParams(model=tiny, fidelity=0.0))])[0]
    assert not isinstance(low, RequestError)
    assert np.abs(low.image.astype(int) - tiny_alone).max() > 10


def test_detect_gives_the_cli_contract(served: tuple[Settings, Restorers, str, Path]) -> None:
    faces = served[1].detect(two_faces())
    assert len(faces) == 2 and set(faces[0]) == {"box", "score", "landmarks"}
    assert served[1].stats()["models"][0] == "ispl"
