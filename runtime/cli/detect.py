"""``facert detect IMAGE [--json]``: the faces MTCNN finds in one image.

With ``--json`` it prints the contract of docs/design.md: a JSON array, one object per face,
``{"box": [x1, y1, x2, y2], "score": s, "landmarks": [[x, y] x 5]}`` in original image pixels,
landmarks ordered left eye, right eye (as seen in the image), nose, left and right mouth corner.
Without it, a short table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from facert.config import Settings
from facert.errors import UsageError
from facert.io.images import read_image
from facert.models.specs import DEFAULT_DETECTOR
from facert.stages.faces import Face, check_filters, select_faces


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "detect",
        help="find faces (box, score, 5 landmarks) in an image",
        description="Find the faces in IMAGE (MTCNN unless --detector says otherwise). Coordinates are original image pixels.",
    )
    parser.add_argument("image", type=Path, metavar="IMAGE", help="the image file")
    parser.add_argument("--json", action="store_true", help="print a JSON array (the contract)")
    parser.add_argument(
        "--detector",
        default=DEFAULT_DETECTOR,
        metavar="NAME",
        help=f"face detector (default: {DEFAULT_DETECTOR})",
    )
    parser.add_argument(
        "--min-face", type=float, default=20, metavar="PX", help="smallest face, pixels (20)"
    )
    parser.add_argument(
        "--thresholds",
        type=float,
        nargs=3,
        metavar=("P", "R", "O"),
        help="MTCNN only: face probabilities P-Net, R-Net and O-Net must reach (0.6 0.7 0.7)",
    )
    add_face_filters(parser)
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument(
        "--only-center-face", action="store_true", help="keep only the face nearest the centre"
    )
    choice.add_argument("--largest", action="store_true", help="keep only the largest face")
    parser.set_defaults(run=run_detect)


def add_face_filters(parser: argparse.ArgumentParser) -> None:
    """``--max-face`` and ``--min-score`` (checked by :func:`facert.stages.faces.check_filters`),
    for ``facert detect`` and every front end that restores."""
    parser.add_argument(
        "--max-face", type=float, default=0.0, metavar="PX", help="largest face kept (no limit)"
    )
    parser.add_argument(
        "--min-score", type=float, default=0.0, metavar="S", help="lowest detection score kept (0)"
    )


def run_detect(args: argparse.Namespace, settings: Settings) -> int:
    from facert.stages.detect import detector_spec, open_detector

    spec = detector_spec(args.detector)  # a wrong name is bad usage: found before the image is read
    options: dict[str, Any] = {"min_face_size": args.min_face}
    if args.thresholds is not None:
        if spec.family != "mtcnn":
            raise UsageError(f"--thresholds are MTCNN's cascade thresholds; {spec.name} has none")
        options["thresholds"] = tuple(args.thresholds)
    check_filters(args.max_face, args.min_score)
    image = read_image(args.image, settings.max_pixels).bgr
    detector = open_detector(settings, args.detector, **options)
    try:
        faces = detector.detect(image)
    finally:
        detector.close()
    height, width = image.shape[:2]
    faces = select_faces(
        faces,
        (width, height),
        only_center=args.only_center_face,
        largest=args.largest,
        max_size=args.max_face,
        min_score=args.min_score,
    )
    if args.json:
        print(json.dumps([face.to_json() for face in faces]))
    else:
        print(_table(args.image, width, height, faces))
    return 0


def _table(path: Path, width: int, height: int, faces: list[Face]) -> str:
    lines = [f"{path}: {width}x{height}, {len(faces)} face{'s' if len(faces) != 1 else ''}"]
    if faces:
        lines.append("  #  score    x1      y1      x2      y2     size")
    for number, face in enumerate(faces, 1):
        x1, y1, x2, y2 = (float(v) for v in face.box)
        lines.append(
            f"{number:3d}  {face.score:.3f} {x1:7.1f} {y1:7.1f} {x2:7.1f} {y2:7.1f}  "
            f"{x2 - x1:.0f}x{y2 - y1:.0f}"
        )
    return "\n".join(lines)
