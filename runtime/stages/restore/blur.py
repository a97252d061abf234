"""How blurred a face is, estimated from its aligned crop: the width of a Gaussian blur in photo pixels.

A step edge blurred by a Gaussian of std ``s`` and looked at through a further Gaussian of std ``a``
has the peak gradient ``h / sqrt(2 pi (s^2 + a^2))``; the ratio ``r`` of the peak gradients through
two such looks, ``a`` and ``b``, gives ``s^2 = (b^2 - r^2 a^2) / (r^2 - 1)`` whatever the edge's height
(the re-blur method of Hu and de Haan, 2006; Zhuo and Sim, 2011). The estimate is taken at the
strongest edges of the face (the local maxima of the gradient in its top decile) and summarised by a
low quantile, which favours the sharpest edges: a face's soft shading and hair read wider than its
blur, noise and JPEG block edges read narrower, and reading too narrow is the safe side (an
over-estimated blur makes the deconvolution sharpen detail that was never blurred).

The crop of a face magnified ``s`` times is first brought back to the photo's scale (area averaging
by ``1/s``), so the estimate is in photo pixels and the upsampling's own smoothness is not read as
blur; a face shrunk into the crop (``s < 1``) is measured in crop pixels and converted.

Even a perfectly focused photo reads a width: the pixel grid's own (about 0.65 px on synthetic
edges) plus what a face's structure adds. Below :data:`SHARP_READING` a face is taken as sharp
(estimate 0); above it the part beyond it, ``sqrt(r^2 - SHARP_READING^2)``, scaled by :data:`GAIN`,
is the estimate. Both constants are measured, not guessed (``bench/ispl_jpeg_family.py`` prints the
readings): SHARP_READING is 1.05x the largest reading over the 185 faces of the unblurred JPEG family
(faces of 30-120 px, quality 40-90, five photos; tests/jpeg_family.py): 1.17. GAIN is below the
median ratio of true to estimated blur over the same photos blurred (1, 1.5 and 2 px, noise 6, JPEG
75: 1.7) on purpose: an under-estimate only gains less, an over-estimate sharpens what was never
blurred. The estimate is rough (on those blurred faces it is 0 for 14 of 66, 13 of them blurred by
1 px, and otherwise ranges over 0.2-2 px for true blurs of 1-2 px); that a sharp face reads 0 is
what the threshold guarantees.

Wider estimates are capped at :data:`MAX_ESTIMATE`, the widest true blur the constants were measured
on. The aligned crops of ``../shared/data/real-inputs`` (old photos upsampled from a few dozen pixels)
read 4-7 px; deconvolving that much turned their compression and grain into blotches (the contact
sheet of the issue's closing note), while 2 px sharpens them without.
"""

from __future__ import annotations

import cv2
import numpy as np

# The part of the aligned crop measured: face, hair line, jaw, little background.
INNER = (0.125, 0.875)
LOOKS = (0.8, 1.6)  # the two Gaussian looks a < b, in working pixels
TOP_FRACTION = 0.1  # edge points: local gradient maxima in this top fraction of strength
QUANTILE = 0.4  # of the per-point width estimates (below the median: the sharper edges)
SHARP_READING = 1.23  # working pixels; readings up to this mean "not blurred"
GAIN = 1.5
MAX_ESTIMATE = 2.0  # photo pixels: the widest blur the constants were measured on (see above)
MIN_POINTS = 16  # fewer edge points than this (a blank crop): no estimate, 0


def estimate_blur(crops: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """The blur of each face in photo pixels (0 when sharp): (N,) float32.

    ``crops``: (N, S, S, 3) uint8 BGR aligned faces; ``scales``: (N,) crop pixels per photo pixel.
    """
    return np.array(
        [_estimate(crop, float(scale)) for crop, scale in zip(crops, scales, strict=True)],
        np.float32,
    )


def reading(crop: np.ndarray, scale: float) -> float:
    """The raw edge width of one crop in working pixels (photo pixels, or crop pixels when the face
    is shrunk into the crop), before the sharp reading is subtracted."""
    plane = _working_plane(crop, scale)
    looks = [_gradient(_blurred(plane, sigma)) for sigma in LOOKS]
    strength = looks[0]
    peaks = (strength >= cv2.dilate(strength, np.ones((3, 3), np.uint8))) & (strength > 1e-3)
    values = strength[peaks]
    if values.size < MIN_POINTS:
        return 0.0
    points = peaks & (strength >= np.quantile(values, 1.0 - TOP_FRACTION))
    ratio = np.maximum(strength[points] / np.maximum(looks[1][points], 1e-6), 1.0 + 1e-4)
    a, b = LOOKS
    widths = (b * b - ratio * ratio * a * a) / (ratio * ratio - 1.0)
    return float(np.sqrt(max(float(np.quantile(widths, QUANTILE)), 0.0)))


def _estimate(crop: np.ndarray, scale: float) -> float:
    value = reading(crop, scale)
    excess = GAIN * np.sqrt(max(value * value - SHARP_READING * SHARP_READING, 0.0))
    return float(min(excess / min(scale, 1.0), MAX_ESTIMATE))


def _working_plane(crop: np.ndarray, scale: float) -> np.ndarray:
    """The crop's inner part as luma float32, at the photo's scale when the face was magnified."""
    size = crop.shape[0]
    start, stop = (round(f * size) for f in INNER)
    plane: np.ndarray = cv2.cvtColor(crop[start:stop, start:stop], cv2.COLOR_BGR2GRAY)
    plane = plane.astype(np.float32)
    if scale > 1.0:
        side = max(8, round(plane.shape[0] / scale))
        plane = cv2.resize(plane, (side, side), interpolation=cv2.INTER_AREA)
    return plane


def _gradient(plane: np.ndarray) -> np.ndarray:
    """Gradient magnitude (Sobel, normalised to a unit step per pixel), reflected borders."""
    dx = cv2.Sobel(plane, cv2.CV_32F, 1, 0, ksize=3, scale=0.125, borderType=cv2.BORDER_REFLECT)
    dy = cv2.Sobel(plane, cv2.CV_32F, 0, 1, ksize=3, scale=0.125, borderType=cv2.BORDER_REFLECT)
    return cv2.magnitude(dx, dy)


def _blurred(plane: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(plane, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
