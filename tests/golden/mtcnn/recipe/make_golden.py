"""Golden MTCNN detections from the official facenet-pytorch 2.6.0 code (see README.md here).

Runs ``facenet_pytorch.MTCNN(...).detect(image, landmarks=True)`` with the default settings on
matplotlib's grace_hopper.jpg, scikit-image's astronaut.png and every photo in
``<shared>/data/real-inputs/*-whole/``, and writes ``golden.json``: per image its source, its
(height, width), and every face as box ``[x1, y1, x2, y2]``, score and five ``[x, y]`` landmarks in
original image pixels, in the order facenet-pytorch returns them (largest box first).

Images are decoded with OpenCV (``cv2.IMREAD_COLOR``: BGR, alpha dropped) and handed to
facenet-pytorch as (H, W, 3) uint8 RGB numpy arrays, exactly the pixels facert's tests decode.
This script imports the official package from a scratch environment; it is never imported by facert.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import skimage
import torch
import torchvision
from facenet_pytorch import MTCNN

SETTINGS = {"min_face_size": 20, "thresholds": [0.6, 0.7, 0.7], "factor": 0.709}


def sources(shared: Path) -> list[tuple[str, Path]]:
    """(name recorded in golden.json, file) for every image of the golden set."""
    mpl = Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg"
    ski = Path(skimage.__file__).parent / "data" / "astronaut.png"
    found = [("matplotlib:grace_hopper.jpg", mpl), ("skimage:astronaut.png", ski)]
    for path in sorted(shared.glob("data/real-inputs/*-whole/*")):
        if path.suffix.lower() in {".jpg", ".jpeg", ".png"}:
            found.append((f"shared:{path.relative_to(shared).as_posix()}", path))
    return found


def detect(mtcnn: MTCNN, path: Path) -> dict:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"{path}: cannot decode")
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    boxes, probs, points = mtcnn.detect(rgb, landmarks=True)
    faces = []
    if boxes is not None:
        for box, prob, landmarks in zip(boxes, probs, points, strict=True):
            faces.append(
                {
                    "box": [round(float(v), 4) for v in box],
                    "score": round(float(prob), 6),
                    "landmarks": [[round(float(x), 4), round(float(y), 4)] for x, y in landmarks],
                }
            )
    return {"size": [int(bgr.shape[0]), int(bgr.shape[1])], "faces": faces}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--shared", type=Path, required=True, help="the shared folder (/work/shared)"
    )
    parser.add_argument("-o", "--output", type=Path, required=True, help="golden.json to write")
    args = parser.parse_args()
    torch.set_num_threads(1)  # deterministic summation order
    mtcnn = MTCNN(
        min_face_size=SETTINGS["min_face_size"],
        thresholds=SETTINGS["thresholds"],
        factor=SETTINGS["factor"],
        device="cpu",
    )
    images = {name: detect(mtcnn, path) for name, path in sources(args.shared)}
    golden = {
        "producer": "facenet_pytorch.MTCNN.detect(image, landmarks=True)",
        "settings": SETTINGS,
        "versions": {
            "facenet_pytorch": importlib.metadata.version("facenet-pytorch"),
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "numpy": np.__version__,
            "opencv": cv2.__version__,
            "python": platform.python_version(),
        },
        "images": images,
    }
    args.output.write_text(json.dumps(golden, indent=1) + "\n")
    for name, entry in images.items():
        print(f"{name}: {len(entry['faces'])} faces")


if __name__ == "__main__":
    main()
