"""Golden outputs of the OFFICIAL GPEN FullGenerator with deterministic weights (run in a scratch env).

Loads yangxy/GPEN's ``face_model/face_gan.py`` (``FaceGAN``, which builds ``FullGenerator`` and loads
the checkpoint file as a plain state dict) from a copy of the official repository, with CUDA absent so
its custom ops take their own plain-PyTorch CPU fallbacks. Weights come from facert's
``export/harness/fill.py`` (values from the key names alone, so our port gets identical weights), written to a
temporary ``weights/<name>.pth`` that FaceGAN loads. The input is the real aligned face
grace_hopper_512.png through FaceGAN's own preprocessing (``cv2.resize`` to the model size, /255,
(x - 0.5) / 0.5, BGR -> RGB). See README.md in the parent folder for the exact commands and versions.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[4]
FACE = REPO / "tests" / "data" / "faces" / "grace_hopper_512.png"
# name: (size, channel_multiplier, narrow, fill); "equalized" = export/harness/fill.py equalized_state_dict
CONFIGS = {
    "small": (64, 1, 0.125, "equalized"),
    "small_raw": (64, 1, 0.125, "plain"),
    "bfr256": (256, 1, 0.5, "equalized"),
    "bfr512": (512, 2, 1.0, "equalized"),
    "bfr1024": (1024, 2, 1.0, "equalized"),
}


def load_by_path(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def official_run(gpen_repo: Path, fill, size: int, multiplier: int, narrow: float, rule: str):
    """FaceGAN's input tensor and FullGenerator output, both (1, 3, S, S) float32."""
    sys.path.insert(0, str(gpen_repo / "face_model"))
    from face_gan import FaceGAN
    from gpen_model import FullGenerator

    model = FullGenerator(size, 512, 8, multiplier, narrow=narrow)
    fill_rule = fill.equalized_state_dict if rule == "equalized" else fill.deterministic_state_dict
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "weights").mkdir()
        torch.save(fill_rule(model), Path(folder) / "weights" / "filled.pth")
        gan = FaceGAN(folder, size, None, "filled", multiplier, narrow, None, device="cpu")
    image = cv2.resize(cv2.imread(str(FACE)), (size, size))  # FaceGAN.process's resize
    x = gan.img2tensor(image).float()
    with torch.no_grad():
        y, _ = gan.model(x)
        again, _ = gan.model(x)
    assert torch.equal(y, again)  # no random noise anywhere in FullGenerator
    return x.numpy(), y.numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gpen", type=Path, required=True, help="a copy of yangxy/GPEN")
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "golden" / "gpen")
    args = parser.parse_args()
    torch.set_num_threads(2)
    fill = load_by_path("facert_fill", REPO / "export" / "harness" / "fill.py")
    arrays = {}
    for name, (size, multiplier, narrow, rule) in CONFIGS.items():
        x, y = official_run(args.gpen, fill, size, multiplier, narrow, rule)
        print(name, y.shape, "range", float(y.min()), float(y.max()), "std", float(y.std()))
        centre = slice(size // 2 - 32, size // 2 + 32)
        if size == 64:  # both small configs see the same input
            assert np.array_equal(arrays.setdefault("small_input", x), x)
            arrays[f"{name}_output"] = y  # float32, 49 KB
            continue
        arrays[f"{name}_center"] = y[:, :, centre, centre].copy()  # float32, 49 KB
        if size < 1024:
            arrays[f"{name}_output"] = y.astype(np.float16)
        else:  # 6 MB even as float16: every 8th pixel
            arrays[f"{name}_every8"] = y[:, :, ::8, ::8].astype(np.float16)
    np.savez(args.out / "golden.npz", **arrays)


if __name__ == "__main__":
    main()
