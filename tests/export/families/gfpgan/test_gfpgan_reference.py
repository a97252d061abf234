"""Optional: our GFPGAN port against the official ``gfpgan`` package, run live (skipped without it).

Needs an environment with gfpgan 1.3.8 and basicsr 1.4.2 importable beside facert (bench/README.md
describes one). Both networks get the same deterministic fill and run on the real aligned face
tests/data/faces/grace_hopper_512.png with the checkpoint's stored noise (``randomize_noise=False``;
GFPGANer's default draws fresh noise on every call, so its own outputs differ run to run).
"""

from __future__ import annotations

import importlib.util
import sys

import cv2
import numpy as np
import pytest

if importlib.util.find_spec("gfpgan") is None or importlib.util.find_spec("basicsr") is None:
    pytest.skip("the official gfpgan package is not importable here", allow_module_level=True)

import torch
import torchvision.transforms.functional as tv_functional

# basicsr 1.4.2 imports torchvision.transforms.functional_tensor, removed in torchvision 0.17.
sys.modules.setdefault("torchvision.transforms.functional_tensor", tv_functional)
from gfpgan.archs.gfpganv1_clean_arch import GFPGANv1Clean  # noqa: E402
from testdata import DATA  # noqa: E402

from facert.export.families.gfpgan.net import GFPGAN, GFPGANConfig, load_gfpgan  # noqa: E402
from facert.export.harness.fill import deterministic_state_dict  # noqa: E402

FACE = DATA / "faces" / "grace_hopper_512.png"
CONFIGS = {
    "small": GFPGANConfig(out_size=64, num_style_feat=64, channel_multiplier=1, narrow=0.25),
    "full": GFPGANConfig(),
}


def face_tensor(size: int) -> torch.Tensor:
    """GFPGANer's preprocessing: BGR -> RGB, /255, (x - 0.5) / 0.5; resized to ``size``."""
    bgr = cv2.resize(cv2.imread(str(FACE)), (size, size), interpolation=cv2.INTER_AREA)
    rgb = bgr[:, :, ::-1].astype(np.float32) / 255.0
    return torch.from_numpy(((rgb - 0.5) / 0.5).transpose(2, 0, 1)[None].copy())


@pytest.mark.parametrize("name", ["small", pytest.param("full", marks=pytest.mark.slow)])
def test_the_port_matches_the_installed_gfpgan(name: str) -> None:
    config = CONFIGS[name]
    state = deterministic_state_dict(GFPGAN(config))
    official = GFPGANv1Clean(
        out_size=config.out_size,
        num_style_feat=config.num_style_feat,
        channel_multiplier=config.channel_multiplier,
        decoder_load_path=None,
        fix_decoder=False,
        num_mlp=8,
        input_is_latent=True,
        different_w=True,
        narrow=config.narrow,
        sft_half=True,
    ).eval()
    official.load_state_dict(state, strict=True)
    ours = load_gfpgan(state, config).eval()
    face = face_tensor(config.out_size)
    with torch.no_grad():
        expected = official(face, return_rgb=False, randomize_noise=False)[0].numpy()
        restored = ours(face).numpy()
    # The parity limit, relative to the output's peak (this fill gives outputs beyond
    # [-1, 1]); in practice the two compute the same operations in the same order.
    scale = max(1.0, float(np.abs(expected).max()))
    assert np.abs(restored - expected).max() <= 1e-4 * scale
