"""Shared pieces of the RestoreFormer(++) tests: goldens, configurations, real faces."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import torch
from testdata import DATA, GOLDEN_DATA

from facert.export.families.restoreformer.export import (
    build_restoreformer,
    build_restoreformer_export,
    variant_config,
)
from facert.export.families.restoreformer.net import RestoreFormer, RestoreFormerConfig
from facert.export.harness.fill import deterministic_state_dict
from facert.export.precision.policy import FP32

GOLDEN = GOLDEN_DATA / "restoreformer"
GRACE_HOPPER = DATA / "faces" / "grace_hopper_512.png"
VARIANT_NAMES = ("restoreformer", "restoreformer-pp")


def golden(variant: str, size: str) -> dict[str, np.ndarray]:
    """The official code's outputs (see tests/golden/restoreformer/README.md)."""
    with np.load(GOLDEN / f"golden_{variant}_{size}.npz") as archive:
        return dict(archive)


def config_for(variant: str, size: str) -> RestoreFormerConfig:
    """The configuration the golden of ``variant``/``size`` was made with."""
    if size == "full":
        return variant_config(variant)
    recorded = json.loads(str(golden(variant, size)["config"]))
    return RestoreFormerConfig(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in recorded.items()}
    )


@cache
def filled_state(config: RestoreFormerConfig) -> dict[str, torch.Tensor]:
    """facert.export.harness.fill weights for ``config`` (the same the golden recipe loads)."""
    return deterministic_state_dict(build_restoreformer(config, export_form=False, device="meta"))


def filled_model(config: RestoreFormerConfig, export_form: bool) -> RestoreFormer:
    """``config`` with filled weights, eval mode; the export form comes from the build function."""
    if export_form:
        return build_restoreformer_export(filled_state(config), FP32, config)
    model = RestoreFormer(config, export_form=False)
    model.load_state_dict(filled_state(config), strict=True)
    return model.eval()


def run_with_indices(model: RestoreFormer, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``model(x)`` and the codebook indices (N, H/32, W/32) its quantizer chose."""
    latents: list[torch.Tensor] = []
    hook = model.quantize.register_forward_hook(lambda module, args, out: latents.append(args[0]))
    try:
        with torch.no_grad():
            output = model(x)
            return output, model.quantize.indices(latents[0])
    finally:
        hook.remove()


@cache
def export_run(
    variant: str, size: str, face: Path = GRACE_HOPPER
) -> tuple[torch.Tensor, torch.Tensor]:
    """Output and indices of the export form with filled weights on a real face (computed once)."""
    model = filled_model(config_for(variant, size), export_form=True)
    return run_with_indices(model, face_tensor(face))


def face_tensor(path: Path, size: int = 512) -> torch.Tensor:
    """(1, 3, size, size) float32 RGB in [-1, 1], as the official inference prepares a 512 face."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if size != bgr.shape[0]:
        bgr = cv2.resize(bgr, (size, size), interpolation=cv2.INTER_AREA)
    rgb = cv2.cvtColor((bgr / 255.0).astype(np.float32), cv2.COLOR_BGR2RGB)
    return ((torch.from_numpy(rgb.transpose(2, 0, 1)) - 0.5) / 0.5).unsqueeze(0)
