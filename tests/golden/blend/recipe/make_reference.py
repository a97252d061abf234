"""Make the paste-back reference: facexlib's FaceRestoreHelper.paste_faces_to_input_image output.

Run with the scratch environment that has facexlib (see README.md next to this file); it never
imports facert (it reads export/harness/fill.py by path: the deterministic ParseNet weights). For each case it feeds fixed landmarks (no detector) to the official helper, lets
facexlib estimate the affine and warp-crop the faces, makes a "restored" face from each crop
(the crop mirrored left-right with a fixed colour shift, so the pasted face differs from the photo
under it and the seam, the mask shape and the placement all show), pastes them back for
upscale 1 and 2, and writes the region of the output that differs from facexlib's background (plus a
margin) as a lossless PNG, with every number the test needs in cases.json. Then the same with
``use_parse=True`` (``*_parse_x*.png``): facexlib's ParseNet holding deterministic weights (fill.py's
rule, written as a .pth and loaded as facexlib loads its file) parses each restored face; its class
map, through facexlib's MASK_COLORMAP (0 or 255 at 512 px), is kept as ``*_parse_face<i>.png``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
from pathlib import Path

import cv2
import facexlib
import facexlib.utils.face_restoration_helper as helper_module
import matplotlib
import numpy as np
import skimage
import torch
from facexlib.parsing.parsenet import ParseNet

REPOSITORY = Path(__file__).resolve().parents[4]
COLOUR_SHIFT_BGR = (30, -20, 10)
# facexlib's MASK_COLORMAP: 0 for background, neck, cloth, hair, hat; 255 for the other classes
MASK_COLORMAP = [0 if c in (0, 14, 16, 17, 18) else 255 for c in range(19)]
FACE_SIZE = 512
MARGIN = 4  # pixels of unchanged background kept around the changed region

# Landmarks from facenet-pytorch 2.6.0 MTCNN on the full photos (left eye, right eye, nose, mouth
# corners), rounded to 2 decimals; the other faces are made from them and rounded the same way.
GRACE = [[221.67, 192.21], [309.83, 186.13], [269.36, 239.17], [232.65, 279.65], [306.64, 275.93]]
ASTRONAUT = [
    [205.01, 101.73],
    [246.76, 103.71],
    [224.67, 128.96],
    [201.72, 139.25],
    [245.27, 141.86],
]


def moved(landmarks: list, angle_deg: float, scale: float, shift: tuple) -> list:
    """The landmarks rotated and scaled about their centroid, then shifted; rounded to 0.01 px."""
    points = np.asarray(landmarks, dtype=np.float64)
    centre = points.mean(axis=0)
    angle = np.deg2rad(angle_deg)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    out = (points - centre) @ rotation.T * scale + centre + np.asarray(shift)
    return np.round(out, 2).tolist()


def halved(landmarks: list) -> list:
    """The landmarks in the photo resized to half its width and height."""
    return np.round(np.asarray(landmarks, dtype=np.float64) * 0.5, 2).tolist()


GRACE_HALF = halved(GRACE)

CASES = [
    # one real face
    {"name": "grace_single", "image": "grace_hopper", "faces": [GRACE]},
    # in the photo at half size (smaller files): the real face, a second one overlapping it (pasted
    # later, so on top), a tiny one (its eroded mask is under 400 px at x1, so w_edge is 0)
    {
        "name": "grace_overlap",
        "image": "grace_hopper",
        "frame_size": [256, 300],  # (width, height): the photo resized with INTER_AREA first
        "faces": [
            GRACE_HALF,
            moved(GRACE_HALF, 25.0, 0.6, (75, 85)),
            moved(GRACE_HALF, -10.0, 0.1, (-85, 145)),
        ],
    },
    # the astronaut's face in a sub-frame whose top and left edges cut the face square
    {
        "name": "astronaut_edge",
        "image": "astronaut",
        "frame_slice": [60, 512, 150, 512],  # rows y0:y1, columns x0:x1 of the photo
        "faces": [moved(ASTRONAUT, 0.0, 1.0, (-150, -60))],
    },
]


def photo(name: str) -> np.ndarray:
    if name == "grace_hopper":
        path = Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg"
    else:
        path = Path(skimage.__file__).parent / "data" / "astronaut.png"
    image = cv2.imread(str(path))
    if image is None:
        raise SystemExit(f"cannot read {path}")
    return image


def make_helper(upscale: int, parser: ParseNet | None = None) -> helper_module.FaceRestoreHelper:
    """The official helper with its detector left out (landmarks are given); ``use_parse`` with
    ``parser`` as its parsing model, else no parser."""
    helper_module.init_detection_model = lambda *args, **kwargs: None
    helper_module.init_parsing_model = lambda *args, **kwargs: parser
    return helper_module.FaceRestoreHelper(
        upscale, face_size=FACE_SIZE, use_parse=parser is not None, device="cpu"
    )


def deterministic_parsenet(path: Path) -> ParseNet:
    """facexlib's ParseNet(512, 512, 19) with fill.py's deterministic weights: written to ``path``
    as a plain state dict (unless there), then loaded from it as init_parsing_model loads its file."""
    if not path.is_file():
        spec = importlib.util.spec_from_file_location(
            "fill", REPOSITORY / "export" / "harness" / "fill.py"
        )
        fill = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(fill)
        model = ParseNet(in_size=512, out_size=512, parsing_ch=19)
        torch.save(fill.deterministic_state_dict(model), path)
    model = ParseNet(in_size=512, out_size=512, parsing_ch=19)
    model.load_state_dict(torch.load(path, map_location="cpu"), strict=True)
    return model.eval()


def restored_from(crop: np.ndarray) -> np.ndarray:
    """The crop (S, S, 3) uint8 BGR mirrored left-right, plus COLOUR_SHIFT_BGR, clipped."""
    shifted = crop[:, ::-1].astype(np.int16) + np.asarray(COLOUR_SHIFT_BGR, dtype=np.int16)
    return np.clip(shifted, 0, 255).astype(np.uint8)


def run_case(
    case: dict, upscale: int, out_dir: Path, parser: ParseNet | None = None
) -> tuple[list, dict]:
    frame = photo(case["image"])
    if case.get("frame_size"):
        frame = cv2.resize(frame, tuple(case["frame_size"]), interpolation=cv2.INTER_AREA)
    if case.get("frame_slice"):
        y0, y1, x0, x1 = case["frame_slice"]
        frame = np.ascontiguousarray(frame[y0:y1, x0:x1])
    helper = make_helper(upscale, parser)
    maps: list[np.ndarray] = []  # each face's class map, as facexlib's paste computes it
    hook = None
    if parser is not None:
        hook = parser.register_forward_hook(
            lambda module, inputs, output: maps.append(output[0].argmax(dim=1)[0].numpy())
        )
    helper.read_image(frame)
    helper.all_landmarks_5 = [np.asarray(f, dtype=np.float64) for f in case["faces"]]
    helper.align_warp_face()
    helper.get_inverse_affine()
    for crop in helper.cropped_faces:
        helper.add_restored_face(restored_from(crop))
    affines = [m.tolist() for m in helper.affine_matrices]
    output = helper.paste_faces_to_input_image()
    if hook is not None:
        hook.remove()
    h, w = frame.shape[:2]
    background = cv2.resize(
        frame, (int(w * upscale), int(h * upscale)), interpolation=cv2.INTER_LANCZOS4
    )
    ys, xs = np.nonzero(np.any(output != background, axis=2))
    x0 = max(int(xs.min()) - MARGIN, 0)
    y0 = max(int(ys.min()) - MARGIN, 0)
    x1 = min(int(xs.max()) + 1 + MARGIN, output.shape[1])
    y1 = min(int(ys.max()) + 1 + MARGIN, output.shape[0])
    kind = "_parse" if parser is not None else ""
    file_name = f"{case['name']}{kind}_x{upscale}.png"
    cv2.imwrite(str(out_dir / file_name), output[y0:y1, x0:x1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
    result = {"upscale": upscale, "box": [x0, y0, x1, y1], "file": file_name}
    if parser is not None:
        result["masks"] = []
        for index, classes in enumerate(maps):
            mask_file = f"{case['name']}_parse_face{index}.png"
            mask = np.asarray(MASK_COLORMAP, dtype=np.uint8)[classes]
            cv2.imwrite(str(out_dir / mask_file), mask, [cv2.IMWRITE_PNG_COMPRESSION, 9])
            result["masks"].append(mask_file)
    return affines, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="tests/golden/blend")
    parser.add_argument(
        "--parsenet",
        type=Path,
        required=True,
        help="the deterministic ParseNet .pth (made if absent)",
    )
    args = parser.parse_args()
    out_dir = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    parsenet = deterministic_parsenet(args.parsenet)
    records = []
    for case in CASES:
        results, parse_results = [], []
        for upscale in (1, 2):
            affines, result = run_case(case, upscale, out_dir)
            results.append(result)
            parse_results.append(run_case(case, upscale, out_dir, parsenet)[1])
        faces = [{"landmarks": f, "affine": a} for f, a in zip(case["faces"], affines, strict=True)]
        records.append({**case, "faces": faces, "results": results, "parse_results": parse_results})
    facts = {
        "made_by": "tests/golden/blend/recipe/make_reference.py",
        "facexlib": facexlib.__version__,
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "face_size": FACE_SIZE,
        "restored": "crop[:, ::-1] + colour_shift_bgr, clipped to [0, 255]",
        "colour_shift_bgr": list(COLOUR_SHIFT_BGR),
        "background": "cv2.resize(frame, (int(w*up), int(h*up)), INTER_LANCZOS4), facexlib's default",
        "parse": {
            "parsenet": "facexlib ParseNet(512, 512, 19), export/harness/fill.py "
            "deterministic_state_dict, saved with torch.save and loaded strictly",
            "torch": torch.__version__.split("+")[0],
            "masks": "MASK_COLORMAP[argmax of the logits] at 512 px, uint8 0/255, per face",
        },
        "cases": records,
    }
    (out_dir / "cases.json").write_text(json.dumps(facts, indent=1) + "\n")
    print(os.linesep.join(f"{r['name']}: {[x['box'] for x in r['results']]}" for r in records))


if __name__ == "__main__":
    main()
