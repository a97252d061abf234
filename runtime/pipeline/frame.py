"""The photo pipeline: frame stage, detect, align, restore, blend.

:class:`Pipeline` owns a detector and a restorer (both opened by :meth:`Pipeline.open`, released by
:meth:`Pipeline.close`) and turns one (H, W, 3) uint8 BGR frame into the restored frame, touching only
the faces' bounding boxes; a restorer whose spec declares a frame stage (WIPA: an old print is faded
and scratched everywhere) first restores the whole frame with it (:meth:`Pipeline.frame_stage`),
and the faces are then detected, cropped, restored (without the steps the frame stage did, the
spec's ``face_off`` options) and blended back on the restored frame. ``EnhanceOptions.background``
says what becomes of the rest of the photo (:mod:`facert.stages.restore.background`): WIPA's frame
stage runs only for ``restore`` (its default).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facert.backends.base import Lifecycle, open_all
from facert.backends.choice import check_choice
from facert.config import Settings
from facert.errors import UsageError
from facert.models.exporting import ensure_artifact
from facert.models.registry import get_spec
from facert.models.specs import DEFAULT_DETECTOR, DEFAULT_RESTORER
from facert.stages.align.warp import align_faces, crop_scale, face_template
from facert.stages.blend.color import ColorCorrection, check_method, correct_colors, paste_weights
from facert.stages.blend.parse import FaceParser, Mask, build_parser, check_mask
from facert.stages.blend.paste import paste_faces
from facert.stages.detect import Detector, build_detector, detector_spec
from facert.stages.faces import Face, check_filters, select_faces
from facert.stages.parts import crop_landmarks, extra_inputs
from facert.stages.restore.background import (
    Background,
    TiledRestorer,
    build_upsampler,
    check_background,
    default_background,
    needs_upsampler,
    resized,
    upsampled,
)
from facert.stages.restore.correction import deblocked_crops, paste_corrections
from facert.stages.restore.frame import FrameRestorer
from facert.stages.restore.restorer import Restorer
from facert.stages.restore.upsampler import Upsampler

MAX_UPSCALE = 8.0


@dataclass(frozen=True)
class EnhanceOptions:
    """How faces are chosen, the frame resized and the faces pasted. ``upscale`` multiplies the
    output size; ``max_face_size`` (pixels, 0: no limit) and ``min_score`` drop faces before the
    centre/largest choice; ``color_correction`` matches each restored face's colours to the input
    face's before it is pasted (:mod:`facert.stages.blend.color`; over the mask); ``mask`` is the
    paste mask, facexlib's feathered ``square`` or its ``parse`` mask of each restored face
    (:mod:`facert.stages.blend.parse`); ``background`` says what becomes
    of the rest of the photo (:mod:`facert.stages.restore.background`; None: the restorer's
    default, ``restore`` for WIPA, else ``upscale``)."""

    upscale: float = 1.0
    only_center_face: bool = False
    largest_face: bool = False
    color_correction: ColorCorrection = "none"
    max_face_size: float = 0.0
    min_score: float = 0.0
    background: Background | None = None
    mask: Mask = "square"

    def __post_init__(self) -> None:
        check_method(self.color_correction)
        check_mask(self.mask)
        check_background(self.background)
        check_filters(self.max_face_size, self.min_score)
        if not 1.0 <= self.upscale <= MAX_UPSCALE:
            raise UsageError(
                f"--upscale must be between 1 and {MAX_UPSCALE:g}, got {self.upscale:g}"
            )


@dataclass
class EnhanceResult:
    """The restored frame, (H*up, W*up, 3) uint8 BGR, the faces used, stage times in seconds, and
    the restorer's option values per face ((N,) each, e.g. ISPL's estimated ``blur_sigma``), and
    the ``masks`` the faces were pasted under: N of (S, S) float32 [0, 1] on their crops' grid
    (``--mask parse``), None for the feathered square."""

    image: np.ndarray
    faces: list[Face]
    timings: dict[str, float] = field(default_factory=dict)
    face_options: dict[str, np.ndarray] = field(default_factory=dict)
    masks: list[np.ndarray] | None = None


@dataclass
class PreparedFaces:
    """The faces of one frame ready for the restorer: ``crops`` (N, S, S, 3) uint8 BGR, their
    frame -> crop ``affines``, the restorer's ``inputs`` (the crops, or deblocked crops),
    ``scales`` (N,) float32 crop pixels per frame pixel, and the spec's per-face ``extras``
    ((N, *shape) each, :func:`facert.stages.parts.extra_inputs`; empty for most models)."""

    crops: np.ndarray
    affines: list[np.ndarray]
    inputs: np.ndarray
    scales: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)


class Pipeline(Lifecycle):
    """Detect, align, restore and blend the faces of frames with one detector and one restorer.

    The pipeline owns its parts: opening it opens them (the restorer, the frame stage, the
    detector), closing it closes them. :meth:`open` (a class method) builds and opens them.
    ``background``: the options' background, or the restorer's default; ``restore`` without a
    frame stage runs the restorer's face graph over the whole photo (:class:`TiledRestorer`) for
    a weight-free restorer, ``upsampler`` (Real-ESRGAN, owned like the other parts) for a learned one.
    ``parser`` (ParseNet, owned likewise) makes the masks of ``--mask parse``.
    """

    def __init__(
        self,
        detector: Detector,
        restorer: Restorer,
        options: EnhanceOptions | None = None,
        frame: FrameRestorer | None = None,
        upsampler: Upsampler | None = None,
        parser: FaceParser | None = None,
    ) -> None:
        self.detector = detector
        self.restorer = restorer
        self.options = options or EnhanceOptions()
        self.frame = frame
        self.background: Background = self.options.background or default_background(restorer.spec)
        self.tiles: TiledRestorer | None = None
        self.upsampler = upsampler
        self.parser = parser
        if self.options.mask == "parse" and parser is None:
            raise UsageError(
                "--mask parse needs a face parser (facert.stages.blend.parse.build_parser)"
            )
        if needs_upsampler(restorer.spec, self.background):
            if upsampler is None:
                raise UsageError(
                    f"--background restore with {restorer.spec.name} needs an upsampler "
                    "(Real-ESRGAN, facert.stages.restore.background.build_upsampler)"
                )
        elif self.background == "restore" and restorer.spec.frame_stage is None:
            self.tiles = TiledRestorer(restorer)

    @classmethod
    def open(  # a factory, over Lifecycle.open: `with` calls Lifecycle.open itself
        cls,
        settings: Settings,
        model: str = DEFAULT_RESTORER,
        *,
        weights: Any = None,
        detector: str = DEFAULT_DETECTOR,
        model_options: Mapping[str, float] | None = None,
        detector_options: Mapping[str, Any] | None = None,
        options: EnhanceOptions | None = None,
        precision: str = "auto",
        backend: str = "auto",
        report: Callable[[str], None] | None = None,
    ) -> Pipeline:
        """Resolve, export if needed, and open the restorer ``model`` on ``backend`` at
        ``precision`` (:mod:`facert.backends.choice`: auto measures once per machine; ``report``
        gets its progress lines) and the detector ``detector`` (by name; both names are checked
        before either model is opened). ``model_options`` stay the restorer's option values for
        every frame."""
        check_choice(backend, precision)
        spec = get_spec(model)
        if spec.role != "restorer":
            raise UsageError(f"{model} is a {spec.role}, not a restorer")
        face_template(spec.input_size, spec.template)  # its alignment template exists
        detector_spec(detector)
        options = options or EnhanceOptions()
        background = options.background or default_background(spec)
        upsampler = None
        if needs_upsampler(spec, background):
            upsampler = build_upsampler(settings.cache_dir, options.upscale, settings.threads)
        parser = (
            build_parser(settings.cache_dir, settings.threads) if options.mask == "parse" else None
        )
        artifact = ensure_artifact(spec, settings.cache_dir, weights)
        face_options = dict(model_options or {})
        frame = None
        if spec.frame_stage is not None and background == "restore":
            face_options.update(dict.fromkeys(spec.frame_stage.face_off, 0.0))
            frame = FrameRestorer.from_artifact(
                artifact, options=model_options, threads=settings.threads
            )
        restorer = Restorer.from_artifact(
            artifact,
            options=face_options,
            threads=settings.threads,
            precision=precision,
            backend=backend,
            cache_dir=settings.cache_dir,
            report=report,
            weights=weights,
        )
        face_detector = build_detector(settings, detector, **dict(detector_options or {}))
        # Opened in _acquire: the restorer, the frame stage, the upsampler, the parser, the
        # detector, in that order, and those already opened closed again when a later one fails.
        return Lifecycle.open(cls(face_detector, restorer, options, frame, upsampler, parser))

    def _acquire(self) -> None:
        frame = [self.frame] if self.frame is not None else []
        upsampler = [self.upsampler] if self.upsampler is not None else []
        parser = [self.parser] if self.parser is not None else []
        open_all([self.restorer, *frame, *upsampler, *parser, self.detector])

    def _release(self) -> None:
        self.detector.close()
        self.restorer.close()
        if self.frame is not None:
            self.frame.close()
        if self.upsampler is not None:
            self.upsampler.close()
        if self.parser is not None:
            self.parser.close()

    def detect(self, image: np.ndarray, options: EnhanceOptions | None = None) -> list[Face]:
        """The faces to restore in ``image`` ((H, W, 3) uint8 BGR), after the selection options
        (``options``, default the pipeline's own: a server's per-request choice)."""
        options = options or self.options
        faces = self.detector.detect(image)
        return select_faces(
            faces,
            (image.shape[1], image.shape[0]),
            only_center=options.only_center_face,
            largest=options.largest_face,
            max_size=options.max_face_size,
            min_score=options.min_score,
        )

    def align(self, image: np.ndarray, faces: list[Face]) -> tuple[np.ndarray, list[np.ndarray]]:
        """The restorer's crops of ``faces`` in ``image`` ((H, W, 3) uint8 BGR), on the alignment
        template, size and border its spec names: (N, S, S, 3) uint8 BGR and N (2, 3) frame -> crop
        affines (:func:`facert.stages.align.warp.align_faces`)."""
        spec = self.restorer.spec
        return align_faces(image, faces, spec.input_size, spec.crop_border, spec.template)

    def frame_stage(self, image: np.ndarray) -> np.ndarray:
        """``image`` ((H, W, 3) uint8 BGR) restored whole by the restorer's frame stage; ``image``
        itself when the restorer has none."""
        return image if self.frame is None else self.frame.restore(image)

    def enhance(self, image: np.ndarray) -> EnhanceResult:
        """Restore every selected face of ``image`` ((H, W, 3) uint8 BGR) and blend it back (on
        the frame stage's result, when the restorer has one)."""
        timings: dict[str, float] = {}
        start = time.perf_counter()
        image = self.frame_stage(image)
        timings["frame"] = time.perf_counter() - start
        start = time.perf_counter()
        # Faces are found on the frame stage's result: on 9 photos x 6 WIPA degradations, MTCNN
        # found 132 of 132 faces there (landmarks 0.044 inter-ocular from the clean photo's) and
        # 127 on the faded photos (0.054); 10 extra detections (hands, scores <= 0.87) vs 1.
        faces = self.detect(image)
        timings["detect"] = time.perf_counter() - start
        start = time.perf_counter()
        crops, affines = self.align(image, faces)
        timings["align"] = time.perf_counter() - start
        start = time.perf_counter()
        prepared = self.prepare(image, faces, crops, affines)
        if faces and self.restorer.spec.deblock_jpeg:
            timings["deblock"] = time.perf_counter() - start
            start = time.perf_counter()
        values = self.restorer.face_options(prepared.inputs, prepared.scales) if faces else {}
        restored = (
            self.restorer.restore(prepared.inputs, prepared.scales, values, extras=prepared.extras)
            if faces
            else crops
        )
        timings["restore"] = time.perf_counter() - start
        start = time.perf_counter()
        masks = self.face_masks(restored) if faces else None
        output = self.blend(image, faces, prepared, restored, masks=masks)
        timings["blend"] = time.perf_counter() - start
        return EnhanceResult(output, faces, timings, values, masks)

    def prepare(
        self, image: np.ndarray, faces: list[Face], crops: np.ndarray, affines: list[np.ndarray]
    ) -> PreparedFaces:
        """The restorer's inputs for the aligned ``faces`` of ``image`` (:meth:`align`'s crops
        and affines): the crops, JPEG-deblocked when the spec asks, and the crop scales."""
        spec = self.restorer.spec
        inputs = crops
        if faces and spec.deblock_jpeg:
            deblocked = deblocked_crops(image, faces, affines, spec.input_size, spec.crop_border)
            inputs = crops if deblocked is None else deblocked
        scales = np.array([crop_scale(a) for a in affines], np.float32)
        extras = {}
        if spec.extra_inputs:
            landmarks = [
                crop_landmarks(face, affine) for face, affine in zip(faces, affines, strict=True)
            ]
            extras = extra_inputs(spec, inputs, np.array(landmarks).reshape(len(faces), 5, 2))
        return PreparedFaces(crops, affines, inputs, scales, extras)

    def upscale_background(self, image: np.ndarray, upscale: float) -> np.ndarray:
        """The background the faces of ``image`` ((H, W, 3) uint8 BGR, after the frame stage)
        are pasted on, ``upscale`` times its size: (Hu, Wu, 3) uint8 BGR, a new array
        (:mod:`facert.stages.restore.background`)."""
        if self.upsampler is not None:
            return upsampled(self.upsampler, image, upscale)
        return resized(self.restore_background(image), upscale, self.background)

    def restore_background(self, image: np.ndarray) -> np.ndarray:
        """``image`` ((H, W, 3) uint8 BGR) restored whole at its own size when the background is
        restored by tiles of the face graph (:class:`TiledRestorer`); ``image`` itself otherwise
        (a frame stage has restored it already, or the background is kept)."""
        return image if self.tiles is None else self.tiles.restore(image)

    def face_masks(self, restored: np.ndarray, mask: Mask | None = None) -> list[np.ndarray] | None:
        """The masks the ``restored`` faces ((N, S, S, 3) uint8 BGR) are pasted under with
        ``mask`` (default the pipeline's option): N of (S, S) float32 [0, 1] for ``parse``
        (ParseNet's, :mod:`facert.stages.blend.parse`), None for the feathered square.
        :class:`UsageError` for ``parse`` without a parser."""
        if check_mask(mask or self.options.mask) == "square":
            return None
        if self.parser is None:
            raise UsageError("--mask parse needs a face parser: this pipeline has none")
        return self.parser.masks(restored)

    def blend(
        self,
        image: np.ndarray,
        faces: list[Face],
        prepared: PreparedFaces,
        restored: np.ndarray,
        upscale: float | None = None,
        mask: Mask | None = None,
        masks: list[np.ndarray] | None = None,
    ) -> np.ndarray:
        """``image`` upscaled (by ``upscale``, default the pipeline's option; a server's
        per-request one) with the ``restored`` crops ((N, S, S, 3) uint8 BGR, one per face of
        ``prepared``) pasted back as the restorer's spec says, under ``masks`` (:meth:`face_masks`
        of ``restored``, made here when not given) or the ``mask`` they stand for (default the
        pipeline's option; a server's per-request one)."""
        upscale = self.options.upscale if upscale is None else upscale
        frame = self.restore_background(image)
        if self.upsampler is not None:
            background = upsampled(self.upsampler, image, upscale)
        else:
            background = resized(frame, upscale, self.background)
        if not faces:
            return background
        if masks is None:
            masks = self.face_masks(restored, mask)
        if self.options.color_correction != "none":
            size = restored.shape[1]
            weights = paste_weights(prepared.affines, image.shape, size, masks)
            restored = correct_colors(
                restored, prepared.crops, weights, self.options.color_correction
            )
        if self.restorer.spec.paste == "correction":
            # What the face graph changed, added to the background it is pasted on: on a
            # restored background, relative to that background's own crops (so the face is
            # not corrected twice, and its pixels still never go through the crop and back).
            crops = list(prepared.crops if frame is image else self.align(frame, faces)[0])
            return paste_corrections(
                background, list(restored), crops, prepared.affines, upscale, masks
            )
        return paste_faces(
            background, list(restored), prepared.affines, upscale, out=background, masks=masks
        )
