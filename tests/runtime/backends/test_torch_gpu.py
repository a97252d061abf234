"""The torch backend (TorchEngine): the export-form module rebuilt from an export, checked against
ONNX Runtime on the same export on the CPU (``device="cpu"``, float32, eager: the tests-only mode),
its names and shapes, the device-binding protocol and its errors; on a GPU (``gpu`` marked, skipped
here) FP16 against FP32 and CUDA graph replay against eager runs.

Tolerances: float32 module vs ONNX Runtime FP32 graph, 1e-4 x the output scale
(:data:`facert.export.harness.checks.FP32_TOLERANCE`, what the export itself checks between the two);
ISPL's 1e-3 (:data:`facert.export.families.weightfree.export.PARITY_TOLERANCE`, its export's own);
FP16 on a GPU against FP32: 40 dB PSNR (the export's FP16 check).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tiny_families import FAMILIES, RECIPES  # noqa: E402
from torch_state import one_thread  # noqa: E402

from facert.backends.ort import OrtSession  # noqa: E402
from facert.backends.torch_forms import build_module, import_torch, module_source  # noqa: E402
from facert.backends.torch_gpu import TorchEngine, torch_unavailable  # noqa: E402
from facert.errors import (  # noqa: E402
    ArtifactError,
    FacertError,
    MissingDependencyError,
    UsageError,
    WeightsError,
)
from facert.export.harness.checks import FP32_TOLERANCE, output_scale  # noqa: E402
from facert.models.artifacts import FP32_GRAPH, Artifact, find_artifact  # noqa: E402
from facert.models.registry import get_spec  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
TinyLearned = Callable[[str], Artifact]


def tiny_engine(artifact: Artifact, family: str, **options: object) -> TorchEngine:
    """The TorchEngine of a tiny export (its checkpoint, its tiny build); cpu fp32 by default."""
    source = module_source(artifact, weights=artifact.folder / "tiny.pth", build=RECIPES[family][3])
    settings = {"device": "cpu", "precision": "fp32", **options}
    return TorchEngine(source, **settings)  # type: ignore[arg-type]


def feed_for(
    engine: TorchEngine, batch: int, seed: int = 0, low: float = -1.0
) -> dict[str, np.ndarray]:
    """Random faces in [``low``, 1] and every option at its default, float32."""
    rng = np.random.default_rng(seed)
    spec = engine.source.spec
    feed = {}
    for name, info in engine.inputs.items():
        shape = (batch, *info.shape[1:])
        if name == "image":
            feed[name] = rng.uniform(low, 1, shape).astype(np.float32)
        else:
            feed[name] = np.full(shape, spec.option(name).default, np.float32)
    return feed


@pytest.mark.parametrize("family", FAMILIES)
def test_the_module_gives_what_onnx_runtime_gives_on_the_same_export(
    family: str, tiny_learned: TinyLearned
) -> None:
    artifact = tiny_learned(family)
    with one_thread(), tiny_engine(artifact, family) as engine:
        with OrtSession(artifact.path(FP32_GRAPH)) as session:
            assert engine.inputs == session.inputs  # names, order, shapes, dtypes
            assert list(engine.outputs) == list(session.outputs)  # ORT's shapes may be symbolic
            feed = feed_for(engine, 2)
            expected = session.run(feed)["restored"]
        restored = engine.run(feed)["restored"]
    assert restored.dtype == np.float32 and restored.shape == expected.shape
    assert np.abs(restored - expected).max() <= FP32_TOLERANCE * output_scale(expected)


def test_a_restorer_runs_on_the_torch_engine_as_on_onnx_runtime(tiny_learned: TinyLearned) -> None:
    """The Restorer's own checks accept the engine, and the restored uint8 crops are those of
    ONNX Runtime within one level (float32 rounding may move a value across a .5)."""
    from facert.stages.restore.restorer import Restorer

    artifact = tiny_learned("codeformer")
    size = artifact.spec.input_size
    crops = np.random.default_rng(2).integers(0, 256, (3, size, size, 3), dtype=np.uint8)
    restored = {}
    with one_thread():
        for label, engine in (
            ("ort", OrtSession(artifact.path(FP32_GRAPH))),
            ("torch", tiny_engine(artifact, "codeformer")),
        ):
            with Restorer(artifact, engine) as restorer:
                restored[label] = restorer.restore(crops).astype(np.int16)
    assert np.abs(restored["ort"] - restored["torch"]).max() <= 1


def test_ispl_is_built_weight_free_from_its_structure(settings) -> None:
    artifact = find_artifact(settings.cache_dir, get_spec("ispl"))
    source = module_source(artifact)
    assert source.checkpoint is None and source.structure == artifact.manifest["structure"]
    with TorchEngine(source, device="cpu", precision="fp32") as engine:
        with OrtSession(artifact.path(FP32_GRAPH)) as session:
            assert engine.inputs == session.inputs
            feed = feed_for(engine, 1, low=0.0)  # ISPL's range is [0, 1]
            expected = session.run(feed)["restored"]
        assert np.abs(engine.run(feed)["restored"] - expected).max() <= 1e-3
    with pytest.raises(UsageError, match="ispl is built in FP32 only"):
        TorchEngine(source, precision="fp16", device="cuda")


def test_a_weight_free_export_of_another_structure_is_refused(settings) -> None:
    artifact = find_artifact(settings.cache_dir, get_spec("ispl"))
    manifest = {
        **artifact.manifest,
        "structure": {**artifact.manifest["structure"], "wavelet": "db2"},
    }
    source = module_source(dataclasses.replace(artifact, manifest=manifest))
    with pytest.raises(ArtifactError, match=r"exported with structure .*facert models export ispl"):
        TorchEngine(source, device="cpu", precision="fp32").open()


def test_a_checkpoint_that_did_not_build_the_export_is_refused(tiny_learned: TinyLearned) -> None:
    artifact = tiny_learned("gfpgan")
    other = dataclasses.replace(
        artifact, manifest={**artifact.manifest, "source": {"sha256": "0" * 64}}
    )
    with pytest.raises(WeightsError, match=r"tiny.pth: not the checkpoint this export was built"):
        module_source(other, weights=artifact.folder / "tiny.pth")
    with pytest.raises(WeightsError, match=r"made from \(sha256 0000000000000000...\), which"):
        module_source(other, cache_dir=artifact.folder / "empty-cache")


def test_the_binding_protocol_on_the_cpu(tiny_learned: TinyLearned) -> None:
    artifact = tiny_learned("codeformer")  # an image and an option (fidelity)
    with one_thread(), tiny_engine(artifact, "codeformer") as engine:
        feed = feed_for(engine, 3)
        shapes = {name: array.shape for name, array in feed.items()}
        with pytest.raises(UsageError, match="run_bound before bind_inputs"):
            engine.run_bound()
        views = engine.bind_inputs(shapes)
        assert {n: (v.shape, v.dtype) for n, v in views.items()} == {
            n: (a.shape, a.dtype) for n, a in feed.items()
        }
        for name, array in feed.items():
            views[name][...] = array
        bound = engine.run_bound()["restored"].copy()
        assert np.array_equal(bound, engine.run(feed)["restored"])
        assert engine.bind_inputs(shapes)["image"] is not None  # the same tensors again
        assert np.shares_memory(engine.bind_inputs(shapes)["image"], views["image"])
        size = artifact.spec.input_size
        with pytest.raises(FacertError, match=r"inputs expected \['fidelity', 'image'\]"):
            engine.bind_inputs({"image": (1, 3, size, size)})
        with pytest.raises(FacertError, match=r"'image' must have shape \['batch', 3, "):
            engine.bind_inputs({**shapes, "image": (3, 3, size + 1, size)})
        with pytest.raises(FacertError, match="the same batch size >= 1"):
            engine.bind_inputs({**shapes, "fidelity": (2,)})
        with pytest.raises(UsageError, match="run_device needs the cuda device"):
            engine.run_device(feed)
    with pytest.raises(RuntimeError, match="not open"):
        engine.bind_inputs(shapes)


def test_an_fp16_build_keeps_the_pinned_ops_in_float32(tiny_learned: TinyLearned) -> None:
    """GFPGAN's precision policy pins the style modulations: the FP16 module the engine runs
    holds them in float32, everything else in float16 (built on the CPU, not run)."""
    from facert.export.families.stylegan2.export import StaticModulatedConv
    from facert.export.precision.policy import FP16

    artifact = tiny_learned("gfpgan")
    source = module_source(
        artifact, weights=artifact.folder / "tiny.pth", build=RECIPES["gfpgan"][3]
    )
    module = build_module(source, FP16)
    pinned = {
        id(p)
        for m in module.modules()
        if isinstance(m, StaticModulatedConv)
        for p in m.modulation.parameters()
    }
    assert pinned and all(
        p.dtype == (torch.float32 if id(p) in pinned else torch.float16)
        for p in module.parameters()
    )


def test_choices_the_engine_refuses_in_one_line(tiny_learned: TinyLearned) -> None:
    source = module_source(
        tiny_learned("gfpgan"), weights=tiny_learned("gfpgan").folder / "tiny.pth"
    )
    with pytest.raises(UsageError, match="cpu device .* runs fp32 only"):
        TorchEngine(source, device="cpu")
    with pytest.raises(UsageError, match="runs fp16 or fp32, not int8"):
        TorchEngine(source, precision="int8")


def test_a_restorer_at_fp16_on_the_torch_backend_is_not_handed_to_onnx_runtime(
    tiny_learned: TinyLearned, tmp_path: Path
) -> None:
    """``--backend torch --precision fp16`` is the torch backend's FP16 (here: refused, no GPU),
    never ONNX Runtime running the export's FP16 graph on the CPU."""
    from facert.backends.cuda import driver_status
    from facert.stages.restore.restorer import Restorer

    if driver_status().present:
        pytest.skip("this machine has an NVIDIA GPU")
    with pytest.raises(UsageError, match=r"cannot run torch fp16: no NVIDIA GPU \("):
        Restorer.from_artifact(
            tiny_learned("gfpgan"), backend="torch", precision="fp16", cache_dir=tmp_path
        )


def test_without_torch_the_backend_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # as if it were not installed
    with pytest.raises(MissingDependencyError, match=r"pip install 'facert\[export\]'"):
        import_torch()


def test_a_cpu_build_of_torch_says_so() -> None:
    if torch.cuda.is_available():
        pytest.skip("this torch has CUDA")
    why = torch_unavailable()
    assert why is not None and why.startswith(f"PyTorch {torch.__version__} has no CUDA")


def test_enhance_backend_torch_without_a_gpu_refuses_without_importing_torch(
    tmp_path: Path,
) -> None:
    """The CPU path never imports torch: a fresh interpreter runs ``facert enhance --backend
    torch`` to its one-line refusal and then reports whether torch got imported."""
    from facert.backends.cuda import driver_status

    if driver_status().present:
        pytest.skip("this machine has an NVIDIA GPU")
    from cli_runs import one_face_photo

    photo = one_face_photo(tmp_path / "p.png")
    script = (
        "import sys\nfrom facert.cli.main import main\n"
        f"code = main(['enhance', {str(photo)!r}, '-o', {str(tmp_path / 'out')!r}, "
        "'--backend', 'torch'])\n"
        "print(code, 'torch' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.stdout.split() == ["2", "False"], done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("facert: error: cannot run torch fp32: no NVIDIA GPU (")


# -- on a GPU ------------------------------------------------------------------------------------


@pytest.mark.gpu
def test_fp16_on_the_gpu_is_within_40_db_of_fp32(tiny_learned: TinyLearned) -> None:
    from tiny_export import FACES

    from facert.demo.metrics import psnr
    from facert.models.check_faces import load_faces, peak_to_peak

    artifact = tiny_learned("gfpgan")
    faces, _ = load_faces(artifact.spec, FACES, 4)  # the export's own FP16 check faces
    outputs = {}
    for precision in ("fp32", "fp16"):
        with tiny_engine(artifact, "gfpgan", device="cuda", precision=precision) as engine:
            outputs[precision] = engine.run({"image": faces})["restored"]
    reference = outputs["fp32"]
    for ref, out in zip(reference, outputs["fp16"], strict=True):
        assert np.isfinite(out).all() and psnr(ref, out, peak_to_peak(artifact.spec, ref)) >= 40


@pytest.mark.gpu
def test_cuda_graph_replay_equals_eager_runs_and_streams_interoperate(
    tiny_learned: TinyLearned,
) -> None:
    """Graph replay vs the same module run eagerly: within 1e-3 x scale (the same kernels; cuDNN
    may pick another algorithm for the capture); the bound path and run_device on facert's own
    Stream and DeviceBuffer give the host run's result."""
    from facert.backends.cuda.memory import DeviceBuffer, Stream

    artifact = tiny_learned("gfpgan")
    with tiny_engine(artifact, "gfpgan", device="cuda", precision="fp16") as graphs:
        with tiny_engine(
            artifact, "gfpgan", device="cuda", precision="fp16", cuda_graphs=False
        ) as eager:
            for batch in (1, 4, 1):
                feed = feed_for(graphs, batch, seed=batch)
                expected = eager.run(feed)["restored"]
                replayed = graphs.run(feed)["restored"]
                assert np.abs(replayed - expected).max() <= 1e-3 * output_scale(expected)
        image = feed["image"]
        with Stream() as stream, DeviceBuffer(image.nbytes) as buffer:
            views = graphs.bind_inputs({"image": image.shape})
            assert hasattr(views["image"], "__cuda_array_interface__")
            views["image"].copy_(torch.from_numpy(image))
            torch.cuda.synchronize()  # written before ``stream`` reads it
            bound = graphs.run_bound(stream)["restored"]
            stream.synchronize()
            same = 1e-3 * output_scale(replayed)  # the same graph on the same input
            assert np.abs(bound.cpu().numpy() - replayed).max() <= same
            torch.as_tensor(buffer.view(image.shape, np.float32), device="cuda").copy_(
                torch.from_numpy(image)
            )
            torch.cuda.synchronize()
            out = graphs.run_device({"image": buffer.view(image.shape, np.float32)}, stream)
            stream.synchronize()
            assert np.abs(out["restored"].cpu().numpy() - replayed).max() <= same
