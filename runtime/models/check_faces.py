"""The fixed faces and option values a restorer's artifacts are checked on, the same on every machine.

The export harness (:mod:`facert.export.harness`) checks an export's FP32 and FP16 graphs on them;
the run-time accuracy gate (:mod:`facert.models.gate`) checks BF16 and INT8 artifacts on them, and
INT8 calibration starts from them. A *case* is one value per graph-input option
(``{"fidelity": 1.0}``; ``{}`` for a model without options): every check runs at every case the spec
asks for (:func:`option_cases`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from facert.errors import ExportError
from facert.models.registry import ModelSpec

Options = Mapping[str, float]  # graph-input option name -> value: one case of the checks
BATCH = 4
# The degraded copy of each sample face: an old photo's face, a few dozen pixels wide and JPEG
# compressed, as the restorers meet them (load_faces upsamples it to the network's size).
SMALL_FACE_SIZE = 48
SMALL_FACE_JPEG_QUALITY = 60

FaceImage = tuple[str, np.ndarray]  # a name and an aligned face, (S, S, 3) uint8 BGR


def read_face(path: Path) -> FaceImage:
    image: np.ndarray | None = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ExportError("cannot read this face image", path=str(path))
    return path.name, image


def default_faces() -> list[FaceImage]:
    """The fixed check faces of a learned export, the same on every machine: the sample photos'
    faces (:mod:`facert.demo.samples`, photos that ship inside matplotlib and scikit-image) aligned
    at 512 px, then each of them degraded (:func:`small_face`). Extra faces are only ever added on
    request (``facert models export --check-faces DIR``), never found on the disk."""
    from facert.demo.samples import SAMPLES, aligned_face

    faces = [(f"{name}.png", aligned_face(name)) for name in sorted(SAMPLES)]
    return faces + [small_face(name, image) for name, image in faces]


def small_face(name: str, image: np.ndarray) -> FaceImage:
    """``image`` (an aligned face, uint8 BGR) shrunk to SMALL_FACE_SIZE px (area average) and
    JPEG-compressed at SMALL_FACE_JPEG_QUALITY: (SMALL_FACE_SIZE, SMALL_FACE_SIZE, 3) uint8 BGR,
    named after ``name`` ("astronaut.png" -> "astronaut-48px-q60.jpg")."""
    size, quality = SMALL_FACE_SIZE, SMALL_FACE_JPEG_QUALITY
    small = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    _, encoded = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    if decoded is None:  # cannot happen: OpenCV decodes the JPEG it just encoded
        raise ExportError(f"OpenCV cannot decode its own JPEG of {name}")
    return f"{Path(name).stem}-{size}px-q{quality}.jpg", decoded


def load_faces(
    spec: ModelSpec, faces: Sequence[Path | FaceImage], count: int = BATCH
) -> tuple[np.ndarray, list[str]]:
    """(count, 3, S, S) float32 network inputs (spec's colour order and range) and their names.

    ``faces`` are files or (name, image) pairs. Images are resized to the spec's input size when
    needed; with fewer images than ``count`` the rest are mirrored copies (named "<name>
    mirrored"), so every row of a batch differs.
    """
    size = spec.input_size
    low, high = spec.input_range
    named = [read_face(f) if isinstance(f, Path) else f for f in faces]
    rows, names = [], []
    for index in range(count):
        name, image = named[index % len(named)]
        if image.shape[:2] != (size, size):
            shrink = image.shape[0] > size
            interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
            image = cv2.resize(image, (size, size), interpolation=interpolation)
        mirrored = (index // len(named)) % 2 == 1
        if mirrored:
            image = image[:, ::-1]
        names.append(f"{name} mirrored" if mirrored else name)
        if spec.color_order == "RGB":
            image = image[:, :, ::-1]
        values = image.astype(np.float32) / 255.0 * (high - low) + low
        rows.append(values.transpose(2, 0, 1))
    return np.ascontiguousarray(np.stack(rows)), names


def option_names(spec: ModelSpec) -> list[str]:
    return [option.name for option in spec.options if option.graph_input]


def option_cases(spec: ModelSpec) -> list[dict[str, float]]:
    """Every graph-input option at its default, then each of its ``checked_values`` (the others at
    their defaults), without repeats. Raises :class:`ExportError` for a value outside its range."""
    inputs = [option for option in spec.options if option.graph_input]
    defaults = {option.name: option.default for option in inputs}
    cases = [defaults]
    for option in inputs:
        for value in option.checked_values:
            if not option.minimum <= value <= option.maximum:
                raise ExportError(
                    f"{spec.name}: checked value {value} of {option.name} is outside "
                    f"[{option.minimum}, {option.maximum}]"
                )
            case = {**defaults, option.name: value}
            if case not in cases:
                cases.append(case)
    return cases


def case_label(case: Options) -> str:
    """ " (fidelity=0.5)" for messages; empty without options."""
    return f" ({', '.join(f'{k}={v:g}' for k, v in case.items())})" if case else ""


def option_arrays(spec: ModelSpec, case: Options, rows: int) -> list[np.ndarray]:
    """Each graph-input option's value in ``case``, as (rows,) float32, in the graph's input order."""
    return [np.full((rows,), case[name], np.float32) for name in option_names(spec)]


def peak_to_peak(spec: ModelSpec, reference: np.ndarray) -> float:
    """The PSNR peak of a check: the output range's width, or ``reference``'s own peak to peak
    when it is wider (random test weights)."""
    width = spec.output_range[1] - spec.output_range[0]
    return max(width, float(reference.max() - reference.min()))
