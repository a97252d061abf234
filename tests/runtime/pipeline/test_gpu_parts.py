"""The GPU pipeline's parts that need no GPU: the host ops, the binding adapter, the CUDA ops' array
checks (on ``__cuda_array_interface__`` dicts), and MTCNN's torch networks on torch's CPU device
against the ONNX export (the networks the GPU detector runs on a GPU)."""

from __future__ import annotations

import numpy as np
import pytest
from gpu_support import Described

from facert.backends import engine_for
from facert.config import Settings
from facert.errors import UsageError
from facert.models.artifacts import Artifact
from facert.models.specs.mtcnn import INPUT_NAME
from facert.pipeline.bound import HostBound
from facert.pipeline.cuda_ops import DeviceArray, array_facts
from facert.pipeline.device_ops import HostOps, host_pitch


def test_host_frames_are_pitched_and_workspaces_reused() -> None:
    with HostOps(kernels=None) as ops:  # type: ignore[arg-type]
        frame = ops.frame("frame", 5, 7)
        assert frame.shape == (5, 7, 3) and frame.strides == (host_pitch(7), 3, 1)
        assert host_pitch(7) > 21 and host_pitch(7) % 64 == 0
        small = ops.buffer("b", (2, 3), np.float32)
        small[...] = 1
        again = ops.buffer("b", (3, 2), np.float32)
        assert np.shares_memory(small, again) and again.shape == (3, 2)
        assert ops.rows(np.arange(10).reshape(5, 2), 1, 3).tolist() == [[2, 3], [4, 5]]
        start, end = ops.event("a"), ops.event("b")
        start.record()
        end.record()
        assert ops.event("a") is start and end.elapsed_ms(start) <= 0 <= start.elapsed_ms(end)


def test_device_arrays_give_pointer_shape_dtype_and_pitch() -> None:
    frame = Described((1080, 1920, 3), "|u1", strides=(6144, 3, 1))
    assert array_facts(frame) == (0x7F0000001000, (1080, 1920, 3), np.dtype(np.uint8), 6144)
    tensor = Described((4, 3, 8, 8), "<f2")
    assert array_facts(tensor)[3] == 3 * 8 * 8 * 2
    rows = DeviceArray(None, 0x1000, (4, 3), np.float32)
    assert rows.__cuda_array_interface__["typestr"] == "<f4"
    with pytest.raises(UsageError, match="rows must be contiguous"):
        array_facts(Described((4, 3, 8, 8), "<f4", strides=(768, 4, 96, 12)))
    with pytest.raises(UsageError, match="not a device array: ndarray"):
        array_facts(np.zeros(3))


def test_host_bound_runs_an_onnx_runtime_engine_on_the_ops_buffers(
    mtcnn_artifact: Artifact,
) -> None:
    ops = HostOps(kernels=None)  # type: ignore[arg-type]
    engine = HostBound(engine_for(mtcnn_artifact.path("rnet.onnx"), threads=1), ops, "rnet")
    crops = np.random.default_rng(0).uniform(-1, 1, (5, 3, 24, 24)).astype(np.float32)
    with ops, engine:
        with pytest.raises(UsageError, match="bind_inputs before run_bound"):
            engine.run_bound(None)
        with pytest.raises(UsageError, match=r"inputs expected \['image'\], got \['crops'\]"):
            engine.bind_inputs({"crops": (5, 3, 24, 24)})
        engine.bind_inputs({INPUT_NAME: crops.shape})[INPUT_NAME][...] = crops
        outputs = engine.run_bound(None)
        expected = engine.engine.run({INPUT_NAME: crops})
        assert sorted(outputs) == sorted(expected) == ["offsets", "probabilities"]
        for name, array in expected.items():
            np.testing.assert_array_equal(outputs[name], array)


@pytest.mark.parametrize(
    ("name", "shape"),
    [("pnet", (1, 3, 61, 83)), ("rnet", (7, 3, 24, 24)), ("onet", (3, 3, 48, 48))],
)
def test_mtcnn_torch_networks_match_the_export(
    settings: Settings, mtcnn_artifact: Artifact, name: str, shape: tuple[int, ...]
) -> None:
    """1e-4: the export's own parity tolerance between torch and ONNX Runtime (float32)."""
    torch = pytest.importorskip("torch")
    from facert.pipeline.gpu_detect_torch import torch_nets

    try:
        net = torch_nets(settings.cache_dir, device="cpu")[name]
    except UsageError as exc:
        pytest.skip(str(exc))
    image = np.random.default_rng(1).uniform(-1, 1, shape).astype(np.float32)
    with net, engine_for(mtcnn_artifact.path(f"{name}.onnx"), threads=1) as reference:
        bound = net.bind_inputs({INPUT_NAME: shape})[INPUT_NAME]
        bound.copy_(torch.from_numpy(image))
        outputs = net.run_bound(None)
        expected = reference.run({INPUT_NAME: image})
        assert list(outputs) == list(expected)
        for key, array in expected.items():
            np.testing.assert_allclose(outputs[key].numpy(), array, atol=1e-4)
