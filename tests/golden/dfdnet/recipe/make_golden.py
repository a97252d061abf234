"""Golden outputs of the OFFICIAL DFDNet UNetDictFace with deterministic weights (scratch env only).

Imports csxmli2016/DFDNet's ``models/networks.py`` (branch ``whole``) from a copy of the official
repository and builds ``UNetDictFace(64, dictionary_path=...)`` as ``define_G`` does, in a temporary
working folder holding ``weights/vgg19.pth`` (torchvision's vgg19 state dict, which VGGFeat's
constructor loads; overwritten by the fill) and ``DictionaryCenter512/`` (deterministic dictionaries,
K = 4, written as real .npy files by facert's own writer). Weights: facert's fill.py over the
official state dict, made trained-like by export/families/dfdnet/weights.py (both loaded by path).
Input: the aligned face grace_hopper_512.png the official way (PIL RGB, ToTensor, Normalize 0.5),
and the part boxes from its 68 landmarks (given in ``--landmarks``, a 68 x 2 text file as the
official Step2 writes) by a transcription of the official ``get_part_location``.
The module runs in eval mode (spectral norm from the stored u, v), and once more in train mode as
the official script leaves it (one power iteration per call): both outputs are stored.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

REPO = Path(__file__).resolve().parents[4]
FACE = REPO / "tests" / "data" / "faces" / "grace_hopper_512.png"


def load_by_path(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def vgg19() -> nn.Module:
    """torchvision's ``vgg19()`` layout (features 0-36, avgpool, classifier), built here: the only
    torchvision wheels at hand need CUDA libraries, and networks.py only needs this class."""
    layers, channels = [], 3
    for item in [64, 64, "M", 128, 128, "M"] + [256] * 4 + ["M"] + ([512] * 4 + ["M"]) * 2:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU(inplace=True)]
            channels = item
    model = nn.Module()
    model.features = nn.Sequential(*layers)
    model.avgpool = nn.AdaptiveAvgPool2d((7, 7))
    model.classifier = nn.Sequential(
        nn.Linear(512 * 49, 4096),
        nn.ReLU(True),
        nn.Dropout(),
        nn.Linear(4096, 4096),
        nn.ReLU(True),
        nn.Dropout(),
        nn.Linear(4096, 1000),
    )
    return model


def install_torchvision_shim() -> None:
    """``torchvision.models.vgg19(pretrained=False)`` for networks.py (util.py imports it too)."""
    shim = types.ModuleType("torchvision")
    shim.models = types.SimpleNamespace(vgg19=lambda pretrained=False: vgg19())
    sys.modules["torchvision"] = shim


def part_locations(landmarks: np.ndarray) -> np.ndarray:
    """The official get_part_location (test_FaceDict.py) on (68, 2) landmarks: (4, 4) int64."""
    groups = [
        list(np.hstack((range(17, 22), range(36, 42)))),
        list(np.hstack((range(22, 27), range(42, 48)))),
        list(range(29, 36)),
        list(range(48, 68)),
    ]
    boxes = []
    for group in groups:
        points = landmarks[group]
        mean = np.mean(points, 0)
        half = np.max((np.max(np.max(points, 0) - np.min(points, 0)) / 2, 16))
        boxes.append(np.hstack((mean - half + 1, mean + half)).astype(int))
    return np.stack(boxes).astype(np.int64)


def official_model(dfdnet_repo: Path, folder: Path, dictionaries, fill, weights):
    """UNetDictFace built in ``folder`` (its vgg19.pth and dictionaries), filled."""
    (folder / "weights").mkdir()
    torch.save(vgg19().state_dict(), folder / "weights" / "vgg19.pth")
    dictionaries.write_dictionaries(
        dictionaries.deterministic_dictionaries(4), folder / "DictionaryCenter512"
    )
    sys.path.insert(0, str(dfdnet_repo))
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        from models.networks import UNetDictFace

        model = UNetDictFace(64, dictionary_path=str(folder / "DictionaryCenter512"))
    finally:
        os.chdir(cwd)
    state = weights.dfdnet_state_dict(fill.deterministic_state_dict(model))
    model.load_state_dict(state, strict=True)
    return model, state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dfdnet", type=Path, required=True, help="a copy of DFDNet (whole)")
    parser.add_argument("--landmarks", type=Path, required=True, help="68 x 2 landmark file")
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "golden" / "dfdnet")
    args = parser.parse_args()
    torch.set_num_threads(2)
    install_torchvision_shim()
    fill = load_by_path("facert_fill", REPO / "export" / "harness" / "fill.py")
    weights = load_by_path("dfdnet_weights", REPO / "export" / "families" / "dfdnet" / "weights.py")
    sys.modules["facert.errors"] = load_by_path("facert_errors", REPO / "runtime" / "errors.py")
    dictionaries = load_by_path(
        "dfdnet_dicts", REPO / "export" / "families" / "dfdnet" / "dictionaries.py"
    )
    landmarks = np.loadtxt(args.landmarks)
    boxes = part_locations(landmarks)
    face = Image.open(FACE).convert("RGB").resize((512, 512), Image.BICUBIC)  # AddUpSample
    tensor = torch.from_numpy(np.asarray(face).copy()).permute(2, 0, 1).float().div(255)  # ToTensor
    x = ((tensor - 0.5) / 0.5).unsqueeze(0)  # Normalize((0.5,) * 3, (0.5,) * 3)
    locations = tuple(torch.from_numpy(box).unsqueeze(0) for box in boxes)
    with tempfile.TemporaryDirectory() as folder:
        model, state = official_model(args.dfdnet, Path(folder), dictionaries, fill, weights)
    keys = "\n".join(f"{k}\t{tuple(v.shape)}\t{str(v.dtype)[6:]}" for k, v in state.items())
    (args.out / "keys.txt").write_text(keys + "\n")
    model.eval()
    with torch.no_grad():
        start = time.perf_counter()
        y = model(x, locations)
        seconds = time.perf_counter() - start
        again = model(x, locations)
        model.train()  # as test_FaceDict.py leaves it: one power iteration per call
        y_train = model(x, locations)
    assert torch.equal(y, again)
    print("eval output", tuple(y.shape), float(y.min()), float(y.max()), float(y.std()))
    print("train-mode vs eval max abs", float((y_train - y).abs().max()))
    print(f"official forward, eval, 2 threads: {seconds:.2f} s")
    pixels = np.asarray(Image.open(FACE).convert("RGB"), np.float32)
    assert np.abs(x[0].permute(1, 2, 0).numpy() - (pixels / 255 * 2 - 1)).max() < 1e-6  # a copy
    np.savez_compressed(
        args.out / "golden.npz",
        landmarks=landmarks.astype(np.float32),
        boxes=boxes,
        output_every3=y.numpy()[:, :, ::3, ::3].astype(np.float32),
        train_mode_every3=y_train.numpy()[:, :, ::3, ::3].astype(np.float32),
    )


if __name__ == "__main__":
    main()
