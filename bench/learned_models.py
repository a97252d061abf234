"""The learned restorers that bench_learned.py measures, with weights filled from their key names.

No official checkpoint can be downloaded for the benchmark, so every model carries the deterministic
fill of :mod:`facert.export.harness.fill` (GPEN: its equalized-LR variant). Compute cost does not depend on
the weights' values: the same layers run on the same shapes.

For each model: the faithful module in the official layout (what the official inference runs in
PyTorch eager), the fill checkpoint written in the official file layout, and the ONNX export built
from that file by the export harness (:func:`facert.export.harness.api.export_model`: ``model.onnx`` FP32,
``model.fp16.onnx``, parity checks), cached under ``<workdir>/cache`` in facert's cache layout, so
``FACERT_CACHE=<workdir>/cache facert enhance --model gfpgan-1.4`` finds it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from facert.errors import ArtifactError
from facert.export.harness.fill import deterministic_state_dict, equalized_state_dict
from facert.io.files import sha256_of
from facert.models.artifacts import Artifact, find_artifact
from facert.models.cache import artifact_dir
from facert.models.registry import ModelSpec, get_spec

FACE = Path(__file__).resolve().parents[1] / "tests" / "data" / "faces" / "grace_hopper_512.png"

Call = Callable[[nn.Module, torch.Tensor], torch.Tensor]


def plain_call(module: nn.Module, image: torch.Tensor) -> torch.Tensor:
    return module(image)


def codeformer_call(module: nn.Module, image: torch.Tensor) -> torch.Tensor:
    """As inference_codeformer.py: ``net(x, w=w, adain=True)[0]`` with w = 0.5."""
    return module(image, w=0.5, adain=True)[0]


@dataclass(frozen=True)
class LearnedModel:
    """One benchmarked model: its row label, its spec, and how the official code runs it."""

    label: str
    spec_name: str
    build: Callable[[], nn.Module]  # the faithful module, official layout, unloaded
    equalized: bool = False  # GPEN: fill with equalized_state_dict
    call: Call = plain_call
    note: str = ""
    graph: str = "model.onnx"  # the export's graph timed (psfrgan-parsenet: parsenet.onnx)
    fill: Callable[[nn.Module], dict[str, torch.Tensor]] | None = None  # else by ``equalized``

    @property
    def spec(self) -> ModelSpec:
        return get_spec(self.spec_name)


def _gfpgan() -> nn.Module:
    from facert.export.families.gfpgan.net import GFPGAN

    return GFPGAN()


def _codeformer() -> nn.Module:
    from facert.export.families.codeformer.net import CodeFormer

    return CodeFormer()


def _gpen(size: int) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        from facert.export.families.gpen.net import GPEN, OFFICIAL_CONFIGS

        return GPEN(OFFICIAL_CONFIGS[size])

    return build


def _restoreformer(variant: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        from facert.export.families.restoreformer.net import VARIANTS, RestoreFormer

        return RestoreFormer(VARIANTS[variant], export_form=False)

    return build


class PSFRGANPath(nn.Module):
    """PSFR-GAN's test-time path (official ``enhance_faces``): ParseNet, the one-hot of the max,
    the generator. Keys ``parse.*`` and ``generator.*``, as the exporter merges the two files."""

    def __init__(self) -> None:
        super().__init__()
        from facert.export.families.psfrgan.generator import PSFRGenerator
        from facert.export.families.psfrgan.parsenet import ParseNet

        self.parse = ParseNet()
        self.generator = PSFRGenerator()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        from facert.export.families.psfrgan.generator import one_hot_of_max

        return self.generator(image, one_hot_of_max(self.parse(image)[0]))


def psfrgan_fill(module: nn.Module) -> dict[str, torch.Tensor]:
    """The fill of the tests: ParseNet deterministic, the generator's spectral norms power-iterated."""
    from facert.export.harness.fill import spectral_state_dict

    path = module if isinstance(module, PSFRGANPath) else None
    if path is None:  # ParseNet alone (the psfrgan-parsenet row)
        return deterministic_state_dict(module)
    return {
        **{f"parse.{k}": v for k, v in deterministic_state_dict(path.parse).items()},
        **{f"generator.{k}": v for k, v in spectral_state_dict(path.generator).items()},
    }


def _parsenet() -> nn.Module:
    from facert.export.families.psfrgan.parsenet import ParseNet

    return ParseNet()


def parsenet_call(module: nn.Module, image: torch.Tensor) -> torch.Tensor:
    return module(image)[0]  # the parsing logits (the image head is computed too, as officially)


MODELS = [
    LearnedModel("gfpgan", "gfpgan-1.4", _gfpgan, note="v1.2, v1.3, v1.4: one architecture"),
    LearnedModel("codeformer", "codeformer", _codeformer, call=codeformer_call, note="w = 0.5"),
    LearnedModel("gpen-bfr-256", "gpen-bfr-256", _gpen(256), equalized=True),
    LearnedModel("gpen-bfr-512", "gpen-bfr-512", _gpen(512), equalized=True),
    LearnedModel("gpen-bfr-1024", "gpen-bfr-1024", _gpen(1024), equalized=True),
    LearnedModel("restoreformer", "restoreformer", _restoreformer("restoreformer")),
    LearnedModel("restoreformer-pp", "restoreformer-pp", _restoreformer("restoreformer-pp")),
    LearnedModel(
        "psfrgan", "psfrgan", PSFRGANPath, fill=psfrgan_fill, note="ParseNet + one-hot + G"
    ),
    LearnedModel(
        "psfrgan-parsenet",
        "psfrgan",
        _parsenet,
        fill=psfrgan_fill,
        call=parsenet_call,
        graph="parsenet.onnx",
        note="ParseNet alone",
    ),
]
BY_LABEL = {model.label: model for model in MODELS}


def faithful_module(model: LearnedModel) -> nn.Module:
    """The faithful module holding the fill, in eval mode (float32, CPU)."""
    module = model.build()
    fill = model.fill or (equalized_state_dict if model.equalized else deterministic_state_dict)
    module.load_state_dict(fill(module), strict=True)
    return module.eval()


def write_checkpoint(model: LearnedModel, module: nn.Module, path: Path) -> None:
    """Save ``module``'s tensors in the layout of the spec's official file (its key, its prefix)."""
    weight = model.spec.weights[0]
    state = {weight.strip_prefix + key: value for key, value in module.state_dict().items()}
    payload = {weight.state_dict_keys[0]: state} if weight.state_dict_keys else state
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)


def checkpoint_path(model: LearnedModel, workdir: Path) -> Path:
    return workdir / "weights" / f"{model.spec_name}-fill.pth"


def psfrgan_files(workdir: Path) -> list[Path]:
    """PSFR-GAN's two fill files under their official names (written once), in the spec's order."""
    folder = workdir / "weights" / "psfrgan-fill"
    files = [folder / weight.filename for weight in get_spec("psfrgan").weights]
    if not all(path.is_file() for path in files):
        from facert.export.harness.fill import spectral_state_dict

        path = PSFRGANPath()
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(spectral_state_dict(path.generator), files[0])
        torch.save(deterministic_state_dict(path.parse), files[1])
    return files


def ensure_export(
    model: LearnedModel, workdir: Path, log: Callable[[str], None] = print
) -> Artifact:
    """The cached export of ``model`` built from its fill checkpoint (written and exported first)."""
    from facert.export.harness.api import export_model
    from facert.models.weights import combined_sha256, several_files

    if several_files(model.spec):
        files = psfrgan_files(workdir)
        sha256 = combined_sha256(files)
    else:
        checkpoint = checkpoint_path(model, workdir)
        if not checkpoint.is_file():
            write_checkpoint(model, faithful_module(model), checkpoint)
        files, sha256 = [checkpoint], sha256_of(checkpoint)
    cache = workdir / "cache"
    try:
        return find_artifact(cache, model.spec, sha256)
    except ArtifactError:  # not exported yet, or by another version of the graph: export
        pass
    log(f"exporting {model.spec_name} from {files[0].parent} (once; minutes on 2 cores)")
    export_model(model.spec, files, artifact_dir(cache, model.spec, sha256), sha256)
    return find_artifact(cache, model.spec, sha256)


def face_input(size: int) -> np.ndarray:
    """Grace Hopper's aligned face at ``size``: (1, 3, size, size) float32 RGB [-1, 1]."""
    bgr = cv2.imread(str(FACE), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"cannot read {FACE}")
    if bgr.shape[0] != size:
        bgr = cv2.resize(bgr, (size, size), interpolation=cv2.INTER_LINEAR)
    rgb = bgr[:, :, ::-1].astype(np.float32) / 127.5 - 1.0
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None])
