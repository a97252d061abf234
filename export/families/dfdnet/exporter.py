"""DFDNet's exporter: ``model.onnx`` (inputs ``image`` and ``boxes``), checked on real faces.

Sources: ``latest_net_G.pth``; the 16 dictionaries are read from ``DictionaryCenter512/`` beside
it (or, in the official folder tree ``checkpoints/facefh_dictionary/latest_net_G.pth``, at the
tree's root). Checks, on the harness's fixed aligned faces (and the user's extra ones) with their
part boxes from :func:`facert.stages.parts.part_boxes` (the method the runtime picks): ONNX Runtime
FP32 against the PyTorch export form, one face at a time, and a batch of all the faces against the
single runs, each within FP32_TOLERANCE x output scale (a failure raises ExportError).

Then ``model.fp16.onnx``, the dictionary step pinned FP32, and its checks (:mod:`.precision`): as
the other families, an FP16 graph that fails them is refused alone (file removed, one warning
line, ``fp16_refused`` in the manifest says why) and the runtime runs the FP32 graph. OpenVINO's
BF16 plan keeps the FP16 graph's pinned ops f32 and is gated at run time (>= 40 dB).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facert.errors import ExportError, WeightsError
from facert.export.families.dfdnet.dictionaries import (
    FOLDER,
    Dictionaries,
    cluster_counts,
    load_dictionaries,
)
from facert.export.families.dfdnet.export import WINDOWS_512, DFDNetExport, build_dfdnet_export
from facert.export.families.dfdnet.net import UNUSED_PREFIXES, official_shapes
from facert.export.families.dfdnet.precision import (
    Checked,
    run_recording,
    single_runs,
    torch_fp16_proof,
    verify_fp16_graph,
)
from facert.export.harness import checks
from facert.export.harness.checkpoint import load_state_dict
from facert.export.harness.learned import TOLERANCES, trace_graph
from facert.export.harness.onnx import OPSET, remove_graph
from facert.export.harness.source_check import LearnedExporter, single_source
from facert.export.harness.verify import FP16_FILE, FP32_FILE, IMAGE_INPUT, OUTPUT
from facert.export.precision.policy import FP16_STAGED
from facert.models.registry import ModelSpec
from facert.stages.align.warp import face_template
from facert.stages.parts import part_boxes, resolve_method

BOXES = "boxes"
INPUTS = [IMAGE_INPUT, BOXES]
log = logging.getLogger(__name__)


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


def write_graph(module: DFDNetExport, checked: Checked, path: Path) -> None:
    """Trace ``module`` (FP32 or FP16_STAGED) on the first face into ``path``, batch dynamic
    (with an external data file past the harness's threshold); FP16_FILE gets demoted."""
    trace_graph(module, [checked.faces[:1], checked.boxes[:1]], INPUTS, path)


def ort_run(path: Path) -> Any:
    """An open engine on ``path`` and ``run(faces, boxes) -> restored`` float32 on it."""
    from facert.backends import engine_for

    engine = engine_for(path)

    def run(faces: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        return engine.run({IMAGE_INPUT: faces, BOXES: boxes})[OUTPUT].astype(np.float32)

    return engine, run


def fp16_graph(
    checked: Checked,
    state: Mapping[str, torch.Tensor],
    dictionaries: Dictionaries,
    workdir: Path,
) -> tuple[dict[str, Any], str | None]:
    """Write and check ``workdir/FP16_FILE``: its numbers and None, or, when a check fails, no
    numbers and the reason (file removed, one warning line logged)."""
    path = workdir / FP16_FILE
    try:
        staged = build_dfdnet_export(state, dictionaries, precision=FP16_STAGED)
        write_graph(staged, checked, path)
        engine, run = ort_run(path)
        with engine:
            results = verify_fp16_graph(checked, path, run)
        results["torch_fp16"] = torch_fp16_proof(checked, state, dictionaries)
    except ExportError as error:
        remove_graph(path)
        reason = str(error.args[0]) if error.args else str(error)
        log.warning(
            "%s: FP16 graph refused, FP32 graph installed alone: %s", checked.spec.name, reason
        )
        return {}, reason
    return results, None


def export_dfdnet(
    spec: ModelSpec,
    sources: list[Path],
    workdir: Path,
    extra_faces: Sequence[Path] = (),
) -> dict[str, Any]:
    """Write and check ``workdir/model.onnx`` and ``model.fp16.onnx``; return the manifest facts."""
    state, dictionaries = check_files(spec, sources)
    module = build_dfdnet_export(state, dictionaries, sources[0])
    faces, boxes, names = check_faces(spec, extra_faces)
    reference, choices = run_recording(module, faces, boxes)
    checked = Checked(spec, faces, boxes, names, reference, choices)
    path = workdir / FP32_FILE
    write_graph(module, checked, path)
    engine, run = ort_run(path)
    with engine:
        single, batch = single_runs(run, faces, boxes), run(faces, boxes)
    parity = checks.check_close("ONNX Runtime FP32 vs PyTorch", reference, single, names, path)
    rows = checks.check_close(
        f"FP32 batch of {len(names)} vs single runs", single, batch, names, path
    )
    fp16, refused = fp16_graph(checked, state, dictionaries, workdir)
    files = {FP32_FILE: {"precision": "fp32", "io_dtype": "float32"}}
    if refused is None:
        files[FP16_FILE] = {"precision": "fp16", "io_dtype": "float32", "pinned_dtype": "float32"}
    return {
        "opset": OPSET,
        "precision_policy": list(spec.precision_policy),
        "graph": {"inputs": INPUTS, "outputs": [OUTPUT], "dynamic_axes": {"batch": 0}},
        "onnx": files,
        **({} if refused is None else {"fp16_refused": refused}),
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
                **fp16,
                "tolerances": TOLERANCES,
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
