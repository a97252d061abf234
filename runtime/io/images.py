"""Reading and writing images, with the checks that make bad files fail in one line.

``read_image`` refuses a file before decoding its pixels when its header says it is larger than
``max_pixels``; it refuses empty, truncated, corrupt and non-image files with an ``InputError`` naming
the file and the reason. Grayscale, RGBA and 16-bit inputs are handled: the pixels facert works on are
always (H, W, 3) uint8 BGR; alpha and bit depth are kept aside and restored when writing.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from facert.errors import InputError, OutputError
from facert.io.files import write_atomic

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


@dataclass
class LoadedImage:
    """A decoded image.

    ``bgr``: (H, W, 3) uint8 BGR. ``alpha``: (H, W) uint8 or None. ``bit_depth``: 8 or 16 (the file's;
    a 16-bit file is scaled to 8 bits for processing and back when written).
    """

    bgr: np.ndarray
    alpha: np.ndarray | None = None
    bit_depth: int = 8


def probe_size(path: Path, data: bytes) -> tuple[int, int, str]:
    """(width, height, format) from the header only, without decoding pixels."""
    from io import BytesIO

    pillow_limit = Image.MAX_IMAGE_PIXELS
    try:
        # facert applies its own limit (max_pixels) to the size read here; Pillow's bomb check
        # would refuse first with a less useful message, so it is off while the header is read.
        Image.MAX_IMAGE_PIXELS = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(BytesIO(data)) as img:
                return img.width, img.height, img.format or "?"
    except UnidentifiedImageError:
        raise InputError("not an image file (unknown format)", path=str(path)) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"corrupt image header ({exc})", path=str(path)) from None
    finally:
        Image.MAX_IMAGE_PIXELS = pillow_limit


def _check_complete(path: Path, data: bytes, fmt: str) -> None:
    """JPEG decoders fill a truncated file with grey and only warn: require the end marker."""
    if fmt == "JPEG" and b"\xff\xd9" not in data[-4096:]:
        raise InputError("truncated JPEG (no end-of-image marker)", path=str(path))


def read_image(path: Path, max_pixels: int) -> LoadedImage:
    """Decode ``path`` into a :class:`LoadedImage`; raise InputError for any bad file."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise InputError("is a directory, not an image", path=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror or exc})", path=str(path)) from None
    return decode_bytes(data, max_pixels, path)


def decode_bytes(data: bytes, max_pixels: int, path: Path | str) -> LoadedImage:
    """Decode the encoded image ``data`` (``path``: the name errors give it, a file or a request)
    into a :class:`LoadedImage`; raise InputError for empty, too large, corrupt or non-image data.
    It captures file descriptor 2 while decoding: one call at a time per process."""
    path = Path(path)
    if not data:
        raise InputError("empty file (0 bytes)", path=str(path))
    width, height, fmt = probe_size(path, data)
    if width * height > max_pixels:
        raise InputError(
            f"{width}x{height} is {width * height:,} pixels, over the limit of {max_pixels:,} "
            "(raise FACERT_MAX_PIXELS to allow it)",
            path=str(path),
        )
    _check_complete(path, data, fmt)
    with _native_stderr() as messages:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.size == 0 or messages:
        reason = f"{messages[0][:120]}" if messages else "cannot decode"
        raise InputError(f"corrupt or truncated {fmt} image ({reason})", path=str(path))
    return _to_bgr8(pixels)


# What the C decoders OpenCV links print about damaged data: libpng ("libpng error: ..."), libjpeg
# ("Corrupt JPEG data: ...", "Premature end of JPEG file", "Bogus marker length", "Huffman table
# 0x01 was not defined"), libtiff ("TIFFReadDirectory: ..."), OpenCV's own imgcodecs warnings.
DECODER_MESSAGE = re.compile(
    r"libpng|JPEG|jpeg|TIFF|tiff|imgcodecs|OpenCV|Huffman|marker|webp|WebP|decoder|IDAT|IHDR|CRC"
)


@contextlib.contextmanager
def _native_stderr() -> Iterator[list[str]]:
    """Capture what C decoders (libpng, libjpeg) print on file descriptor 2 while decoding.

    They report damaged data there ("libpng error: IDAT: ...", "Corrupt JPEG data: ...") and may
    still return pixels; the caller treats any decoder message as a corrupt file and reports it in
    its one line instead of letting it reach the terminal. Yields the list of the decoders' lines,
    filled on exit. The redirection is process-wide: a line another thread wrote meanwhile (a
    server's log) is no decoder's and is written on to the real stderr, not taken for damage.
    """
    messages: list[str] = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (embedded interpreters): capture nothing
        yield messages
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield messages
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace")
            others = []
            for line in text.splitlines():
                if DECODER_MESSAGE.search(line):
                    messages.append(line.strip())
                elif line.strip():
                    others.append(line + "\n")
            if others:
                os.write(2, "".join(others).encode("utf-8", "replace"))


def _to_bgr8(pixels: np.ndarray) -> LoadedImage:
    bit_depth = 16 if pixels.dtype == np.uint16 else 8
    if pixels.dtype == np.uint16:
        pixels = ((pixels.astype(np.float32) * (255.0 / 65535.0)) + 0.5).astype(np.uint8)
    elif pixels.dtype != np.uint8:  # float TIFF and the like: assume [0, 1]
        pixels = (np.clip(pixels.astype(np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)
    alpha = None
    if pixels.ndim == 2:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
    elif pixels.shape[2] == 4:
        alpha = np.ascontiguousarray(pixels[:, :, 3])
        pixels = np.ascontiguousarray(pixels[:, :, :3])
    elif pixels.shape[2] == 2:  # gray + alpha
        alpha = np.ascontiguousarray(pixels[:, :, 1])
        pixels = cv2.cvtColor(np.ascontiguousarray(pixels[:, :, 0]), cv2.COLOR_GRAY2BGR)
    return LoadedImage(bgr=np.ascontiguousarray(pixels), alpha=alpha, bit_depth=bit_depth)


def encode_image(image: LoadedImage, suffix: str) -> bytes:
    """Encode ``image`` in the format named by ``suffix`` (".png", ".jpg"...), alpha and depth kept."""
    pixels = image.bgr
    if image.alpha is not None:
        alpha = image.alpha
        if alpha.shape != pixels.shape[:2]:
            alpha = cv2.resize(
                alpha, (pixels.shape[1], pixels.shape[0]), interpolation=cv2.INTER_LINEAR
            )
        pixels = np.dstack([pixels, alpha])
    if image.bit_depth == 16 and suffix.lower() in {".png", ".tif", ".tiff"}:
        pixels = pixels.astype(np.uint16) * 257
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if suffix.lower() in {".jpg", ".jpeg"} else []
    try:
        ok, buffer = cv2.imencode(suffix, pixels, params)
    except cv2.error:
        ok = False
    if not ok:
        raise OutputError(f"cannot encode image as {suffix}")
    return buffer.tobytes()


def write_image(path: Path, image: LoadedImage) -> None:
    """Write ``image`` to ``path`` through a temporary file and a rename (never half-written)."""
    try:
        data = encode_image(image, path.suffix or ".png")
    except OutputError as exc:
        raise OutputError(str(exc), path=str(path)) from None
    try:
        write_atomic(path, lambda tmp: tmp.write_bytes(data))
    except OSError as exc:
        raise OutputError(f"cannot write ({exc.strerror or exc})", path=str(path)) from None
