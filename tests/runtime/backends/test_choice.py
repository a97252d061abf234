"""The engine choice: the accuracy gate refuses a broken precision, ``--backend auto`` measures once
per machine and caches its choice, never picks a precision the user ruled out, and falls back to
ONNX Runtime FP32 when OpenVINO is not installed."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from testdata import TESTS

from facert.backends.choice import ORT_FP32, Chooser, Plan, check_choice, open_plan
from facert.backends.ort import OrtSession
from facert.errors import GateError, UsageError
from facert.models.artifacts import FP32_GRAPH, Artifact
from facert.models.compiling import compile_graph, compiled_key

onnx = pytest.importorskip("onnx")


class CoarseWeights:
    """A deliberately broken precision: the FP32 graph with every weight rounded to one
    significant bit (a real compiled artifact, run by ONNX Runtime)."""

    kind = "test-coarse"
    backend = "onnxruntime"
    filename = "model.coarse.onnx"
    converts_precision = True

    def version(self) -> str:
        return "1"

    def device(self) -> str:
        return "any"

    def device_description(self) -> str:
        return "any"

    def compile(
        self, source: Path, target: Path, precision: str, batch_profile: tuple[int, int, int] | None
    ) -> None:
        from onnx import numpy_helper

        model = onnx.load(str(source))
        for index, tensor in enumerate(model.graph.initializer):
            array = numpy_helper.to_array(tensor)
            if array.dtype == np.float32 and array.size > 1:
                exponent = np.floor(np.log2(np.maximum(np.abs(array), 1e-30)))
                coarse = (np.sign(array) * 2.0**exponent).astype(np.float32)
                model.graph.initializer[index].CopyFrom(
                    numpy_helper.from_array(coarse, tensor.name)
                )
        onnx.save(model, str(target))


def test_the_gate_refuses_a_broken_precision_in_one_line(
    tiny_learned: Callable[[str], Artifact], tmp_path: Path
) -> None:
    export = tiny_learned("gfpgan")
    chooser = Chooser(tmp_path, export, threads=2)
    compiler = CoarseWeights()
    key = compiled_key(export, FP32_GRAPH, compiler, precision="int8")
    artifact = compile_graph(
        tmp_path,
        export,
        key,
        compiler,
        check=lambda target: chooser.gate(OrtSession(target, threads=2)),
    )
    gate = artifact.manifest["gate"]
    assert not gate["passed"] and float(gate["min_psnr_db"]) < 40.0  # kept, with its numbers
    from facert.backends.choice import _passed

    with pytest.raises(GateError, match=r"refused by the accuracy gate: .* dB < 40 dB") as caught:
        _passed(artifact)
    assert "\n" not in str(caught.value)


def test_auto_measures_once_and_caches_its_choice(
    tiny_learned: Callable[[str], Artifact], tmp_path: Path
) -> None:
    lines: list[str] = []
    export = tiny_learned("gpen")
    chooser = Chooser(tmp_path, export, threads=2, report=lines.append)
    plans, skipped = chooser.candidates()
    chosen = chooser.choose()
    assert any("choosing the fastest CPU engine" in line for line in lines)
    record = json.loads(chooser.choice_path(plans).read_text())
    assert record["chosen"] == str(chosen) and record["skipped"] == skipped
    timed = {row["plan"]: row for row in record["measured"]}
    assert set(timed) == {str(p) for p in plans} and "ms" in timed[str(ORT_FP32)]
    if chosen != ORT_FP32:  # never slower than ONNX Runtime FP32, by a margin above noise
        assert timed[str(chosen)]["ms"] * 1.1 <= timed[str(ORT_FP32)]["ms"]
    lines.clear()
    again = Chooser(tmp_path, export, threads=2, report=lines.append)
    assert again.choose() == chosen and lines == []  # read from the cache: nothing measured


def test_auto_never_considers_a_precision_the_user_ruled_out(
    tiny_learned: Callable[[str], Artifact], tmp_path: Path
) -> None:
    chooser = Chooser(tmp_path, tiny_learned("gfpgan"), threads=2)
    plans, skipped = chooser.candidates("fp32")
    assert {p.precision for p in plans} == {"fp32"} and ORT_FP32 in plans
    assert all(why == "--precision fp32" for plan, why in skipped.items() if "fp32" not in plan)
    assert chooser.choose("fp32").precision == "fp32"


def test_weight_free_restorers_stay_on_onnx_runtime_fp32_without_measuring(
    settings: object, tmp_path: Path
) -> None:
    from facert.models.exporting import ensure_artifact
    from facert.models.registry import get_spec

    export = ensure_artifact(get_spec("ispl"), settings.cache_dir)  # type: ignore[attr-defined]
    lines: list[str] = []
    engine, plan = open_plan(tmp_path, export, "auto", "auto", report=lines.append)
    assert plan == ORT_FP32 and isinstance(engine, OrtSession) and lines == []
    assert not (tmp_path / "ispl").exists()  # nothing built, nothing cached


def test_impossible_pairs_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="ONNX Runtime has no BF16"):
        check_choice("ort", "bf16")
    with pytest.raises(UsageError, match="--backend ort --precision fp16"):
        check_choice("openvino", "fp16")
    with pytest.raises(UsageError, match="--backend must be one of"):
        check_choice("tensorrt", "fp32")
    assert Plan.parse("openvino bf16") == Plan("openvino", "bf16")


BLOCKED = """
import sys
sys.modules["openvino"] = None  # as if not installed: importing it raises ImportError
sys.modules["onnx"] = None
sys.path.insert(0, {tests!r})
from pathlib import Path
from pinned_spec import pinned_spec
from facert.backends.choice import Chooser
from facert.io.files import sha256_of
from facert.models.artifacts import Artifact
folder = Path({folder!r})
spec = pinned_spec("gfpgan-1.4", folder / "tiny.pth", input_size={size})
files = {{"model.onnx": {{"sha256": sha256_of(folder / "model.onnx")}}}}
chooser = Chooser(Path({cache!r}), Artifact(spec, folder, {{"files": files}}))
print(chooser.choose())
print(chooser.candidates()[1])
"""


def test_auto_picks_onnx_runtime_fp32_when_openvino_is_not_installed(
    tiny_learned: Callable[[str], Artifact], tmp_path: Path
) -> None:
    export = tiny_learned("gfpgan")
    script = BLOCKED.format(
        tests=str(TESTS),
        folder=str(export.folder),
        size=export.spec.input_size,
        cache=str(tmp_path),
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    chosen, skipped = done.stdout.splitlines()
    assert chosen == "ort fp32" and "openvino is not installed" in skipped
    assert not any(tmp_path.iterdir())  # nothing measured, nothing cached


def test_an_int8_plan_runs_only_after_passing_the_gate(
    tiny_learned: Callable[[str], Artifact], tmp_path: Path
) -> None:
    """``--backend ort --precision int8``: the quantized graph if it passed the gate; else one
    warning line and ONNX Runtime FP32. (The tiny GFPGAN's fill loses 38.6 dB to INT8, measured:
    refused, so the fallback runs here; with weights that pass, the INT8 graph runs.)"""
    export = tiny_learned("gfpgan")
    lines: list[str] = []
    engine, plan = open_plan(tmp_path, export, "ort", "int8", 2, lines.append)
    artifact = Chooser(tmp_path, export).int8_artifact()  # cached by the call above
    gate = artifact.manifest["gate"]
    assert isinstance(engine, OrtSession)
    if gate["passed"]:
        assert plan == Plan("ort", "int8") and engine.path == artifact.path
    else:
        assert plan == ORT_FP32 and engine.path == export.path(FP32_GRAPH)
        warning = lines[-1]
        assert "refused by the accuracy gate" in warning and warning.endswith("running ort fp32")
        assert "\n" not in warning
