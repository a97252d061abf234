"""DFDNet's exporter: ``model.onnx`` (inputs ``image`` and ``boxes``), checked on real faces.

Sources: ``latest_net_G.pth``; the 16 dictionaries are read from ``DictionaryCenter512/`` beside
it (or, in the official folder tree ``checkpoints/facefh_dictionary/latest_net_G.pth``, at the
tree's root). Checks, on the harness's fixed aligned faces (and the user's extra ones) with their
part boxes from :func:`facert.stages.parts.part_boxes` (the method the runtime picks): ONNX Runtime
FP32 against the PyTorch export form, one face at a time, and a batch of all the faces against the
single runs, each within FP32_TOLERANCE x output scale. FP32 only (see the spec's notes).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facert.errors import WeightsError
from facert.export.families.dfdnet.dictionaries import (
    FOLDER,
    Dictionaries,
    cluster_counts,
    load_dictionaries,
)
from facert.export.families.dfdnet.export import WINDOWS_512, DFDNetExport, build_dfdnet_export
from facert.export.families.dfdnet.net import UNUSED_PREFIXES, official_shapes
from facert.export.harness import checks
from facert.export.harness.checkpoint import load_state_dict
from facert.export.harness.onnx import OPSET, write_onnx
from facert.export.harness.source_check import LearnedExporter, single_source
from facert.export.harness.verify import FP32_FILE, IMAGE_INPUT, OUTPUT
from facert.models.registry import ModelSpec
from facert.stages.align.warp import face_template
from facert.stages.parts import part_boxes, resolve_method

BOXES = "boxes"


def dictionary_folder(checkpoint: Path) -> Path:
    """``DictionaryCenter512`` beside ``checkpoint``, else at the root of the official tree."""
    beside = checkpoint.parent / FOLDER
    official = checkpoint.parent.parent.parent / FOLDER
    return official if not beside.is_dir() and official.is_dir() else beside


def check_files(
    spec: ModelSpec, sources: Sequence[Path]
) -> tuple[dict[str, torch.Tensor], Dictionaries]:
    """Refuse (one line naming the file) a checkpoint or dictionary that is not DFDNet's: every
    tensor the network uses must be there with its official shape; the official tensors it never
    uses (:data:`~.net.UNUSED_PREFIXES`) may be absent, and are checked when present. Returns the
    checkpoint's tensors and the dictionaries."""
    source = single_source(spec, sources)
    dictionaries = load_dictionaries(dictionary_folder(source))
    state = load_state_dict(source, spec.weights[0])
    expected = official_shapes()
    missing = [k for k in expected if k not in state and not k.startswith(UNUSED_PREFIXES)]
    wrong = [k for k in state if k in expected and tuple(state[k].shape) != expected[k]]
    extra = [k for k in state if k not in expected]
    problem = [
        f"{len(v)} {label}: {', '.join(v[:3])}"
        for label, v in (("missing", missing), ("wrong shape", wrong), ("unexpected", extra))
        if v
    ]
    if problem:
        raise WeightsError(
            f"keys do not match DFDNet's UNetDictFace: {'; '.join(problem)}", path=str(source)
        )
    return state, dictionaries


def check_faces(
    spec: ModelSpec, extra_faces: Sequence[Path]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The faces (N, 3, 512, 512) float32, their boxes (N, 4, 4) float32 and names."""
    chosen = [*checks.default_faces(), *extra_faces]
    faces, names = checks.load_faces(spec, chosen, count=len(chosen))
    crops = np.round((faces.transpose(0, 2, 3, 1)[..., ::-1] + 1) * 127.5).astype(np.uint8)
    five = np.repeat(face_template(512)[None].astype(np.float64), len(crops), axis=0)
    return faces, part_boxes(crops, five), names


def run_torch(module: DFDNetExport, faces: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return np.concatenate(
            [
                module(
                    torch.from_numpy(faces[i : i + 1]), torch.from_numpy(boxes[i : i + 1])
                ).numpy()
                for i in range(len(faces))
            ]
        )


def export_dfdnet(
    spec: ModelSpec, sources: list[Path], workdir: Path, extra_faces: Sequence[Path] = ()
) -> dict[str, Any]:
    """Write and check ``workdir/model.onnx``; return the manifest facts."""
    state, dictionaries = check_files(spec, sources)
    module = build_dfdnet_export(state, dictionaries, sources[0])
    faces, boxes, names = check_faces(spec, extra_faces)
    reference = run_torch(module, faces, boxes)
    path = workdir / FP32_FILE
    inputs = [IMAGE_INPUT, BOXES]
    write_onnx(
        module,
        [torch.from_numpy(faces[:1]), torch.from_numpy(boxes[:1])],
        path,
        input_names=inputs,
        output_names=[OUTPUT],
        dynamic_axes={name: {0: "batch"} for name in [*inputs, OUTPUT]},
    )
    from facert.backends import engine_for

    with engine_for(path) as engine:
        single = np.concatenate(
            [
                engine.run({IMAGE_INPUT: faces[i : i + 1], BOXES: boxes[i : i + 1]})[OUTPUT]
                for i in range(len(faces))
            ]
        )
        batch = engine.run({IMAGE_INPUT: faces, BOXES: boxes})[OUTPUT]
    parity = checks.check_close("ONNX Runtime FP32 vs PyTorch", reference, single, names, path)
    rows = checks.check_close(
        f"FP32 batch of {len(names)} vs single runs", single, batch, names, path
    )
    return {
        "opset": OPSET,
        "precision_policy": list(spec.precision_policy),
        "graph": {"inputs": inputs, "outputs": [OUTPUT], "dynamic_axes": {"batch": 0}},
        "onnx": {FP32_FILE: {"precision": "fp32", "io_dtype": "float32"}},
        "dictionaries": {
            "clusters": cluster_counts(dictionaries),
            "bytes": sum(int(d.nbytes) for d in dictionaries.values()),
        },
        "windows_512": dict(
            zip(("left_eye", "right_eye", "nose", "mouth"), WINDOWS_512, strict=True)
        ),
        "parity": checks.json_safe(
            {
                "faces": names,
                "boxes_method": resolve_method("auto"),
                "output_scale": checks.output_scale(reference),
                "ort_fp32_vs_torch_max_abs": parity,
                "fp32_batch_vs_single_max_abs": rows,
                "tolerances": {"fp32_max_abs": checks.FP32_TOLERANCE},
            }
        ),
    }


class DFDNetExporter(LearnedExporter):
    """The ``dfdnet`` exporter: :func:`export_dfdnet`, and the file checks before any work."""

    def __init__(self) -> None:
        super().__init__(lambda spec: build_dfdnet_export)  # type: ignore[arg-type]

    def __call__(
        self, spec: ModelSpec, sources: list[Path], workdir: Path, extra_faces: Sequence[Path] = ()
    ) -> dict[str, Any]:
        return export_dfdnet(spec, sources, workdir, extra_faces)

    def check_sources(self, spec: ModelSpec, sources: list[Path]) -> None:
        check_files(spec, sources)


export_dfdnet_model = DFDNetExporter()
