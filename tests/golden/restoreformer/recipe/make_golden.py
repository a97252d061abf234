"""Golden outputs of the OFFICIAL RestoreFormer(++) code, for facert's parity tests.

Runs ``VQVAEGANMultiHeadTransformer`` from a copy of wzhouxiff/RestoreFormerPlusPlus (never part of
facert) with weights from ``facert.export.harness.fill`` (loaded by file path, so facert need not be
installed in the reference environment) on tests/data/faces/grace_hopper_512.png, preprocessed as
the official ``RestoreFormer.enhance(has_aligned=True)`` does: ``cv2.resize`` to 512,
basicsr's ``img2tensor(img / 255., bgr2rgb=True, float32=True)``, torchvision's
``normalize(0.5, 0.5)``; the restored image is ``net(x)[0]``, stored unclamped (the official
``tensor2img(min_max=(-1, 1))`` clamps it in place afterwards). See README.md for the exact command
and versions.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import torch
from torchvision.transforms.functional import normalize

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1]
FACE = DATA / "faces" / "grace_hopper_512.png"
FILL = HERE.parents[3] / "export" / "harness" / "fill.py"

# Small configurations: every structural feature of the full networks (6 levels, attention at 16x16,
# RestoreFormer++'s extra cross-attention at 32x32, channel changes with nin_shortcut), few channels.
SMALL = {"ch": 32, "ch_mult": [1, 1, 1, 1, 2, 2], "num_res_blocks": 1, "z_channels": 64}
SMALL_CODEBOOK = {"embed_dim": 64, "n_embed": 128}
VARIANTS = {"restoreformer": (8, 0), "restoreformer-pp": (4, 1)}  # head_size, ex_multi_scale_num
STRIDE = 4  # the output is stored in float32 at every 4th row and column


def load_file(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def official_input(img_util: ModuleType) -> torch.Tensor:
    """The face exactly as RestoreFormer.enhance(has_aligned=True) feeds it: (1, 3, 512, 512)."""
    img = cv2.imread(str(FACE), cv2.IMREAD_COLOR)
    img = cv2.resize(img, (512, 512))
    tensor = img_util.img2tensor(img / 255.0, bgr2rgb=True, float32=True)
    normalize(tensor, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), inplace=True)
    return tensor.unsqueeze(0)


def run_case(arch: ModuleType, fill: ModuleType, img_util: ModuleType, config: dict) -> dict:
    net = arch.VQVAEGANMultiHeadTransformer(**config).eval()
    net.load_state_dict(fill.deterministic_state_dict(net), strict=True)
    x = official_input(img_util)
    with torch.no_grad():
        start = time.perf_counter()
        dec, _, info, _ = net(x)
        seconds = time.perf_counter() - start
        distances = info[3]  # (N*H*W, n_embed), as the official quantizer computed them
    side = x.shape[-1] // 2 ** (net.encoder.num_resolutions - 1)
    two = torch.topk(distances, 2, dim=1, largest=False).values
    return {
        "output_strided": dec[0, :, ::STRIDE, ::STRIDE].numpy().astype(np.float32),
        "indices": info[2].reshape(1, side, side).numpy().astype(np.int16),
        "margins": (two[:, 1] - two[:, 0]).reshape(1, side, side).numpy().astype(np.float32),
        "config": np.array(json.dumps(config)),
        "seconds": np.array(seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--official", type=Path, required=True, help="copy of the official repo")
    parser.add_argument("--out", type=Path, default=DATA / "restoreformer")
    parser.add_argument("--sizes", nargs="+", default=["small", "full"])
    args = parser.parse_args()
    torch.set_num_threads(2)
    sys.path.insert(0, str(args.official))
    arch = load_file("vqvae_arch", args.official / "RestoreFormer/modules/vqvae/vqvae_arch.py")
    img_util = load_file("img_util", args.official / "basicsr_img_util.py")
    fill = load_file("fill", FILL)
    for size in args.sizes:
        for variant, (heads, scales) in VARIANTS.items():
            config = {"head_size": heads, "ex_multi_scale_num": scales}
            if size == "small":
                config |= SMALL | SMALL_CODEBOOK
            result = run_case(arch, fill, img_util, config)
            path = args.out / f"golden_{variant}_{size}.npz"
            np.savez_compressed(path, **result)
            margins = result["margins"]
            print(
                f"{path.name}: {result['seconds']:.2f} s, output range "
                f"[{result['output_strided'].min():.3f}, {result['output_strided'].max():.3f}], "
                f"min code margin {margins.min():.3g}, median {np.median(margins):.3g}"
            )


if __name__ == "__main__":
    main()
