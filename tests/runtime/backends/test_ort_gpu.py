"""OrtGpuEngine: refused in one line naming facert[gpu] where the installed ONNX Runtime has no CUDA
provider (the lock's onnxruntime here); on a GPU with onnxruntime-gpu, the tiny graph against ONNX
Runtime's CPU provider, host and device feeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from tiny_trt import INPUT, OUTPUT, reference, tiny_faces, tiny_graph

from facert.backends.ort_gpu import OrtGpuEngine, gpu_providers, require_provider
from facert.errors import MissingDependencyError, UnsupportedError

HAS_CUDA_PROVIDER = "CUDAExecutionProvider" in ort.get_available_providers()


@pytest.fixture(scope="module")
def graph32(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("onnx")
    return tiny_graph(tmp_path_factory.mktemp("ort-gpu") / "tiny.onnx")


@pytest.mark.skipif(HAS_CUDA_PROVIDER, reason="this onnxruntime has the CUDA provider")
@pytest.mark.parametrize(("provider", "name"), [("cuda", "CUDA"), ("tensorrt", "Tensorrt")])
def test_without_the_provider_open_names_the_gpu_extra(
    graph32: Path, provider: str, name: str
) -> None:
    engine = OrtGpuEngine(graph32, provider=provider)  # type: ignore[arg-type]
    with pytest.raises(MissingDependencyError) as caught:
        engine.open()
    message = str(caught.value)
    assert message.startswith(f"the ort-gpu backend needs ONNX Runtime's {name}ExecutionProvider;")
    assert (
        f"onnxruntime {ort.__version__} offers {', '.join(ort.get_available_providers())}:"
        in message
    )
    assert message.endswith("pip install 'facert[gpu]' (onnxruntime-gpu replaces it)")
    assert "\n" not in message
    assert not engine.is_open
    with pytest.raises(MissingDependencyError):
        require_provider(provider)


def test_unknown_providers_are_refused() -> None:
    with pytest.raises(
        UnsupportedError, match=r"ort-gpu provider 'rocm': expected one of \['cuda', 'tensorrt'\]"
    ):
        OrtGpuEngine(Path("x.onnx"), provider="rocm")  # type: ignore[arg-type]


def test_the_tensorrt_provider_falls_back_to_cuda_on_the_same_device() -> None:
    providers = gpu_providers("tensorrt", 1)
    assert providers == [
        ("TensorrtExecutionProvider", {"device_id": 1}),
        ("CUDAExecutionProvider", {"device_id": 1}),
    ]
    cached = gpu_providers("tensorrt", 0, Path("/c"))[0][1]
    assert cached == {
        "device_id": 0,
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": "/c",
    }
    assert gpu_providers("cuda", 0) == [("CUDAExecutionProvider", {"device_id": 0})]


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA_PROVIDER, reason="not run: onnxruntime-gpu is not installed")
def test_cuda_provider_matches_the_cpu_provider(graph32: Path) -> None:
    """float32 on both; cuDNN may pick other algorithms (TF32 off in ONNX Runtime by default):
    1e-4 absolute on outputs up to |4| is float32 rounding over 99-term sums, with margin."""
    from facert.backends.cuda.memory import DeviceBuffer, PinnedBuffer, Stream, copy_async

    faces = tiny_faces(3, np.float32, seed=3)
    expected = reference(graph32, faces)
    with OrtGpuEngine(graph32, provider="cuda") as engine:
        out = engine.run({INPUT: faces})[OUTPUT]
        np.testing.assert_allclose(out, expected, atol=1e-4)
        with (
            Stream() as stream,
            DeviceBuffer(faces.nbytes) as device,
            PinnedBuffer(faces.nbytes) as host,
        ):
            host.array(faces.shape, faces.dtype)[...] = faces
            copy_async(device.pointer, host.pointer, faces.nbytes, stream)
            result = engine.run_device({INPUT: device.view(faces.shape, faces.dtype)}, stream)
            interface = result[OUTPUT].__cuda_array_interface__
            assert interface["shape"] == faces.shape
            copy_async(host.pointer, interface["data"][0], faces.nbytes, stream)
            stream.synchronize()
            np.testing.assert_array_equal(host.array(faces.shape, faces.dtype), out)
