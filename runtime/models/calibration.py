"""The inputs a restorer's graph is calibrated on before static INT8 quantization.

Post-training quantization measures the range of every tensor it quantizes on sample inputs, and the
graph is then exact only inside those ranges: the samples must look like what the restorer meets.
They are the fixed check faces (:func:`facert.models.check_faces.default_faces`: the sample photos'
aligned faces and their 48 px JPEG copies) plus the same photos degraded as real ones are
(:mod:`facert.demo.degrade`: a soft, grainy, compressed web photo; a scanned old print with
scratches and fading), a few seeds each, every one at every option case the spec checks
(:func:`facert.models.check_faces.option_cases`). All of it is computed from the sample photos that
ship in registry packages, seeded: the same feeds on every machine, nothing read from the disk
around the project.
"""

from __future__ import annotations

import numpy as np

from facert.models.check_faces import (
    FaceImage,
    default_faces,
    load_faces,
    option_arrays,
    option_cases,
    option_names,
)
from facert.models.registry import ModelSpec

Feed = dict[str, np.ndarray]  # graph input name -> array: one run of the graph
DEGRADE_SEEDS = (0, 1)  # seeds of each degradation of each sample photo
ALIGNED_SIZE = (
    512  # the degraded photos' faces are aligned at this size, then resized to the spec's
)


def degraded_faces(seeds: tuple[int, ...] = DEGRADE_SEEDS) -> list[FaceImage]:
    """The sample photos, each degraded with each of facert.demo.degrade's damages at each seed (on
    the whole photo, at its own pixel scale, as a real damaged photo is), then their faces aligned as
    :func:`facert.demo.samples.aligned_face` aligns them: (512, 512, 3) uint8 BGR, named
    "<photo>-<damage>-s<seed>.png"."""
    import cv2

    from facert.demo.degrade import degrade_blur_noise_jpeg, degrade_noise_scratches_fading
    from facert.demo.samples import SAMPLES, photo_path
    from facert.stages.align.warp import estimate_affine, face_template, warp_crop

    damages = {"web": degrade_blur_noise_jpeg, "print": degrade_noise_scratches_fading}
    faces = []
    for name in sorted(SAMPLES):
        photo = cv2.imread(str(photo_path(name)), cv2.IMREAD_COLOR)
        landmarks = np.array(SAMPLES[name][2], np.float32)
        affine = estimate_affine(landmarks, face_template(ALIGNED_SIZE))
        for label, damage in damages.items():
            for seed in seeds:
                face = warp_crop(damage(photo, seed), affine, ALIGNED_SIZE)
                faces.append((f"{name}-{label}-s{seed}.png", face))
    return faces


def calibration_faces(spec: ModelSpec) -> tuple[np.ndarray, list[str]]:
    """(N, 3, S, S) float32 network inputs (the spec's colour order and range) and their names: the
    check faces, then the degraded ones."""
    faces = default_faces() + degraded_faces()
    return load_faces(spec, faces, count=len(faces))


def calibration_feeds(spec: ModelSpec, batch: int = 1) -> list[Feed]:
    """The feeds of ``spec``'s face graph to calibrate on: every calibration face at every option
    case, ``batch`` faces a feed. A feed holds ``image``, each graph-input option as (rows,)
    float32 (the case's value), and each of the spec's extra inputs as zeros of its shape and
    dtype (no per-face data exists for the sample faces)."""
    images, _ = calibration_faces(spec)
    feeds: list[Feed] = []
    for case in option_cases(spec):
        for start in range(0, len(images), batch):
            rows = np.ascontiguousarray(images[start : start + batch])
            options = option_arrays(spec, case, len(rows))
            feed: Feed = {"image": rows}
            feed.update(zip(option_names(spec), options, strict=True))
            for extra in spec.extra_inputs:
                feed[extra.name] = np.zeros((len(rows), *extra.shape), np.dtype(extra.dtype))
            feeds.append(feed)
    return feeds
