"""The parse mask of ``--mask parse``: facexlib's ``use_parse=True`` mask of a restored face.

facexlib's ``FaceRestoreHelper.paste_faces_to_input_image`` with ``use_parse=True`` (what GFPGAN,
RestoreFormer++ and CodeFormer's helpers pass) makes each face's mask from the restored face itself:

1. the restored face resized to 512 (bilinear), BGR -> RGB, ``(x / 255 - 0.5) / 0.5``;
2. ParseNet (``parsing_parsenet.pth``, 19 classes) and the per-pixel argmax of its logits;
3. 255 for the face's classes, 0 for background (0), neck (14), cloth (16), hair (17) and hat (18)
   (:data:`MASK_COLORMAP`);
4. ``GaussianBlur((101, 101), 11)`` twice; a 10-pixel border set to 0; / 255;
5. resized to the restored face's size, warped into the frame with the inverse affine; the face is
   pasted under it as it is (no eroded square mask: the parse mask is 0 well inside the crop).

Here steps 1-2 run on facert's engines (``parsenet.onnx``, :class:`FaceParser`; no torch), steps
3-4 are :func:`soft_mask` ((S, S) float32 [0, 1] in crop pixels), and step 5 is the paste
(:func:`facert.stages.blend.paste.paste_faces` with ``masks``). The blur runs in float32 (facexlib's
in float64: 1e-6 apart). CodeFormer's own helper copy (``facelib``) differs: it takes the elementwise
minimum of this mask and the feathered square mask; facert follows facexlib.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

import cv2
import numpy as np

from facert.backends import Engine, engine_for
from facert.backends.base import Lifecycle
from facert.errors import FacertError, UsageError
from facert.models.artifacts import Artifact
from facert.models.registry import ModelSpec

Mask = Literal["square", "parse"]
MASKS: tuple[str, ...] = get_args(Mask)
PARSER = "parsenet"  # the spec --mask parse runs
PARSE_SIZE = 512  # facexlib resizes every restored face to this before parsing
# facexlib's MASK_COLORMAP: 255 keeps a class (skin, brows, eyes, ears, nose, mouth, lips...), 0
# drops it (0 background, 14 neck, 16 cloth, 17 hair, 18 hat).
DROPPED_CLASSES = (0, 14, 16, 17, 18)
MASK_COLORMAP = tuple(0 if c in DROPPED_CLASSES else 255 for c in range(19))
BLUR_SIZE, BLUR_SIGMA, BLUR_PASSES = 101, 11, 2
BORDER = 10  # parse-grid pixels zeroed along each edge after the blur
_LEVELS = np.asarray(MASK_COLORMAP, dtype=np.float32)


def check_mask(name: str) -> Mask:
    """``name`` as a :data:`Mask`; :class:`UsageError` listing the masks otherwise."""
    if name not in MASKS:
        raise UsageError(f"unknown paste mask {name!r}; choose one of {', '.join(MASKS)}")
    return name  # type: ignore[return-value]


def parse_inputs(restored: np.ndarray) -> np.ndarray:
    """ParseNet's inputs from restored faces ((N, S, S, 3) uint8 BGR): (N, 3, 512, 512) float32
    RGB in [-1, 1], each face resized to 512 bilinearly first (facexlib's)."""
    faces = [
        face if face.shape[0] == PARSE_SIZE else cv2.resize(face, (PARSE_SIZE, PARSE_SIZE))
        for face in restored
    ]
    planes = np.stack(faces)[..., ::-1].transpose(0, 3, 1, 2).astype(np.float32)
    return np.ascontiguousarray(planes / np.float32(127.5) - np.float32(1.0))


def soft_mask(classes: np.ndarray, size: int) -> np.ndarray:
    """facexlib's soft parse mask from a (512, 512) integer class map (0..18): (size, size)
    float32 in [0, 1] (to float32 rounding: the blur may give 1 + 1e-6), on the restored face's
    pixel grid."""
    return soft_mask_of_levels(_LEVELS[classes], size)


def soft_mask_of_levels(levels: np.ndarray, size: int) -> np.ndarray:
    """:func:`soft_mask` from the class map already through :data:`MASK_COLORMAP` ((512, 512),
    0 or 255, any real or uint8 dtype)."""
    mask: np.ndarray = levels.astype(np.float32)
    for _ in range(BLUR_PASSES):
        mask = cv2.GaussianBlur(mask, (BLUR_SIZE, BLUR_SIZE), BLUR_SIGMA)
    mask[:BORDER], mask[-BORDER:], mask[:, :BORDER], mask[:, -BORDER:] = 0, 0, 0, 0
    mask *= np.float32(1 / 255)
    if mask.shape[0] != size:
        mask = cv2.resize(mask, (size, size))
    return mask


class FaceParser(Lifecycle):
    """ParseNet on ``engine`` (``parsenet.onnx``: ``image`` -> ``parsing`` logits): the parse
    masks of restored faces. Cheap to construct; :meth:`open` opens the engine."""

    def __init__(self, spec: ModelSpec, engine: Engine) -> None:
        if spec.role != "parser":
            raise UsageError(f"{spec.name} is a {spec.role}, not a face parser")
        self.spec, self.engine = spec, engine

    @classmethod
    def from_artifact(cls, artifact: Artifact, *, threads: int = 0) -> FaceParser:
        """The parser (not opened) on the engine for ``artifact``'s graph."""
        engine = engine_for(artifact.path(artifact.spec.onnx_files[0]), threads=threads)
        return cls(artifact.spec, engine)

    def _acquire(self) -> None:
        self.engine.open()

    def _release(self) -> None:
        self.engine.close()

    def classes(self, restored: np.ndarray) -> np.ndarray:
        """(N, 512, 512) int64 class maps of restored faces ((N, S, S, 3) uint8 BGR), one
        network call per face (a 512 face's logits are 20 MB)."""
        self._require_open()
        inputs = parse_inputs(restored)
        maps = [next(iter(self.engine.run({"image": row[None]}).values()))[0] for row in inputs]
        return np.stack([logits.argmax(axis=0) for logits in maps])

    def masks(self, restored: np.ndarray) -> list[np.ndarray]:
        """One :func:`soft_mask` per restored face ((N, S, S, 3) uint8 BGR): N of (S, S) float32."""
        if not len(restored):
            return []
        return [soft_mask(c, restored.shape[1]) for c in self.classes(restored)]


def build_parser(cache_dir: Path, threads: int = 0) -> FaceParser:
    """The ParseNet parser (not opened) from its export in ``cache_dir`` (exported first when its
    weights are there and torch is installed); a one-line :class:`UsageError` naming what to
    fetch otherwise."""
    from facert.models.exporting import ensure_artifact
    from facert.models.registry import get_spec

    try:
        artifact = ensure_artifact(get_spec(PARSER), cache_dir)
    except FacertError as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UsageError(
            f"--mask parse needs {PARSER} (facexlib's face parser): run "
            f"`facert models fetch {PARSER}` (or use --mask square); {reason}"
        ) from None
    return FaceParser.from_artifact(artifact, threads=threads)
