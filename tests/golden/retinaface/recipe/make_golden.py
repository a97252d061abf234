"""Golden outputs and key lists of facexlib's OFFICIAL RetinaFace (run in a scratch env).

Imports facexlib 0.3.0 (``pip install --no-deps facexlib==0.3.0``). Its RetinaFace needs torchvision
for ``IntermediateLayerGetter``, ``resnet50`` and ``ops.nms``; the only torchvision 0.28.0 wheel at
hand is built for CUDA torch, so its C++ ops cannot load beside torch 2.13.0+cpu. The recipe
imports torchvision's Python code all the same (its ``_meta_registrations`` module, which only
registers shape functions for those C++ ops, is replaced by an empty module) and puts ONE stand-in
in place: ``torchvision.ops.nms``, written here after torchvision's documented semantics (boxes
visited by descending score; a box is dropped when its IoU with a kept one exceeds the threshold;
areas ``(x2 - x1) * (y2 - y1)``). ResNet-50, ``IntermediateLayerGetter``, facexlib's network,
anchors, decoding, thresholding and sorting are the real code. Weights come from facert's
``export/harness/fill.py`` (loaded by path: values from the key names alone, so facert's port gets
identical weights; BatchNorm running statistics near 0 / 1, so activations stay finite). Each state
dict is saved with DataParallel's ``module.`` prefix on every key, as
``detection_<backbone>_Final.pth`` in a temporary folder, and loaded the official way:
``init_detection_model(name, device="cpu", model_rootpath=folder)`` (facexlib finds the file there
and downloads nothing; it strips the prefix and loads strictly).

For each variant and input (grace_hopper.jpg, 512 x 600, and astronaut.png, 512 x 512, BGR; and a
small copy of each, area-resized to 96 x 80, for the default test suite):

- ``<v>_<img>_loc``, ``_conf``, ``_landmarks``: ``model(image - mean)``, the raw head outputs;
- ``<v>_<img>_dets`` (N, 15): ``model.detect_faces(image, conf_threshold, 0.4)`` rows
  [x1, y1, x2, y2, score, 5 x (x, y)], with ``<v>_<img>_threshold`` chosen so that about 40
  anchors pass (deterministic weights find no real faces: a lowered threshold gives boxes for
  the decode and suppression to act on);
- ``<img>`` / ``<img>_small``: the uint8 BGR input itself.

    python tests/golden/retinaface/recipe/make_golden.py --out tests/golden/retinaface

also writes keys_resnet50.txt and keys_mobile0.25.txt (the official classes built on the meta
device: key, shape, dtype).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import sys
import tempfile
import types
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import skimage
import torch

sys.modules["torchvision._meta_registrations"] = types.ModuleType("torchvision._meta_registrations")
import torchvision  # noqa: E402


def stand_in_nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """torchvision.ops.nms's documented semantics, in plain torch (see the module docstring)."""
    order = torch.argsort(scores, descending=True, stable=True)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    removed = torch.zeros(len(order), dtype=torch.bool)
    for rank, index in enumerate(order.tolist()):
        if removed[rank]:
            continue
        keep.append(index)
        rest = order[rank + 1 :]
        low = torch.maximum(boxes[index, :2], boxes[rest, :2])
        high = torch.minimum(boxes[index, 2:], boxes[rest, 2:])
        inter = (high - low).clamp(min=0).prod(dim=1)
        iou = inter / (areas[index] + areas[rest] - inter)
        removed[rank + 1 :] |= iou > iou_threshold
    return torch.tensor(keep, dtype=torch.int64)


torchvision.ops.nms = stand_in_nms
from facexlib.detection import init_detection_model  # noqa: E402
from facexlib.detection.retinaface import RetinaFace  # noqa: E402

REPO = Path(__file__).resolve().parents[4]
VARIANTS = {  # facert's name: (facexlib's model name, network_name, file)
    "r50": ("retinaface_resnet50", "resnet50", "detection_Resnet50_Final.pth"),
    "mnet": ("retinaface_mobile0.25", "mobile0.25", "detection_mobilenet0.25_Final.pth"),
}
SMALL = (96, 80)  # (width, height) of the small inputs
PASSING = 40  # anchors above the lowered threshold
FULL_EVERY = 4  # full-size head outputs are stored for every 4th anchor (file size)


def fill_module():
    path = REPO / "export" / "harness" / "fill.py"
    spec = importlib.util.spec_from_file_location("facert_fill", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def images() -> dict[str, np.ndarray]:
    grace = cv2.imread(
        str(Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg")
    )
    astronaut = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    found = {"grace_hopper": grace, "astronaut": astronaut}
    for name in list(found):
        found[f"{name}_small"] = cv2.resize(found[name], SMALL, interpolation=cv2.INTER_AREA)
    return found


def write_keys(network: str, path: Path) -> None:
    with torch.device("meta"):
        model = RetinaFace(network_name=network, device=torch.device("meta"))
    lines = [
        f"{k}\t{tuple(v.shape)}\t{str(v.dtype).removeprefix('torch.')}"
        for k, v in model.state_dict().items()
    ]
    path.write_text("\n".join(lines) + "\n")


def calibrate(model: torch.nn.Module, blob: torch.Tensor) -> None:
    """BatchNorm running statistics = the batch statistics of one forward pass on ``blob``."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average: after one pass, that pass's statistics
    model.train()
    model(blob)
    model.eval()


def official(variant: str, folder: Path, fill, calibration: torch.Tensor):
    """facexlib's model loaded the official way from a file of deterministic weights, and the
    calibrated BatchNorm statistics in that file."""
    name, network, filename = VARIANTS[variant]
    template = RetinaFace(network_name=network, device="cpu")
    template.load_state_dict(fill.deterministic_state_dict(template))
    calibrate(template, calibration - template.mean_tensor)
    state = template.state_dict()
    torch.save({f"module.{k}": v for k, v in state.items()}, folder / filename)
    stats = {
        f"{variant}_stats/{k}": v.numpy()
        for k, v in state.items()
        if k.endswith(("running_mean", "running_var"))
    }
    return init_detection_model(name, device="cpu", model_rootpath=str(folder)), stats


def as_blob(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.astype(np.float32).transpose(2, 0, 1)[None])


def run_case(model, key: str, image: np.ndarray, every: int) -> dict[str, np.ndarray]:
    """Head outputs (anchors ``::every``), the lowered threshold and detect_faces' rows."""
    loc, conf, landmarks = (t.numpy() for t in model(as_blob(image) - model.mean_tensor))
    scores = np.sort(conf[0, :, 1])[::-1]
    threshold = float((scores[PASSING - 1] + scores[PASSING]) / 2)
    rows = model.detect_faces(image, threshold, 0.4)
    print(
        f"{key}: {conf.shape[1]} anchors, threshold {threshold:.6f}, {len(rows)} boxes kept, "
        f"|loc| <= {np.abs(loc).max():.3g}, |landmarks| <= {np.abs(landmarks).max():.3g}"
    )
    return {
        f"{key}_loc": loc[:, ::every],
        f"{key}_conf": conf[:, ::every],
        f"{key}_landmarks": landmarks[:, ::every],
        f"{key}_threshold": np.float32(threshold),
        f"{key}_dets": rows.astype(np.float32),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "golden" / "retinaface")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    for _, network, _ in VARIANTS.values():
        write_keys(network, args.out / f"keys_{network}.txt")
    fill = fill_module()
    photos = images()
    golden: dict[str, np.ndarray] = {
        name: image for name, image in photos.items() if name.endswith("_small")
    }
    for name in ("grace_hopper", "astronaut"):  # the full photos are read by the tests
        golden[f"{name}_sha256"] = np.array(hashlib.sha256(photos[name].tobytes()).hexdigest())
    with tempfile.TemporaryDirectory() as folder:
        for variant in VARIANTS:
            model, stats = official(variant, Path(folder), fill, as_blob(photos["grace_hopper"]))
            golden.update(stats)
            for name, image in photos.items():
                every = 1 if name.endswith("_small") else FULL_EVERY
                golden.update(run_case(model, f"{variant}_{name}", image, every))
    np.savez_compressed(args.out / "golden.npz", **golden)


if __name__ == "__main__":
    main()
