"""The GPU frame pipeline's own code on the CPU: :class:`GpuPipeline` over :class:`HostOps` with the
kernel header compiled for the host (tests/kernel_host.py: the same per-pixel functions the CUDA
kernels call) and real ONNX Runtime engines behind the binding protocol (:class:`HostBound`),
against the CPU pipeline (:meth:`Pipeline.enhance`) on real photos: MTCNN and a tiny learned
restorer (GFPGAN's layout at 32 px, tests/tiny_families.py).

Tolerances: the same faces (count, and boxes within 0.01 px: the pyramid and crops are the same
area filter with the same float32 arithmetic, so the networks see inputs equal to float rounding);
the restored frame within PSNR 40 dB of the CPU one over the faces' paste boxes (the issue's bar:
the warp differs from OpenCV's fixed-point bilinear by < 1e-3 of a level before rounding, the blend
rounds as the CPU path within 1 level).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import cv2
import numpy as np
import pytest

from facert.backends import engine_for
from facert.backends.base import Lifecycle
from facert.demo.metrics import around_boxes, psnr
from facert.models.artifacts import Artifact
from facert.pipeline.bound import HostBound
from facert.pipeline.device_ops import HostOps
from facert.pipeline.frame import EnhanceOptions, Pipeline
from facert.pipeline.gpu_detect import GpuMtcnn
from facert.pipeline.gpu_frame import GpuPipeline
from facert.stages.detect.mtcnn import NETWORKS, MtcnnDetector
from facert.stages.faces import Face
from facert.stages.restore.restorer import Restorer

PSNR_BAR = 40.0
BOX_TOLERANCE = 0.01  # px


@pytest.fixture(scope="module")
def kernels() -> object:
    kernel_host = pytest.importorskip("kernel_host")
    return kernel_host.HostKernels()


@pytest.fixture(scope="module")
def tiny(tiny_learned: Callable[[str], Artifact]) -> Artifact:
    return tiny_learned("gfpgan")


@pytest.fixture(scope="module")
def pipelines(
    kernels: object, mtcnn_artifact: Artifact, tiny: Artifact
) -> Iterator[tuple[Pipeline, GpuPipeline]]:
    cpu = Pipeline(
        MtcnnDetector.from_artifact(mtcnn_artifact, threads=1),
        Restorer.from_artifact(tiny, threads=1),
    )
    Lifecycle.open(cpu)  # Pipeline.open and GpuPipeline.open are factories
    ops = HostOps(kernels)  # type: ignore[arg-type]
    nets = {
        name: HostBound(engine_for(mtcnn_artifact.path(f"{name}.onnx"), threads=1), ops, name)
        for name in NETWORKS
    }
    engine = HostBound(engine_for(tiny.path(tiny.spec.onnx_files[0]), threads=1), ops, "restorer")
    gpu = GpuPipeline(ops, GpuMtcnn(nets, ops), Restorer(tiny, engine))  # type: ignore[arg-type]
    Lifecycle.open(gpu)
    yield cpu, gpu
    gpu.close()
    cpu.close()


def paste_boxes(faces: list[Face], shape: tuple[int, ...]) -> np.ndarray:
    """(H, W) bool: where the faces' pastes can reach (:func:`around_boxes` of their boxes)."""
    return around_boxes([face.box for face in faces], shape)


def psnr_over(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    return psnr(a[mask], b[mask])


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    height = max(left.shape[0], right.shape[0])
    pad = [
        cv2.copyMakeBorder(i, 0, height - i.shape[0], 0, 0, cv2.BORDER_REPLICATE)
        for i in (left, right)
    ]
    return np.ascontiguousarray(np.hstack(pad))


@pytest.fixture(scope="module")
def frames(grace_hopper: np.ndarray, astronaut: np.ndarray) -> dict[str, np.ndarray]:
    head = astronaut[:300, 150:300]  # the face at x 31..118 of this strip
    return {
        "grace_hopper": grace_hopper,
        "astronaut": astronaut,
        "two_faces": side_by_side(grace_hopper, astronaut),
        "overlapping": side_by_side(head, head),  # paste areas overlap: later over earlier
        # faces cut by the frame's edge (MTCNN's boxes reach past it: x1 -151, y1 -37)
        "cut_left": np.ascontiguousarray(grace_hopper[:, 210:]),
        "cut_top": np.ascontiguousarray(astronaut[80:]),
        "no_face": np.ascontiguousarray(grace_hopper[470:, :]),
    }


FACES = {
    "grace_hopper": 1,
    "astronaut": 1,
    "two_faces": 2,
    "overlapping": 2,
    "cut_left": 1,
    "cut_top": 1,
    "no_face": 0,
}


@pytest.mark.parametrize("name", list(FACES))
def test_the_gpu_pipeline_on_the_host_matches_the_cpu_pipeline(
    pipelines: tuple[Pipeline, GpuPipeline], frames: dict[str, np.ndarray], name: str
) -> None:
    cpu, gpu = pipelines
    frame = frames[name]
    expected = cpu.enhance(frame)
    result = gpu.enhance(frame)
    assert len(expected.faces) == FACES[name]  # the frame is what the test means
    assert len(result.faces) == len(expected.faces)
    for ours, theirs in zip(result.faces, expected.faces, strict=True):
        np.testing.assert_allclose(ours.box, theirs.box, atol=BOX_TOLERANCE)
        np.testing.assert_allclose(ours.landmarks, theirs.landmarks, atol=BOX_TOLERANCE)
    assert result.image.shape == frame.shape and result.image is not frame
    if not expected.faces:
        np.testing.assert_array_equal(result.image, frame)
        return
    mask = paste_boxes(expected.faces, frame.shape)
    assert np.array_equal(result.image[~mask], frame[~mask])  # nothing away from the faces
    assert psnr_over(result.image, expected.image, mask) >= PSNR_BAR
    assert not np.array_equal(result.image[mask], frame[mask])  # the faces were restored
    assert {"upload", "detect", "align", "crop", "restore", "blend", "download"} <= set(
        result.timings
    )


def test_more_faces_than_a_batch_are_cropped_before_any_is_blended(
    pipelines: tuple[Pipeline, GpuPipeline], frames: dict[str, np.ndarray]
) -> None:
    """Batch 1: the second face's crop must come from the original frame, as on the CPU, even
    though the paste areas overlap (the gathered outputs are blended at once)."""
    cpu, gpu = pipelines
    frame = frames["overlapping"]
    batch, gpu.batch = gpu.batch, 1
    try:
        result = gpu.enhance(frame)
    finally:
        gpu.batch = batch
    expected = cpu.enhance(frame)
    mask = paste_boxes(expected.faces, frame.shape)
    assert len(result.faces) == 2
    assert psnr_over(result.image, expected.image, mask) >= PSNR_BAR
    np.testing.assert_array_equal(result.image, gpu.enhance(frame).image)


def test_selection_options_apply(
    kernels: object, pipelines: tuple[Pipeline, GpuPipeline], frames: dict[str, np.ndarray]
) -> None:
    _, gpu = pipelines
    options, gpu.options = gpu.options, EnhanceOptions(largest_face=True)
    try:
        result = gpu.enhance(frames["two_faces"])
    finally:
        gpu.options = options
    assert len(result.faces) == 1
    assert result.faces[0].box[0] < 512  # grace_hopper's face is the larger


def test_input_errors_are_one_line(pipelines: tuple[Pipeline, GpuPipeline]) -> None:
    from facert.errors import InputError

    _, gpu = pipelines
    with pytest.raises(InputError, match=r"expected an \(H, W, 3\) uint8 BGR image"):
        gpu.enhance(np.zeros((8, 8), np.uint8))


def test_a_restorer_with_an_option_gets_it_per_face(
    kernels: object,
    mtcnn_artifact: Artifact,
    tiny_learned: Callable[[str], Artifact],
    frames: dict[str, np.ndarray],
) -> None:
    """CodeFormer's fidelity goes to the engine's option input as the CPU restorer feeds it: the
    GPU result matches the CPU one at the same fidelity, not the one at another fidelity."""
    tiny = tiny_learned("codeformer")
    frame = frames["two_faces"]
    expected = {}
    for fidelity in (0.3, 1.0):
        cpu = Pipeline(
            MtcnnDetector.from_artifact(mtcnn_artifact, threads=1),
            Restorer.from_artifact(tiny, threads=1, options={"fidelity": fidelity}),
        )
        with Lifecycle.open(cpu):
            expected[fidelity] = cpu.enhance(frame).image
    ops = HostOps(kernels)  # type: ignore[arg-type]
    nets = {
        name: HostBound(engine_for(mtcnn_artifact.path(f"{name}.onnx"), threads=1), ops, name)
        for name in NETWORKS
    }
    engine = HostBound(engine_for(tiny.path(tiny.spec.onnx_files[0]), threads=1), ops, "restorer")
    restorer = Restorer(tiny, engine, options={"fidelity": 0.3})
    gpu = GpuPipeline(ops, GpuMtcnn(nets, ops), restorer)  # type: ignore[arg-type]
    with Lifecycle.open(gpu):
        result = gpu.enhance(frame)
    assert len(result.faces) == 2
    np.testing.assert_array_equal(result.face_options["fidelity"], np.float32([0.3, 0.3]))
    mask = paste_boxes(result.faces, frame.shape)
    assert psnr_over(result.image, expected[0.3], mask) >= PSNR_BAR
    assert (
        psnr_over(result.image, expected[1.0], mask)
        < psnr_over(result.image, expected[0.3], mask) - 10
    )
