"""Real-ESRGAN's graph run tiled over a frame: the whole-frame output, with bounded tiles.

A tiny RRDBNet (8 features, 1 block, growth 4) with deterministic weights, exported by the real
exporter (checked against PyTorch) and run by a real ONNX Runtime session, on a real photo.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from facert.backends import engine_for  # noqa: E402
from facert.backends.base import Lifecycle  # noqa: E402
from facert.errors import UsageError  # noqa: E402
from facert.export.families.realesrgan.export import TOLERANCE, export_rrdbnet  # noqa: E402
from facert.export.families.realesrgan.net import RRDBConfig, RRDBNet  # noqa: E402
from facert.export.harness.fill import fill_deterministic  # noqa: E402
from facert.models.artifacts import FP16_GRAPH, Artifact  # noqa: E402
from facert.models.registry import get_spec  # noqa: E402
from facert.pipeline.frame import EnhanceOptions, Pipeline  # noqa: E402
from facert.stages.blend.seam import grid_border, seam_at  # noqa: E402
from facert.stages.detect.mtcnn import MtcnnDetector  # noqa: E402
from facert.stages.restore.background import upsampled  # noqa: E402
from facert.stages.restore.restorer import Restorer  # noqa: E402
from facert.stages.restore.upsampler import (  # noqa: E402
    DEFAULT_OVERLAP,
    Upsampler,
    from_planes,
    tile_cores,
    to_planes,
)

# The tiny net's reach: 17 convs at the trunk's scale (x2: half the input's) and a few after the
# upsamplings: 17 input pixels for x4, 36 for x2. An overlap of 40 covers both.
COVERING = 40


class Recorded(Upsampler):
    """An upsampler that records the input shape of every network call."""

    shapes: list[tuple[int, ...]]

    def run(self, planes: np.ndarray) -> np.ndarray:
        self.shapes.append(planes.shape)
        return super().run(planes)


@pytest.fixture(scope="module", params=[2, 4])
def graph(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[int, Path, dict]:
    scale = request.param
    model = fill_deterministic(
        RRDBNet(RRDBConfig(scale=scale, num_feat=8, num_block=1, num_grow_ch=4))
    )
    path = tmp_path_factory.mktemp(f"x{scale}") / "model.onnx"
    return scale, path, export_rrdbnet(model, path)


@pytest.fixture(scope="module")
def photo(grace_hopper: np.ndarray) -> np.ndarray:
    return cv2.resize(grace_hopper, (101, 87), interpolation=cv2.INTER_AREA)  # odd sizes


def upsampler(scale: int, path: Path, tile: int, overlap: int, batch: int = 1) -> Recorded:
    runner = Recorded(
        get_spec(f"realesrgan-x{scale}"), engine_for(path), tile=tile, overlap=overlap, batch=batch
    )
    runner.shapes = []
    return runner


def test_the_export_is_checked_at_free_sizes(graph: tuple[int, Path, dict]) -> None:
    scale, _, facts = graph
    diffs = [v for k, v in facts["parity"].items() if k.endswith("max_abs_diff")]
    assert len(diffs) == 2 and max(diffs) <= TOLERANCE and facts["graph"]["scale"] == scale


def test_the_fp16_graph_is_checked_on_photo_tiles(graph: tuple[int, Path, dict]) -> None:
    """FP16 vs FP32 on 3 tiles of the photo >= 40 dB (measured on the tiny net: 83.0 dB x2, 86.5
    dB x4; the full-size net with deterministic weights 69.9 dB x2), batch rows = single runs
    (FP32 0.0, FP16 identical: inf); the upsampler runs it when asked for fp16."""
    scale, path, facts = graph
    parity = facts["parity"]
    assert set(facts["onnx"]) == {"model.onnx", FP16_GRAPH} and "fp16_refused" not in facts
    assert parity["fp16_psnr_db"] >= 40 and parity["fp32_batch_vs_single_max_abs"] <= TOLERANCE
    batch_psnr = parity["fp16_batch_vs_single_psnr_db"]
    assert batch_psnr == "inf" or batch_psnr >= 60
    artifact = Artifact(get_spec(f"realesrgan-x{scale}"), path.parent, {"files": facts["onnx"]})
    runner = Upsampler.from_artifact(artifact, precision="fp16")
    assert runner.engine.path.name == FP16_GRAPH
    without = Artifact(
        artifact.spec, path.parent, {"files": {"model.onnx": {}}, "fp16_refused": "x"}
    )
    with pytest.raises(UsageError, match=r"has no FP16 graph \(x\)"):
        Upsampler.from_artifact(without, precision="fp16")


def test_batched_tiles_are_single_runs(graph: tuple[int, Path, dict], photo: np.ndarray) -> None:
    """Up to 4 tiles of one shape per call: the same output as one tile per call (FP32 rows of
    one batch are computed apart: measured 0.0; 1e-6 allows another kernel order)."""
    scale, path, _ = graph
    planes = to_planes(photo[: photo.shape[0] // 2 * 2, : photo.shape[1] // 2 * 2])
    with upsampler(scale, path, 24, 8) as alone:
        expected = alone.upscale_planes(planes)
    with upsampler(scale, path, 24, 8, batch=4) as batched:
        assert np.abs(batched.upscale_planes(planes) - expected).max() <= 1e-6
    assert len(alone.shapes) == 20 and max(s[0] for s in batched.shapes) == 4  # 4 x 5 cores
    assert len(batched.shapes) < len(alone.shapes) and sum(s[0] for s in batched.shapes) == 20


def test_tiles_give_the_whole_frame_output(
    graph: tuple[int, Path, dict], photo: np.ndarray
) -> None:
    """With the overlap covering the net's reach the tiled output is the whole-frame output to
    float rounding (1e-5 of outputs of order 1); with 2 pixels it is not: the seams would show."""
    scale, path, _ = graph
    planes = to_planes(photo[: photo.shape[0] // 2 * 2, : photo.shape[1] // 2 * 2])
    with upsampler(scale, path, 32, COVERING) as whole:
        expected = whole.run(planes)[0]
    with upsampler(scale, path, 32, COVERING) as tiled:
        assert np.abs(tiled.upscale_planes(planes) - expected).max() <= 1e-5
        assert (
            max(s[2] for s in tiled.shapes) <= 32 + 2 * COVERING and len(tiled.shapes) == 12
        )  # 3 x 4 cores of 86 x 100
    with upsampler(scale, path, 32, 2) as short:
        assert np.abs(short.upscale_planes(planes) - expected).max() > 1e-3


@pytest.mark.parametrize("scale", [2, 4])
def test_tile_borders_leave_no_seam_on_a_real_photo(
    grace_hopper: np.ndarray, scale: int, tmp_path: Path
) -> None:
    """A reduced RRDBNet (16 features, 2 blocks, growth 8: every layer kind; its influence fades
    within ~10 input pixels, as a trained one's does) over a 96 px crop of a real photo in 32 px
    tiles, against the whole-frame output in uint8: the seam measure (facert.stages.blend.seam)
    across the tile borders, 2 output pixels each side. Measured with the default 16 px overlap:
    max 1 level (rounding flips), seam ``excess`` 0.001 (x2) / 0.000 (x4) levels (10 px, the
    official RealESRGANer's: 0.063 / 0.000); with 2 px: 40.1 / 5.0 levels (the measure sees tile
    seams), max 225 / 48 levels."""
    model = fill_deterministic(
        RRDBNet(RRDBConfig(scale=scale, num_feat=16, num_block=2, num_grow_ch=8))
    )
    path = tmp_path / "model.onnx"
    export_rrdbnet(model, path, fp16=False)
    planes = to_planes(grace_hopper[150:246, 200:296])
    with upsampler(scale, path, 32, 0) as whole:
        expected = from_planes(whole.run(planes)[0])
    edges = [32 * scale, 64 * scale]  # the cores' borders (3 x 3 cores of 32 px)
    seams = {}
    for overlap in (DEFAULT_OVERLAP, 2):
        with upsampler(scale, path, 32, overlap) as tiled:
            output = from_planes(tiled.upscale_planes(planes))
        seam = seam_at(output, expected, grid_border(edges, edges, output.shape, 2.0))
        seams[overlap] = (seam.excess, int(np.abs(output.astype(int) - expected).max()))
    assert seams[DEFAULT_OVERLAP][1] <= 1 and seams[DEFAULT_OVERLAP][0] <= 0.05, seams
    assert seams[2][0] >= 2.0, seams


def test_frames_of_any_size_come_back_scaled(
    graph: tuple[int, Path, dict], photo: np.ndarray
) -> None:
    scale, path, _ = graph
    with upsampler(scale, path, 48, 8) as runner:
        out = runner.upscale(photo)
    assert out.shape == (87 * scale, 101 * scale, 3) and out.dtype == np.uint8
    padded = to_planes(photo)
    if scale == 2:  # odd sides mirrored by one pixel, as upscale does
        padded = np.pad(padded, ((0, 0), (0, 0), (0, 1), (0, 1)), mode="reflect")
    with upsampler(scale, path, 48, 8) as runner:
        whole = from_planes(runner.upscale_planes(padded))[: 87 * scale, : 101 * scale]
    assert np.array_equal(out, whole)  # tile-by-tile uint8 conversion: the same pixels
    assert all(s[2] <= 48 + 16 + 2 and s[3] <= 48 + 16 + 2 for s in runner.shapes)


def test_cores_cover_without_overlap() -> None:
    assert tile_cores(10, 4) == [(0, 3), (3, 7), (7, 10)]
    assert tile_cores(3, 256) == [(0, 3)]
    for length in (1, 255, 256, 257, 3840):
        cores = tile_cores(length, 256)
        assert cores[0][0] == 0 and cores[-1][1] == length
        assert all(a[1] == b[0] for a, b in itertools.pairwise(cores))
        assert max(b - a for a, b in cores) <= 256


def test_bad_tiles_and_roles_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not an upsampler"):
        Upsampler(get_spec("ispl"), engine_for(tmp_path / "x.onnx"))
    with pytest.raises(UsageError, match="tile must be 8 or more"):
        Upsampler(get_spec("realesrgan-x4"), engine_for(tmp_path / "x.onnx"), tile=4)


def test_a_learned_restorer_pastes_its_faces_on_the_upsampled_photo(
    graph: tuple[int, Path, dict],
    tiny_learned: Callable[[str], Artifact],
    mtcnn_artifact: Artifact,
    grace_hopper: np.ndarray,
) -> None:
    """--background restore with a learned restorer: the photo through Real-ESRGAN (tiled),
    resized to the output size (Lanczos; at --upscale 1 the x2 output halved), the faces pasted
    on it; the background equals the upsampler's output wherever no face is pasted. x2 at
    --upscale 1 (halved), x4 at --upscale 2 (Lanczos from 4x)."""
    scale, path, _ = graph
    upscale = 1.0 if scale == 2 else 2.0
    options = EnhanceOptions(upscale=upscale, background="restore")
    pipeline = Pipeline(
        MtcnnDetector.from_artifact(mtcnn_artifact, threads=1),
        Restorer.from_artifact(tiny_learned("gfpgan"), threads=1),
        options,
        upsampler=upsampler(scale, path, 128, 8),
    )
    with Lifecycle.open(pipeline):
        result = pipeline.enhance(grace_hopper)
        assert pipeline.upsampler is not None
        expected = upsampled(pipeline.upsampler, grace_hopper, upscale)
    height, width = grace_hopper.shape[:2]
    assert result.image.shape == expected.shape == (int(height * upscale), int(width * upscale), 3)
    assert len(result.faces) == 1
    x1, y1, x2, y2 = (int(v * upscale) for v in result.faces[0].box)
    margin = int(0.6 * (y2 - y1))  # the pasted crop reaches past the face box
    outside = np.ones(expected.shape[:2], bool)
    outside[max(0, y1 - margin) : y2 + margin, max(0, x1 - margin) : x2 + margin] = False
    assert np.array_equal(result.image[outside], expected[outside])
    assert not np.array_equal(result.image, expected)  # the face was pasted


def test_a_learned_restorer_without_an_upsampler_is_refused(
    tiny_learned: Callable[[str], Artifact], mtcnn_artifact: Artifact
) -> None:
    with pytest.raises(UsageError, match="needs an upsampler"):
        Pipeline(
            MtcnnDetector.from_artifact(mtcnn_artifact, threads=1),
            Restorer.from_artifact(tiny_learned("gfpgan"), threads=1),
            EnhanceOptions(background="restore"),
        )


@pytest.mark.slow
def test_a_4k_frame_runs_in_bounded_tiles(graph: tuple[int, Path, dict]) -> None:
    """3840x2160 through the tiny net, default tile and overlap: every call sees at most
    288 x 288 input pixels, and the arrays Python allocates peak at the input's float copy plus
    the uint8 output (x2: 100 + 100 MB, x4: 100 + 398 MB) plus tiles, never a float output."""
    import tracemalloc

    scale, path, _ = graph
    frame = np.random.default_rng(0).integers(0, 256, (2160, 3840, 3), dtype=np.uint8)
    runner = Recorded(get_spec(f"realesrgan-x{scale}"), engine_for(path))
    runner.shapes = []
    with runner:
        tracemalloc.start()
        out = runner.upscale(frame)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert out.shape == (2160 * scale, 3840 * scale, 3)
    assert max(max(s[2], s[3]) for s in runner.shapes) <= 288 and len(runner.shapes) == 9 * 15
    planes, output = 2160 * 3840 * 3 * 4, out.nbytes
    assert peak < planes + output + 64 * 2**20, peak / 2**20
