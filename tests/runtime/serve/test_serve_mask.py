"""``mask`` per request on a real uvicorn server on 127.0.0.1: a server started with ``--mask
parse`` (the deterministic ParseNet of tests/tiny_parsenet.py standing in for ParseNet) pastes
under the parse mask by default and under the square when a request asks; a square server
refuses ``mask=parse`` (tests/runtime/serve/test_http.py), both refuse an unknown mask."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
from http_support import running
from parse_cache import tiny_parser_cache
from serve_support import encoded, photo

from facert.config import Settings
from facert.models.artifacts import Artifact
from facert.pipeline.frame import EnhanceOptions, Pipeline
from facert.serve.core import EnhanceParams, RequestError, ServeConfig

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")


def test_a_parse_server_serves_both_masks(
    tmp_path_factory: pytest.TempPathFactory, settings: Settings, mtcnn_artifact: Artifact
) -> None:
    image = photo()  # one face, 256 px wide
    served, expected = {}, {}
    with tiny_parser_cache(tmp_path_factory, settings) as cache:
        here = replace(settings, cache_dir=cache)
        with running(here, ServeConfig(model="wipa", background="upscale", mask="parse")) as server:
            for query in ("", "?mask=square"):
                reply = server.call(f"/v1/enhance{query}", encoded(image), "image/png")
                assert reply.status == 200 and reply.headers["X-Faces"] == "1", reply.body[:300]
                served[query] = cv2.imdecode(np.frombuffer(reply.body, np.uint8), cv2.IMREAD_COLOR)
            reply = server.call("/v1/enhance?mask=oval", encoded(image), "image/png")
            assert (reply.status, reply.error["code"]) == (400, "bad_parameter")
        for mask in ("parse", "square"):
            options = EnhanceOptions(background="upscale", mask=mask)  # the face alone restored
            with Pipeline.open(here, "wipa", options=options) as pipeline:
                expected[mask] = pipeline.enhance(image).image.astype(int)
    # Each equals Pipeline.enhance with that mask, up to 1 level (another batch's last float bit,
    # as test_http.py); the two masks paste differently.
    assert np.abs(served[""] - expected["parse"]).max() <= 1
    assert np.abs(served["?mask=square"] - expected["square"]).max() <= 1
    assert np.abs(expected["parse"] - expected["square"]).max() > 5


def test_the_mask_parameter_is_checked() -> None:
    assert EnhanceParams(mask="parse").mask == "parse"
    with pytest.raises(RequestError, match="mask must be one of square, parse, got 'oval'"):
        EnhanceParams(mask="oval")  # type: ignore[arg-type]
