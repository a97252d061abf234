"""PSFR-GAN's exporter: two checkpoint files, the restorer graphs, and ParseNet's own graph.

``sources`` are the spec's two files in its ``weights`` order: the generator
(``psfrgan_epoch15_net_G.pth``), then ParseNet (``parse_multi_iter_90000.pth``). Each is read with
``torch.load(weights_only=True)`` and checked against its network on the ``meta`` device before any
work, a wrong file refused in one line naming it.

``parsenet.onnx`` (FP32) is written and checked first: ONNX Runtime's logits vs PyTorch's within
the FP32 tolerance (1e-4 of their scale), batch rows = single runs; the pixels whose one-hot differs
between the two are counted. Then the restorer graphs, by the shared harness
(:func:`facert.export.harness.learned.export_learned_state`: ONNX Runtime FP32 vs the reference
within 1e-4, FP16 >= 40 dB, batch rows = single runs), with the reference PyTorch's FP32 generator on
the one-hot of ONNX Runtime's ParseNet logits: the one-hot is a discrete choice, and a logit gap of
a few float32 ulps (ONNX Runtime and PyTorch sum convolutions in different orders) flips a pixel's
class and moves the output there by up to 0.07 (measured on a full-size fill export, astronaut
face), which a max-abs check of the whole path cannot tell from a wrong graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facert.backends import engine_for
from facert.errors import ExportError
from facert.export.families.psfrgan.export import (
    PARSE,
    build_parsenet_export,
    merged_state,
    psfrgan_build,
    split_state,
)
from facert.export.families.psfrgan.export_layers import ParseNetExport
from facert.export.families.psfrgan.generator import (
    GeneratorConfig,
    load_generator,
    one_hot_of_max,
)
from facert.export.families.psfrgan.parsenet import ParseNetConfig
from facert.export.harness import checks
from facert.export.harness.checkpoint import load_state_dict
from facert.export.harness.learned import export_learned_state
from facert.export.harness.onnx import write_onnx
from facert.export.harness.source_check import LearnedExporter, check_state
from facert.export.precision.policy import FP32
from facert.models.registry import ModelSpec

PARSENET_FILE = "parsenet.onnx"
REFERENCE = (
    "PyTorch's FP32 generator on the one-hot of ONNX Runtime's ParseNet logits (parsenet.onnx, "
    "checked against PyTorch's logits under 'parsenet'), so a pixel whose class float32 rounding "
    "flips at a near-tie is not counted as a difference; the flips are counted there"
)
PARSING_OUTPUT = "parsing"


def load_sources(
    spec: ModelSpec,
    sources: Sequence[Path],
    parse_config: ParseNetConfig | None = None,
    generator_config: GeneratorConfig | None = None,
) -> dict[str, torch.Tensor]:
    """The generator and ParseNet files as one :func:`merged_state`, each file's keys and shapes
    checked against the networks (the official configurations by default; WeightsError naming
    the file that differs)."""
    if len(sources) != 2 or len(spec.weights) != 2:
        raise ExportError(
            f"{spec.name}: expected the generator and ParseNet files, got {len(sources)} file(s)"
        )
    generator = load_state_dict(sources[0], spec.weights[0])
    parse = load_state_dict(sources[1], spec.weights[1])
    check_state(generator, lambda state, _: load_generator(state, generator_config), sources[0])
    check_state(parse, lambda state, _: build_parsenet_export(state, parse_config), sources[1])
    return merged_state(parse, generator)


class PSFRGANExporter(LearnedExporter):
    """The exporter of the ``psfrgan`` spec (two files; three graphs). The configurations are the
    official ones unless given (tests export tiny networks); ``faces`` as for LearnedExporter."""

    def __init__(
        self,
        parse_config: ParseNetConfig | None = None,
        generator_config: GeneratorConfig | None = None,
        faces: Sequence[Path | checks.FaceImage] | None = None,
    ) -> None:
        super().__init__(lambda spec: psfrgan_build(spec, parse_config, generator_config), faces)
        self.parse_config, self.generator_config = parse_config, generator_config

    def __call__(
        self,
        spec: ModelSpec,
        sources: list[Path],
        workdir: Path,
        extra_faces: Sequence[Path] = (),
    ) -> dict[str, Any]:
        build = self.build_for(spec)  # refuses a size other than the networks' first
        state = load_sources(spec, sources, self.parse_config, self.generator_config)
        parse = build_parsenet_export(split_state(state, PARSE), self.parse_config)
        chosen = [*(self.faces or checks.default_faces()), *extra_faces]
        faces, names = checks.load_faces(spec, chosen, max(checks.BATCH, len(chosen)))
        parse_facts = write_parsenet(parse, faces, names, workdir / PARSENET_FILE)
        generator = build(state, FP32).generator.eval()
        with engine_for(workdir / PARSENET_FILE) as session:

            def reference_run(image: np.ndarray) -> np.ndarray:
                """PyTorch's generator on the one-hot of ONNX Runtime's ParseNet logits."""
                logits = torch.from_numpy(session.run({"image": image})[PARSING_OUTPUT])
                x = torch.from_numpy(image)
                with torch.no_grad():
                    return generator(x, one_hot_of_max(logits)).numpy()

            facts = export_learned_state(
                spec, state, sources[0], workdir, build, self.faces, extra_faces, reference_run
            )
        facts["parsenet"] = {**parse_facts, "source": sources[1].name}
        facts["parity"]["fp32_reference"] = REFERENCE
        return facts

    def check_sources(self, spec: ModelSpec, sources: list[Path]) -> None:
        """Refuse (one line naming the file) unless both files are PSFR-GAN's networks."""
        load_sources(spec, sources, self.parse_config, self.generator_config)


def write_parsenet(
    module: ParseNetExport, faces: np.ndarray, names: list[str], path: Path
) -> dict[str, Any]:
    """Write ParseNet's FP32 graph (``image`` -> ``parsing`` logits, batch dynamic) and check it:
    ONNX Runtime vs PyTorch and a batch vs single runs, within FP32_TOLERANCE x the logit scale."""
    write_onnx(
        module,
        [torch.from_numpy(faces[:1])],
        path,
        input_names=["image"],
        output_names=[PARSING_OUTPUT],
        dynamic_axes={"image": {0: "batch"}, PARSING_OUTPUT: {0: "batch"}},
    )
    with torch.no_grad():
        reference = np.concatenate([module(torch.from_numpy(f[None])).numpy() for f in faces])
    with engine_for(path) as session:
        run = lambda x: session.run({"image": x})[PARSING_OUTPUT]  # noqa: E731
        single, batch = checks.run_rows(run, faces), run(faces)
    parity = checks.check_close(
        "ParseNet ONNX Runtime FP32 vs PyTorch", reference, single, names, path
    )
    rows = checks.check_close(
        f"ParseNet FP32 batch of {len(names)} vs single runs", single, batch, names, path
    )
    flips = int((_one_hot(reference) != _one_hot(single)).any(axis=1).sum())
    return {
        "inputs": ["image"],
        "outputs": [PARSING_OUTPUT],
        "precision": "fp32",
        "output_scale": checks.output_scale(reference),
        "ort_fp32_vs_torch_max_abs": parity,
        "fp32_batch_vs_single_max_abs": rows,
        "ort_vs_torch_onehot_pixels_differing": flips,
    }


def _one_hot(logits: np.ndarray) -> np.ndarray:
    return logits == logits.max(axis=1, keepdims=True)


# The exporter of the psfrgan spec.
export_psfrgan = PSFRGANExporter()
