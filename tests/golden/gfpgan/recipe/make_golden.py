"""Golden outputs of the OFFICIAL GFPGANv1Clean with deterministic weights (run in a scratch env).

Builds the official class (package ``gfpgan``) for two sizes, fills every tensor with facert's
``export/harness/fill.py`` (values from the key name alone, so our port gets identical weights), runs it with
``randomize_noise=False`` (the stored noise maps) on the real aligned face grace_hopper_512.png and
writes ``golden.npz``. See README.md in the parent folder for the exact commands and versions.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
import torchvision.transforms.functional as tv_functional

# basicsr 1.4.2 imports torchvision.transforms.functional_tensor, removed in torchvision 0.17.
sys.modules.setdefault("torchvision.transforms.functional_tensor", tv_functional)
from gfpgan.archs.gfpganv1_clean_arch import GFPGANv1Clean  # noqa: E402

REPO = Path(__file__).resolve().parents[4]
CONFIGS = {
    "small": {"out_size": 64, "num_style_feat": 64, "channel_multiplier": 1, "narrow": 0.25},
    "full": {"out_size": 512, "num_style_feat": 512, "channel_multiplier": 2, "narrow": 1.0},
}


def load_fill():  # facert's export/harness/fill.py needs only torch: load it by path
    spec = importlib.util.spec_from_file_location(
        "facert_fill", REPO / "export" / "harness" / "fill.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def face_input(size: int) -> np.ndarray:
    """GFPGANer's preprocessing: BGR uint8 -> RGB, /255, (x - 0.5) / 0.5; (1, 3, S, S) float32."""
    bgr = cv2.imread(str(REPO / "tests" / "data" / "faces" / "grace_hopper_512.png"))
    if size != bgr.shape[0]:
        bgr = cv2.resize(bgr, (size, size), interpolation=cv2.INTER_AREA)
    rgb = bgr[:, :, ::-1].astype(np.float32) / 255.0
    return ((rgb - 0.5) / 0.5).transpose(2, 0, 1)[None].copy()


def official_output(config: dict, fill, x: np.ndarray) -> np.ndarray:
    model = GFPGANv1Clean(
        decoder_load_path=None,
        fix_decoder=False,
        num_mlp=8,
        input_is_latent=True,
        different_w=True,
        sft_half=True,
        **config,
    ).eval()
    model.load_state_dict(fill.deterministic_state_dict(model), strict=True)
    with torch.no_grad():
        image, _ = model(torch.from_numpy(x), return_rgb=False, randomize_noise=False)
    return image.numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "golden" / "gfpgan")
    args = parser.parse_args()
    torch.set_num_threads(2)
    fill = load_fill()
    arrays = {}
    for name, config in CONFIGS.items():
        x = face_input(config["out_size"])
        y = official_output(config, fill, x)
        print(name, y.shape, "range", float(y.min()), float(y.max()), "std", float(y.std()))
        if name == "small":
            arrays["small_input"] = x
            arrays["small_output"] = y  # float32: 49 KB, checked at 1e-4
        else:
            arrays["full_output"] = y.astype(np.float16)  # 1.5 MB
            arrays["full_output_center"] = y[:, :, 224:288, 224:288].copy()  # float32 crop
    np.savez(args.out / "golden.npz", **arrays)


if __name__ == "__main__":
    main()
