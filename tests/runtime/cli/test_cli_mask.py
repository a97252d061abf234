"""``--mask square|parse`` through the command line (run in-process, tests/cli_runs.py) and what is
refused in one line: ParseNet missing from the cache, an unknown mask, the GPU pipeline,
``facert models fetch parsenet`` without a network."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_runs import facert, mtcnn_only_cache, one_face_photo

from facert.cli.main import build_parser
from facert.cli.serve import serve_config
from facert.config import Settings
from facert.models import weights
from facert.models.registry import get_spec
from facert.pipeline.frame import EnhanceOptions
from facert.pipeline.gpu_frame import gpu_refusal
from facert.stages.blend import parse


def test_parse_without_parsenet_names_what_to_fetch(
    tmp_path: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = mtcnn_only_cache(tmp_path / "cache", settings)
    photo = one_face_photo(tmp_path / "p.png")
    code, _, err = facert(
        capsys, "--cache-dir", cache, "enhance", photo, "-o", tmp_path / "o", "--mask", "parse"
    )
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "--mask parse needs parsenet" in err and "`facert models fetch parsenet`" in err
    assert not (tmp_path / "o").exists()
    code, _, err = facert(capsys, "enhance", photo, "-o", tmp_path / "x", "--mask", "soft")
    assert code == 2 and "invalid choice: 'soft'" in err and err.count("\n") == 1


@pytest.mark.parametrize("command", ["enhance", "video", "camera", "serve"])
def test_every_front_end_takes_it(command: str, settings: Settings) -> None:
    required = {
        "enhance": ["in.png", "-o", "out"],
        "video": ["in.mp4", "-o", "out.mp4"],
        "camera": ["--source", "0"],
        "serve": [],
    }[command]
    assert build_parser().parse_args([command, *required]).mask == "square"
    args = build_parser().parse_args([command, *required, "--mask", "parse"])
    assert args.mask == "parse"
    if command == "serve":
        assert serve_config(args, settings).mask == "parse"


def test_fetch_without_a_network_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def offline(weight, target: Path) -> None:
        raise weights.DownloadError(f"cannot download {weight.url} (no network)")

    monkeypatch.setattr(weights, "_http_download", offline)
    code, _, err = facert(capsys, "--cache-dir", tmp_path, "models", "fetch", "parsenet")
    assert code != 0 and len(err.strip().splitlines()) == 1, err
    assert "facexlib/releases/download/v0.2.2/parsing_parsenet.pth" in err
    assert not list(tmp_path.rglob("*.pth"))


def test_the_spec_is_a_parser_with_the_published_hash() -> None:
    spec = get_spec(parse.PARSER)
    assert spec.role == "parser" and spec.onnx_files == ("parsenet.onnx",)
    assert spec.weights[0].sha256.startswith("3d558d8d0e42")


def test_the_gpu_pipeline_refuses_the_parse_mask() -> None:
    spec = get_spec("gfpgan-1.4")
    assert gpu_refusal(spec, EnhanceOptions(mask="parse")) == (
        "--mask parse: the GPU pipeline pastes under the square mask only; use --mask square "
        "or --device cpu"
    )


@pytest.mark.slow  # exports a (tiny, 512 px) ParseNet into the cache first: 10-40 s on 2 cores
def test_parse_mask_with_colour_correction_end_to_end(
    tmp_path: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("torch")
    from tiny_parsenet import NAME, registered

    cache = mtcnn_only_cache(tmp_path / "cache", settings)
    photo = one_face_photo(tmp_path / "p.png")
    monkeypatch.setattr(parse, "PARSER", NAME)
    outputs = {}
    with registered(cache):
        for mask in ("square", "parse"):
            code, _, err = facert(
                capsys, "--cache-dir", cache, "enhance", photo, "-o", tmp_path / mask,
                "--model", "wipa", "--mask", mask, "--color-correction", "mean-std",
            )  # fmt: skip
            assert code == 0, err
            outputs[mask] = cv2.imread(str(tmp_path / mask / "p.png")).astype(np.int16)
    changed = np.abs(outputs["parse"] - outputs["square"]).max(axis=2) > 0
    ys, xs = np.nonzero(changed)
    assert changed.any() and xs.max() - xs.min() < 200 and ys.max() - ys.min() < 200
