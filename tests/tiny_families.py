"""Tiny exports of every learned restorer family, as run-time artifacts (export folder + manifest
files), for the backend tests: GFPGAN, GPEN, CodeFormer and RestoreFormer++ at 32-64 px with the
deterministic fill in the official layouts, each exported and checked through the real harness.

``tiny_artifact(family, folder)`` builds one (seconds each); tests share them through the
session-scoped ``tiny_learned`` fixture of tests/conftest.py.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from pinned_spec import pinned_spec
from tiny_codeformer import TINY as CODEFORMER
from tiny_export import export_tiny

from facert.export.families.codeformer.export import build_codeformer_export
from facert.export.families.codeformer.net import CodeFormer
from facert.export.families.gfpgan.export import build_gfpgan_export
from facert.export.families.gfpgan.net import GFPGAN, GFPGANConfig
from facert.export.families.gpen.export import build_gpen_export
from facert.export.families.gpen.net import GPEN, GPENConfig
from facert.export.families.restoreformer.export import (
    build_restoreformer,
    build_restoreformer_export,
)
from facert.export.families.restoreformer.net import RestoreFormerConfig
from facert.export.harness.fill import deterministic_state_dict, equalized_state_dict
from facert.io.files import sha256_of
from facert.models.artifacts import Artifact

GFPGAN_TINY = GFPGANConfig(out_size=32, num_style_feat=32, channel_multiplier=1, narrow=0.125)
GPEN_TINY = GPENConfig(out_size=32, style_dim=32, num_mlp=2, channel_multiplier=1, narrow=1 / 16)
RESTOREFORMER_TINY = RestoreFormerConfig(
    n_embed=32,
    embed_dim=32,
    ch=32,
    ch_mult=(1, 1, 2),
    num_res_blocks=1,
    attn_resolutions=(16,),
    resolution=64,
    z_channels=32,
    head_size=4,
    ex_multi_scale_num=1,
)

# family -> (registry spec, input size, checkpoint payload, export form builder)
Recipe = tuple[str, int, Callable[[], dict[str, Any]], Callable[..., Any]]
RECIPES: dict[str, Recipe] = {
    "gfpgan": (
        "gfpgan-1.4",
        GFPGAN_TINY.out_size,
        lambda: {"params_ema": deterministic_state_dict(GFPGAN(GFPGAN_TINY))},
        functools.partial(build_gfpgan_export, config=GFPGAN_TINY),
    ),
    "gpen": (
        "gpen-bfr-512",
        GPEN_TINY.out_size,
        lambda: equalized_state_dict(GPEN(GPEN_TINY)),
        functools.partial(build_gpen_export, config=GPEN_TINY),
    ),
    "codeformer": (
        "codeformer",
        CODEFORMER["img_size"],
        lambda: {"params_ema": deterministic_state_dict(CodeFormer(**CODEFORMER))},
        functools.partial(build_codeformer_export, **CODEFORMER),
    ),
    "restoreformer": (
        "restoreformer-pp",
        RESTOREFORMER_TINY.resolution,
        lambda: {
            "state_dict": {
                f"vqvae.{key}": value
                for key, value in deterministic_state_dict(
                    build_restoreformer(RESTOREFORMER_TINY, export_form=False)
                ).items()
            }
        },
        functools.partial(build_restoreformer_export, variant=RESTOREFORMER_TINY),
    ),
}
FAMILIES = tuple(RECIPES)


def tiny_artifact(family: str, folder: Path) -> Artifact:
    """The tiny ``family`` exported into ``folder`` (made if needed) with its checkpoint, as the
    runtime sees an export: the pinned spec, the folder, the files with their sha256."""
    name, size, payload, build = RECIPES[family]
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint = folder / "tiny.pth"
    torch.save(payload(), checkpoint)
    spec = pinned_spec(name, checkpoint, input_size=size)
    facts = export_tiny(spec, checkpoint, build)
    files = {
        f: {"sha256": sha256_of(folder / f)} for f in spec.onnx_files if (folder / f).is_file()
    }
    return Artifact(spec, folder, {"files": files, "parity": facts.get("parity")})
