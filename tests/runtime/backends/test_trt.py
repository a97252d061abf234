"""TrtEngine on a real plan (tests/tiny_trt.py, built here with TensorRT for RTX, which needs no GPU
to build). Without a GPU: open() refuses in one line and nothing crashes, in this process and in a
fresh one. On a GPU with a TensorRT that runs there (``gpu``/``trt`` markers): the plan's outputs
against ONNX Runtime's CPU provider on the float32 graph, batch 1..MAX_BATCH, CUDA graph replay,
device buffers in and out, and the refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tiny_trt import INPUT, MAX_BATCH, OUTPUT, SIZE, reference, tiny_faces, tiny_graph, tiny_plan

from facert.backends.cuda import driver_status
from facert.backends.trt import TrtEngine
from facert.backends.trt_plan import PlanFacts, get_flavour
from facert.errors import ArtifactError, FacertError, UnsupportedError, UsageError

PRESENT = driver_status().present
# The plan computes in float16 (strongly typed, from the float16 graph); the reference in float32.
# Outputs reach |4|, where float16's spacing is 0.004; two convolutions of 27 and 72 products
# accumulated in float16 add a few such steps: 0.03 absolute leaves room for that and no more.
ATOL = 0.03


@pytest.fixture(scope="module")
def rtx_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("tensorrt_rtx")
    return tiny_plan(tmp_path_factory.mktemp("trt") / "tiny.plan")


def test_the_gpu_modules_and_an_engine_import_neither_tensorrt_nor_cuda(rtx_plan: Path) -> None:
    code = (
        "import sys\n"
        "import facert.backends.cuda.graph, facert.backends.cuda.memory, facert.backends.ort_gpu\n"
        "from facert.backends.trt import TrtEngine\n"
        f"engine = TrtEngine({str(rtx_plan)!r}, cuda_graphs=True)\n"
        "print(sorted(m for m in sys.modules if m.startswith(('cuda', 'tensorrt'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.skipif(PRESENT, reason="a GPU is present")
def test_without_a_gpu_open_is_one_line_and_builds_no_runtime(rtx_plan: Path) -> None:
    engine = TrtEngine(rtx_plan)
    with pytest.raises(UnsupportedError) as caught:
        engine.open()
    assert str(caught.value) == (
        "the trt backend (TensorRT for RTX) needs an NVIDIA GPU: "
        "no NVIDIA driver (libcuda.so.1: No such file or directory)"
    )
    assert not engine.is_open
    engine.close()


def test_open_in_a_fresh_process_never_crashes(rtx_plan: Path) -> None:
    """Exit code 0 whatever the machine: the engine opens (a GPU TensorRT for RTX runs on) or
    refuses in one line (no GPU; a GPU it does not run on)."""
    code = (
        "import json, sys\n"
        "from facert.backends.trt import TrtEngine\n"
        "from facert.errors import FacertError\n"
        "try:\n"
        f"    with TrtEngine({str(rtx_plan)!r}) as engine:\n"
        "        result = {'opened': list(engine.inputs)}\n"
        "except FacertError as exc:\n"
        "    result = {'refused': str(exc)}\n"
        "result['heavy'] = sorted(m for m in sys.modules if m.startswith('tensorrt'))\n"
        "print(json.dumps(result))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if not PRESENT:  # the driver check came first: TensorRT was not even imported
        assert result["heavy"] == []
    if "refused" in result:
        assert "\n" not in result["refused"]
        assert ("needs an NVIDIA GPU" in result["refused"]) != PRESENT
    else:
        assert result["opened"] == [INPUT]


def test_the_logger_keeps_first_lines_of_errors_and_serves_a_builder() -> None:
    """The logger subclass works with the real module (no runtime built: a builder needs no GPU)."""
    trt = pytest.importorskip("tensorrt_rtx")
    from facert.backends.trt import tensorrt_logger

    logger = tensorrt_logger(trt)
    logger.log(trt.ILogger.ERROR, "plan is corrupt\ndetails")
    logger.log(trt.ILogger.INTERNAL_ERROR, "assertion failed")
    logger.log(trt.ILogger.WARNING, "not an error")
    assert logger.errors == ["plan is corrupt", "assertion failed"]
    assert trt.Builder(logger).create_builder_config() is not None


def test_an_unknown_flavour_is_refused_at_construction() -> None:
    with pytest.raises(UsageError, match="unknown TensorRT flavour 'rtx'"):
        TrtEngine(Path("x.plan"), flavour="rtx")


# On a GPU --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def device_plan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """(plan built by the flavour that runs here, the float32 graph, the flavour's name)."""
    from gpu_support import usable_flavour

    flavour, reason = usable_flavour()
    if flavour is None:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("trt-device")
    return (
        tiny_plan(folder / "tiny.plan", flavour.name),
        tiny_graph(folder / "tiny.onnx"),
        flavour.name,
    )


Plan = tuple[Path, Path, str]


@pytest.mark.gpu
@pytest.mark.trt
def test_outputs_match_onnx_runtime_cpu_at_every_batch(device_plan: Plan) -> None:
    plan, graph32, flavour = device_plan
    with TrtEngine(plan, flavour=flavour) as engine:
        assert engine.inputs[INPUT].shape == (None, 3, SIZE, SIZE)
        assert engine.inputs[INPUT].dtype == np.float16
        assert engine.outputs[OUTPUT].dtype == np.float16
        assert engine.profiles == {INPUT: ((1, 3, SIZE, SIZE), (MAX_BATCH, 3, SIZE, SIZE))}
        for batch in range(1, MAX_BATCH + 1):
            faces = tiny_faces(batch, seed=batch)
            out = engine.run({INPUT: faces})[OUTPUT]
            assert out.shape == (batch, 3, SIZE, SIZE) and out.dtype == np.float16
            np.testing.assert_allclose(out.astype(np.float32), reference(graph32, faces), atol=ATOL)


@pytest.mark.gpu
@pytest.mark.trt
def test_cuda_graph_replay_gives_the_plain_outputs(device_plan: Plan) -> None:
    """Exact: a replayed graph runs the kernels the plain execution queues, on the new inputs."""
    plan, _, flavour = device_plan
    with (
        TrtEngine(plan, flavour=flavour) as plain,
        TrtEngine(plan, flavour=flavour, cuda_graphs=True) as graphed,
    ):
        for round_ in range(2):
            for batch in (1, MAX_BATCH, 2):
                faces = tiny_faces(batch, seed=10 * round_ + batch)
                expected = plain.run({INPUT: faces})[OUTPUT]
                np.testing.assert_array_equal(graphed.run({INPUT: faces})[OUTPUT], expected)
        assert len(graphed._graphs) == 3


@pytest.mark.gpu
@pytest.mark.trt
@pytest.mark.parametrize("cuda_graphs", [False, True])
def test_device_buffers_in_and_out(device_plan: Plan, cuda_graphs: bool) -> None:
    from facert.backends.cuda.memory import DeviceBuffer, PinnedBuffer, Stream, copy_async

    plan, _, flavour = device_plan
    faces = tiny_faces(3, seed=5)
    with TrtEngine(plan, flavour=flavour, cuda_graphs=cuda_graphs) as engine, Stream() as stream:
        expected = engine.run({INPUT: faces})[OUTPUT]
        with DeviceBuffer(faces.nbytes) as device, PinnedBuffer(faces.nbytes) as host:
            host.array(faces.shape, faces.dtype)[...] = faces
            copy_async(device.pointer, host.pointer, faces.nbytes, stream)
            outputs = engine.run_device({INPUT: device.view(faces.shape, faces.dtype)}, stream)
            out = outputs[OUTPUT].__cuda_array_interface__
            assert out["shape"] == faces.shape and out["typestr"] == "<f2"
            copy_async(host.pointer, out["data"][0], faces.nbytes, stream)
            stream.synchronize()
            np.testing.assert_array_equal(host.array(faces.shape, faces.dtype), expected)


@pytest.mark.gpu
@pytest.mark.trt
@pytest.mark.parametrize("cuda_graphs", [False, True])
def test_the_binding_protocol_runs_on_the_engines_own_buffers(
    device_plan: Plan, cuda_graphs: bool
) -> None:
    from facert.backends.cuda.memory import PinnedBuffer, Stream, copy_async

    plan, _, flavour = device_plan
    with TrtEngine(plan, flavour=flavour, cuda_graphs=cuda_graphs) as engine, Stream() as stream:
        for batch in (2, MAX_BATCH, 2):
            faces = tiny_faces(batch, seed=batch)
            expected = engine.run({INPUT: faces})[OUTPUT]
            bound = engine.bind_inputs({INPUT: faces.shape})
            view = bound[INPUT].__cuda_array_interface__
            assert view["shape"] == faces.shape and view["typestr"] == "<f2"
            with PinnedBuffer(faces.nbytes) as host:
                host.array(faces.shape, faces.dtype)[...] = faces
                copy_async(view["data"][0], host.pointer, faces.nbytes, stream)
                out = engine.run_bound(stream)[OUTPUT].__cuda_array_interface__
                assert out["shape"] == faces.shape
                copy_async(host.pointer, out["data"][0], faces.nbytes, stream)
                stream.synchronize()
                np.testing.assert_array_equal(host.array(faces.shape, faces.dtype), expected)
        with pytest.raises(UsageError, match="the plan's profile allows"):
            engine.bind_inputs({INPUT: (MAX_BATCH + 1, 3, SIZE, SIZE)})


@pytest.mark.gpu
@pytest.mark.trt
def test_bad_feeds_are_one_line(device_plan: Plan) -> None:
    plan, _, flavour = device_plan
    with TrtEngine(plan, flavour=flavour) as engine:
        with pytest.raises(
            UsageError,
            match=r"has shape \[5, 3, 16, 16\], the plan's profile allows \[1, 3, 16, 16\] to \[4, 3, 16, 16\]",
        ):
            engine.run({INPUT: tiny_faces(MAX_BATCH + 1)})
        with pytest.raises(FacertError, match="must be float16, got float32"):
            engine.run({INPUT: tiny_faces(1, np.float32)})
        with pytest.raises(FacertError, match="must be a device buffer"):
            engine.run_device({INPUT: tiny_faces(1)})


@pytest.mark.gpu
@pytest.mark.trt
def test_foreign_and_corrupt_plans_are_refused(device_plan: Plan, tmp_path: Path) -> None:
    plan, _, flavour = device_plan
    old = PlanFacts(flavour, "0.0.1", model="tiny")
    with pytest.raises(
        ArtifactError,
        match=r"built with .* 0\.0\.1, .* is installed: rebuild it: `facert models build tiny --target",
    ):
        TrtEngine(plan, flavour=flavour, expected=old).open()
    corrupt = tmp_path / "corrupt.plan"
    corrupt.write_bytes(plan.read_bytes()[:1000])
    with pytest.raises(ArtifactError) as caught:
        TrtEngine(corrupt, flavour=flavour).open()
    assert "rebuild it" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.gpu
@pytest.mark.trt
def test_the_runtime_cache_is_written_on_close_and_read_back(
    device_plan: Plan, tmp_path: Path
) -> None:
    """TensorRT for RTX: the kernels compiled on the first open are kept in the cache file; a
    second engine reads it and computes the same outputs (exact: the same kernels)."""
    plan, _, flavour = device_plan
    if not get_flavour(flavour).has_runtime_cache:
        pytest.skip(f"{flavour} has no runtime cache")
    cache = tmp_path / "runtime.cache"
    faces = tiny_faces(2, seed=5)
    with TrtEngine(plan, flavour=flavour, runtime_cache=cache) as first:
        expected = first.run({INPUT: faces})[OUTPUT]
    assert cache.is_file() and cache.stat().st_size > 0
    with TrtEngine(plan, flavour=flavour, runtime_cache=cache) as second:
        np.testing.assert_array_equal(second.run({INPUT: faces})[OUTPUT], expected)
