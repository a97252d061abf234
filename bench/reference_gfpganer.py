"""The official GFPGANer pipeline on one photo, for bench_learned.py's end-to-end comparison.

Runs in a reference environment with the official ``gfpgan`` (1.3.8), ``basicsr`` and ``facexlib``
(0.3.0) packages (bench/README.md says how to build it); facert is not needed there. GFPGANer's own
``__init__`` and ``enhance()`` run unchanged (GFPGANv1Clean in PyTorch eager, facexlib's alignment
and paste-back), with these stand-ins, because their weights cannot be downloaded here:

- the face detector (RetinaFace-ResNet50, downloaded by facexlib at init): replaced by an object
  whose ``detect_faces`` returns the faces handed over in ``--faces`` (facert's MTCNN boxes, scores
  and 5 landmarks, written by bench_learned.py) as RetinaFace rows; detection therefore costs
  nothing here;
- the face parser (ParseNet, downloaded at init): not built; ``use_parse=False``, so the paste-back
  uses facexlib's square eroded mask instead of the parsing mask;
- the GFPGAN checkpoint: the deterministic fill written by bench_learned.py, in the official layout.

    python bench/reference_gfpganer.py --checkpoint W.pth --faces faces.json --frame F.png \
        --output out.png [--threads 2]

Prints one JSON line: seconds for GFPGANer's construction (with the checkpoint load), for the photo
(``cv2.imread``, ``enhance``, ``cv2.imwrite``, as inference_gfpgan.py does it) and for ``enhance``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

START = time.perf_counter()


class HandedOverFaces:
    """Stands in for facexlib's RetinaFace: ``detect_faces`` returns fixed rows
    ``[x1, y1, x2, y2, score, 5 x (x, y)]`` (frame pixels), whatever the image."""

    def __init__(self, rows: np.ndarray) -> None:
        self.rows = rows

    def detect_faces(self, image: np.ndarray, conf_threshold: float = 0.8) -> np.ndarray:
        return self.rows.copy()


def face_rows(path: Path) -> np.ndarray:
    faces = json.loads(path.read_text())
    rows = [[*f["box"], f["score"], *np.ravel(f["landmarks"])] for f in faces]
    return np.array(rows, np.float32).reshape(-1, 15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--faces", type=Path, required=True)
    parser.add_argument("--frame", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import cv2
    import torch
    import torchvision.transforms.functional as functional

    # basicsr 1.4.2 imports a module that torchvision 0.17 removed; its one function lives here now.
    sys.modules.setdefault("torchvision.transforms.functional_tensor", functional)
    import facexlib.utils.face_restoration_helper as helper
    from gfpgan import GFPGANer

    torch.set_num_threads(args.threads)
    detector = HandedOverFaces(face_rows(args.faces))
    helper.init_detection_model = lambda *a, **k: detector  # type: ignore[assignment]
    helper.init_parsing_model = lambda *a, **k: None  # type: ignore[assignment]
    begin = time.perf_counter()
    restorer = GFPGANer(
        model_path=str(args.checkpoint),
        upscale=1,
        arch="clean",
        channel_multiplier=2,
        bg_upsampler=None,
        device=torch.device("cpu"),
    )
    restorer.face_helper.use_parse = False
    init = time.perf_counter() - begin

    begin = time.perf_counter()
    image = cv2.imread(str(args.frame), cv2.IMREAD_COLOR)
    start_enhance = time.perf_counter()
    _, restored_faces, output = restorer.enhance(image, paste_back=True, weight=0.5)
    enhance = time.perf_counter() - start_enhance
    cv2.imwrite(str(args.output), output)
    photo = time.perf_counter() - begin
    report = {
        "init_s": init,
        "photo_s": photo,
        "enhance_s": enhance,
        "faces": len(restored_faces),
        "since_start_s": time.perf_counter() - START,
        "torch": torch.__version__,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
