"""Synthetic degradations of whole photos, for the demo and the quality tests of the restorers.

Every function takes and returns (H, W, 3) uint8 BGR, is seeded and deterministic (NumPy's PCG64 and
OpenCV's libjpeg), and applies its damage to the whole photo, at the photo's own pixel scale: a face
cropped out of the result and magnified into the aligned 512 crop carries blur, grain and scratches
as wide as that magnification makes them, as a real damaged photo would.

The default strengths are those of a soft, grainy web photo (``degrade_blur_noise_jpeg``, restored by
ISPL) and of a scanned old print (``degrade_noise_scratches_fading``, restored by WIPA).
"""

from __future__ import annotations

import cv2
import numpy as np

from facert.errors import InputError

# Cream of an aged print: faded highlights and lifted shadows drift towards it (BGR, 0-255).
PAPER_BGR = (196.0, 222.0, 236.0)


def _check_image(image: np.ndarray) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InputError(
            f"expected an (H, W, 3) uint8 BGR image, got {image.dtype} of shape {image.shape}"
        )


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def degrade_blur_noise_jpeg(
    image: np.ndarray,
    seed: int,
    *,
    blur_sigma: float = 1.5,
    noise_sigma: float = 6.0,
    jpeg_quality: int = 75,
) -> np.ndarray:
    """A soft, grainy, compressed photo: Gaussian blur, then Gaussian noise, then JPEG.

    ``blur_sigma``: standard deviation of the Gaussian point spread in photo pixels (kernel radius
    ceil(4 sigma), reflected borders). ``noise_sigma``: standard deviation of independent Gaussian
    noise per pixel and channel, in 0-255 levels, added after the blur and rounded to uint8.
    ``jpeg_quality``: OpenCV/libjpeg quality (0-100, 4:2:0 chroma) of one encode-decode round.
    """
    _check_image(image)
    rng = np.random.default_rng(seed)
    pixels: np.ndarray = image.astype(np.float32)
    if blur_sigma > 0:
        radius = int(np.ceil(4 * blur_sigma))
        pixels = cv2.GaussianBlur(
            pixels, (2 * radius + 1, 2 * radius + 1), blur_sigma, borderType=cv2.BORDER_REFLECT_101
        )
    noisy = _to_uint8(pixels + rng.normal(0.0, noise_sigma, pixels.shape).astype(np.float32))
    ok, encoded = cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
    if not ok:
        raise InputError("OpenCV could not JPEG-encode the image")
    decoded: np.ndarray | None = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    if decoded is None:
        raise InputError("OpenCV could not decode its own JPEG")
    return decoded


def _draw_scratches(
    pixels: np.ndarray, rng: np.random.Generator, count: int, width: float, opacity: float
) -> None:
    """Draw ``count`` thin, slightly curved, anti-aliased lines into ``pixels`` in place.

    Each scratch is a quadratic Bezier curve, 15-60% of the photo's diagonal long, at a random
    place and angle; half are bright (lost emulsion, near white), half dark (dirt, near black). Its
    width is ``width`` photo pixels (1 or 2 in practice) and it covers the photo with ``opacity``.
    """
    height, width_px = pixels.shape[:2]
    diagonal = float(np.hypot(height, width_px))
    thickness = max(1, round(width))
    for index in range(count):
        start = rng.uniform((0, 0), (width_px, height))
        angle = rng.uniform(0, np.pi)
        length = rng.uniform(0.15, 0.6) * diagonal
        direction = np.array([np.cos(angle), np.sin(angle)])
        bend = rng.normal(0, 0.08) * length * np.array([-direction[1], direction[0]])
        end = start + length * direction
        control = (start + end) / 2 + bend
        t = np.linspace(0, 1, 64)[:, None]
        curve = (1 - t) ** 2 * start + 2 * (1 - t) * t * control + t**2 * end
        shade = rng.uniform(225, 250) if index % 2 == 0 else rng.uniform(15, 45)
        layer = np.zeros((height, width_px), np.uint8)
        points = np.round(curve * 16).astype(np.int32)  # 4 fractional bits for sub-pixel lines
        cv2.polylines(layer, [points], False, 255, thickness, cv2.LINE_AA, shift=4)
        alpha = layer.astype(np.float32)[:, :, None] * (opacity / 255.0)
        pixels *= 1 - alpha
        pixels += alpha * shade


def degrade_noise_scratches_fading(
    image: np.ndarray,
    seed: int,
    *,
    fade: float = 0.3,
    scratches: int = 16,
    scratch_width: float = 1.0,
    scratch_opacity: float = 0.85,
    noise_sigma: float = 8.0,
) -> np.ndarray:
    """A scanned old print: fading, then scratches, then film grain.

    ``fade``: fraction by which every pixel moves towards the cream of old paper
    (:data:`PAPER_BGR`): ``(1 - fade) * pixel + fade * paper``, which lowers the contrast and casts
    the colours warm. ``scratches``: number of thin curved lines over the whole photo,
    ``scratch_width`` photo pixels wide, alternately bright and dark, blended with
    ``scratch_opacity``. ``noise_sigma``: standard deviation of independent Gaussian grain per pixel
    and channel, in 0-255 levels, added last and rounded to uint8.
    """
    _check_image(image)
    rng = np.random.default_rng(seed)
    paper = np.asarray(PAPER_BGR, dtype=np.float32)
    pixels = image.astype(np.float32) * np.float32(1 - fade) + np.float32(fade) * paper
    _draw_scratches(pixels, rng, scratches, scratch_width, scratch_opacity)
    return _to_uint8(pixels + rng.normal(0.0, noise_sigma, pixels.shape).astype(np.float32))
