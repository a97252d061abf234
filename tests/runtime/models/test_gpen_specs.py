"""The gpen-bfr-* specs: official files, sizes and normalisation, wired to the export command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from facert.cli.main import main
from facert.models.registry import get_spec

SIZES = (256, 512, 1024)
OSS = "https://public-vigen-video.oss-cn-shanghai.aliyuncs.com/robin/models/"


def test_three_sizes_one_family_and_facegans_normalisation() -> None:
    for size in SIZES:
        spec = get_spec(f"gpen-bfr-{size}")
        (weight,) = spec.weights
        assert spec.family == "gpen" and spec.input_size == size
        # FaceGAN.img2tensor: RGB, (x / 255 - 0.5) / 0.5; tensor2img: x * 0.5 + 0.5.
        assert (spec.color_order, spec.input_range, spec.output_range) == (
            "RGB",
            (-1.0, 1.0),
            (-1.0, 1.0),
        )
        assert weight.state_dict_keys == () and weight.strip_prefix == ""  # a plain state dict
        assert spec.onnx_files == ("model.onnx", "model.fp16.onnx") and spec.precision_policy
        assert spec.exporter == "gpen"
        assert "non-commercial" in spec.licence
    for size in (256, 512):
        weight = get_spec(f"gpen-bfr-{size}").weights[0]
        assert (
            weight.url == f"{OSS}GPEN-BFR-{size}.pth" and weight.filename == f"GPEN-BFR-{size}.pth"
        )
        # lowercase hex, as sha256_of gives it: a hash in any other form could never match
        assert re.fullmatch("[0-9a-f]{64}", weight.sha256), weight.sha256
    weight = get_spec("gpen-bfr-1024").weights[0]
    assert "modelscope.cn" in weight.url and weight.url.endswith("pytorch_model.pt")
    assert weight.sha256 == ""  # no published hash: see the spec's notes


def test_export_refuses_a_file_that_is_not_a_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = tmp_path / "GPEN-BFR-512.pth"
    fake.write_bytes(b"not the checkpoint")
    code = main(
        ["--cache-dir", str(tmp_path), "models", "export", "gpen-bfr-512", "--weights", str(fake)]
    )
    assert code == 2
    assert f"{fake}: not a loadable torch checkpoint" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == [fake.name]  # nothing written


def test_the_unpinned_1024_file_is_never_downloaded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--cache-dir", str(tmp_path), "models", "fetch", "gpen-bfr-1024"])
    assert code == 2
    error = capsys.readouterr().err
    assert "no published sha256" in error and "--weights FILE" in error
    assert not list(tmp_path.rglob("pytorch_model.pt"))


def test_the_unpinned_1024_file_is_checked_by_its_contents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torch")
    fake = tmp_path / "pytorch_model.pt"
    fake.write_bytes(b"junk\n")
    code = main(
        ["--cache-dir", str(tmp_path), "models", "export", "gpen-bfr-1024", "--weights", str(fake)]
    )
    assert code == 2
    error = capsys.readouterr().err
    assert str(fake) in error and "not a loadable torch checkpoint" in error
