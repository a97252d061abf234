"""Deterministic DFDNet files in the official layout: ``latest_net_G.pth`` (every official key,
:func:`facert.export.families.dfdnet.weights.dfdnet_state_dict` over the plain fill) and the 16
dictionaries (K = 4, :func:`~facert.export.families.dfdnet.dictionaries.deterministic_dictionaries`)
as real .npy files, in ``folder`` (the model's weights folder)."""

from __future__ import annotations

from pathlib import Path

import torch

from facert.export.families.dfdnet.dictionaries import (
    FOLDER,
    deterministic_dictionaries,
    write_dictionaries,
)
from facert.export.families.dfdnet.net import official_shapes
from facert.export.families.dfdnet.weights import dfdnet_state_dict
from facert.export.harness.fill import fill_value

CLUSTERS = 4


def deterministic_state(used_only: bool = False) -> dict[str, torch.Tensor]:
    """The official keys filled (``used_only``: without VggExtract.model.* and to_rgb*)."""
    shapes = official_shapes()
    if used_only:
        shapes = {
            k: s for k, s in shapes.items() if not k.startswith(("VggExtract.model.", "to_rgb"))
        }
    return dfdnet_state_dict({k: fill_value(k, s, torch.float32) for k, s in shapes.items()})


def write_dfdnet_files(folder: Path, used_only: bool = True) -> Path:
    """Write the checkpoint and dictionaries into ``folder``; returns the checkpoint's path."""
    folder.mkdir(parents=True, exist_ok=True)
    write_dictionaries(deterministic_dictionaries(CLUSTERS), folder / FOLDER)
    path = folder / "latest_net_G.pth"
    torch.save(deterministic_state(used_only), path)
    return path
