"""The exporter of the ``parsenet`` spec: facexlib's ``parsing_parsenet.pth`` as ``parsenet.onnx``.

One checkpoint (a plain state dict; PSFR-GAN's ``parse_multi_iter_90000.pth`` has the same keys),
read with ``torch.load(weights_only=True)`` and checked against the port on the ``meta`` device
before any work (a wrong file refused in one line naming it). The graph and its checks are
PSFR-GAN's own ParseNet graph (:func:`facert.export.families.psfrgan.exporter.write_parsenet`):
``image`` (N, 3, S, S) RGB [-1, 1] -> ``parsing`` logits (N, 19, S, S), FP32, batch dynamic;
ONNX Runtime vs PyTorch and a batch vs single runs within 1e-4 of the logits' scale, on the
harness's fixed check faces; the pixels whose class differs between the two are counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from facert.errors import ExportError
from facert.export.families.psfrgan.export import build_parsenet_export
from facert.export.families.psfrgan.exporter import write_parsenet
from facert.export.families.psfrgan.parsenet import ParseNetConfig
from facert.export.harness import checks
from facert.export.harness.checkpoint import load_state_dict
from facert.export.harness.onnx import OPSET
from facert.export.harness.source_check import check_checkpoint, check_state, single_source
from facert.export.precision.policy import Precision
from facert.models.registry import ModelSpec


class ParseNetExporter:
    """The exporter of the ``parsenet`` spec; ``config`` the official ParseNet's unless given
    (tests export a tiny one), ``faces`` the harness's fixed check faces unless given."""

    def __init__(
        self,
        config: ParseNetConfig | None = None,
        faces: Sequence[Path | checks.FaceImage] | None = None,
    ) -> None:
        self.config, self.faces = config or ParseNetConfig(), faces

    def build(self, spec: ModelSpec) -> Any:
        """The build ``check_checkpoint`` runs on the meta device (ParseNet's export form)."""
        if spec.input_size != self.config.in_size:
            raise ExportError(
                f"{spec.name}: this ParseNet is {self.config.in_size}, not {spec.input_size}"
            )

        def build(state: Mapping[str, torch.Tensor], precision: Precision) -> torch.nn.Module:
            return build_parsenet_export(state, self.config)

        return build

    def __call__(self, spec: ModelSpec, sources: list[Path], workdir: Path) -> dict[str, Any]:
        source = single_source(spec, sources)
        state = load_state_dict(source, spec.weights[0])  # read once: checked, then exported
        check_state(state, self.build(spec), source)
        module = build_parsenet_export(state, self.config)
        chosen = list(self.faces or checks.default_faces())
        faces, names = checks.load_faces(spec, chosen, max(checks.BATCH, len(chosen)))
        facts = write_parsenet(module, faces, names, workdir / spec.onnx_files[0])
        return {
            "opset": OPSET,
            "precision_policy": list(spec.precision_policy),
            "graph": {"inputs": facts.pop("inputs"), "outputs": facts.pop("outputs")},
            "parity": {**facts, "faces": names, "source": source.name},
        }

    def check_sources(self, spec: ModelSpec, sources: list[Path]) -> None:
        """Refuse ``sources`` (one line, naming the file) unless it is a ParseNet checkpoint."""
        check_checkpoint(spec, single_source(spec, sources), self.build(spec))


export_parsenet = ParseNetExporter()
