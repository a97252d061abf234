"""Golden outputs of the OFFICIAL CodeFormer (sczhou/CodeFormer) for facert's parity tests.

Runs in a scratch environment outside the repository (see README.md next to this file), never in
the project's venv. Weights come from facert's ``export/harness/fill.py`` (values derived from each key name
alone), loaded by file path so that no facert install is needed. Writes ``small.npz`` and
``full.npz`` into ``--out``: float32 outputs (N dropped, (3, H, W) RGB, not clamped) for each
fidelity weight w, the code indices the official top-1 picked, and each position's logit margin
(best minus second best). ``full.npz`` keeps a quarter of the pixels to stay small: the w = 0 output
at rows and columns 0, 2, 4, ... and the w = 0.7 output at 1, 3, 5, ... (between them every border).
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[4]
FACE = REPO / "tests" / "data" / "faces" / "grace_hopper_512.png"
WEIGHTS = (0.0, 0.7)
# The small configuration: transformer and codebook shrunk through the official constructor, and a
# 64 px VQGAN (nf 32, ch_mult 1,2,4: still a 16x16 latent) in place of the hard-coded 512 px one. The official class
# derives nothing from the layout, so its fusion tables and fusion blocks are set for that layout
# by hand here (read off the block lists the official Encoder/Generator build).
SMALL_ARGS = dict(
    dim_embd=64, n_head=4, n_layers=2, codebook_size=64, connect_list=["16", "32", "64"]
)
SMALL_LAYOUT = (64, 32, [1, 2, 4])  # img_size, nf, ch_mult
SMALL_CHANNELS = {"16": 128, "32": 64, "64": 32}
SMALL_ENCODER_TAPS = {"64": 2, "32": 5, "16": 9}
SMALL_GENERATOR_TAPS = {"16": 6, "32": 9, "64": 12}


def import_official(root: Path) -> types.ModuleType:
    """basicsr.archs.codeformer_arch from the official checkout, without basicsr's package
    __init__ files (they import training code and a generated version.py)."""
    for name, path in (
        ("basicsr", root / "basicsr"),
        ("basicsr.archs", root / "basicsr" / "archs"),
    ):
        package = types.ModuleType(name)
        package.__path__ = [str(path)]
        sys.modules[name] = package
    import basicsr.archs.codeformer_arch as codeformer_arch

    return codeformer_arch


def load_fill() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(
        "facert_fill", REPO / "export" / "harness" / "fill.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_small(official: types.ModuleType) -> torch.nn.Module:
    vqgan = sys.modules["basicsr.archs.vqgan_arch"]
    original_init = vqgan.VQAutoEncoder.__init__

    def small_init(self, img_size, nf, ch_mult, *args, **kwargs):
        original_init(self, *SMALL_LAYOUT, *args, **kwargs)

    vqgan.VQAutoEncoder.__init__ = small_init
    try:
        net = official.CodeFormer(**SMALL_ARGS)
    finally:
        vqgan.VQAutoEncoder.__init__ = original_init
    net.fuse_convs_dict = torch.nn.ModuleDict(
        {size: official.Fuse_sft_block(ch, ch) for size, ch in SMALL_CHANNELS.items()}
    )
    net.fuse_encoder_block = dict(SMALL_ENCODER_TAPS)
    net.fuse_generator_block = dict(SMALL_GENERATOR_TAPS)
    return net


def to_input(face_bgr: np.ndarray) -> torch.Tensor:
    """As inference_codeformer.py: img2tensor(face / 255., bgr2rgb=True) then normalize 0.5/0.5."""
    from basicsr.utils.img_util import img2tensor
    from torchvision.transforms.functional import normalize

    tensor = img2tensor(face_bgr / 255.0, bgr2rgb=True, float32=True)
    normalize(tensor, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), inplace=True)
    return tensor.unsqueeze(0)


def run(net: torch.nn.Module, face_bgr: np.ndarray, stride: int) -> dict[str, np.ndarray]:
    fill = load_fill()
    net.load_state_dict(fill.deterministic_state_dict(net), strict=True)
    net.eval()
    x = to_input(face_bgr)
    result: dict[str, np.ndarray] = {}
    with torch.no_grad():
        for phase, w in enumerate(WEIGHTS):
            out, logits, _ = net(x, w=w, adain=True)
            offset = phase % stride
            result[f"out_w{w:g}"] = out[0, :, offset::stride, offset::stride].numpy()
        _, top_index = torch.topk(F.softmax(logits, dim=2), 1, dim=2)
        top2 = logits.topk(2, dim=2).values
    result["indices"] = top_index[0, :, 0].numpy().astype(np.int16)
    result["margins"] = (top2[0, :, 0] - top2[0, :, 1]).numpy().astype(np.float32)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--codeformer-root", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--only", choices=("small", "full"))
    args = parser.parse_args()
    torch.manual_seed(0)
    official = import_official(args.codeformer_root)
    face = cv2.imread(str(FACE), cv2.IMREAD_COLOR)
    versions = (
        f"torch {torch.__version__}, numpy {np.__version__}, opencv {cv2.__version__}, "
        f"python {platform.python_version()}"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    if args.only in (None, "small"):
        small_face = cv2.resize(face, (64, 64), interpolation=cv2.INTER_AREA)
        data = run(build_small(official), small_face, stride=1)
        np.savez_compressed(args.out / "small.npz", input_bgr=small_face, versions=versions, **data)
    if args.only in (None, "full"):
        net = official.CodeFormer(
            dim_embd=512,
            codebook_size=1024,
            n_head=8,
            n_layers=9,
            connect_list=["32", "64", "128", "256"],
        )
        data = run(net, face, stride=2)
        np.savez_compressed(args.out / "full.npz", versions=versions, **data)


if __name__ == "__main__":
    main()
