"""ONNX Runtime optimized models: the first compiled artifact kind ("ort-optimized").

ONNX Runtime rewrites a graph when it loads it (constant folding, fused convolutions, and on CPUs
NCHWc layouts blocked for the CPU's vector width) and can save the result
(``SessionOptions.optimized_model_filepath``). The saved file is tied to the ONNX Runtime version
(its contrib operators) and, at ``ORT_ENABLE_ALL``, to the CPU it was built on; ONNX Runtime says
so itself when it writes one. It is still an ONNX file, loaded by
:class:`facert.backends.ort.OrtSession` like the graph it came from; loading it skips the
optimisation work. It keeps the graph's precision and its dynamic batch.
"""

from __future__ import annotations

from pathlib import Path

from facert.backends.device import CpuTarget
from facert.errors import ArtifactError, UsageError


class OrtOptimizer(CpuTarget):
    """The :class:`facert.models.compiling.Compiler` of ONNX Runtime's CPU optimized models."""

    kind = "ort-optimized"
    backend = "onnxruntime"
    filename = "model.optimized.onnx"
    converts_precision = False

    def version(self) -> str:
        import onnxruntime as ort

        return str(ort.__version__)

    def compile(
        self, source: Path, target: Path, precision: str, batch_profile: tuple[int, int, int] | None
    ) -> None:
        """Load ``source`` with every CPU optimisation on and save the optimized graph to ``target``."""
        if batch_profile is not None:
            raise UsageError(f"{self.kind} artifacts keep the graph's dynamic batch: no profile")
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.optimized_model_filepath = str(target)
        options.log_severity_level = (
            3  # its "hardware specific" warning is why the key has a device
        )
        try:
            ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph/NoSuchFile types
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ArtifactError(
                f"ONNX Runtime cannot optimize it ({first_line})", path=str(source)
            ) from None
        if not target.is_file():
            raise ArtifactError("ONNX Runtime wrote no optimized model", path=str(target))
