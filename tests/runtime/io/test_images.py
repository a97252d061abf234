"""Image reading and writing: bad files fail in one line naming the file; odd formats are handled."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from facert.errors import InputError, OutputError
from facert.io.images import LoadedImage, read_image, write_image

LIMIT = 50_000_000


def _png_bytes(image: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".png", image)
    assert ok
    return buffer.tobytes()


def _with_ihdr_size(png: bytes, width: int, height: int) -> bytes:
    """The same PNG with other dimensions in its header (and a valid header CRC)."""
    ihdr = bytearray(png[12:29])  # chunk type + 13 data bytes
    ihdr[4:12] = struct.pack(">II", width, height)
    crc = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    return png[:12] + bytes(ihdr) + crc + png[33:]


@pytest.fixture
def photo(grace_hopper: np.ndarray) -> np.ndarray:
    return grace_hopper[:200, :160].copy()


def _error(path: Path) -> str:
    with pytest.raises(InputError) as info:
        read_image(path, LIMIT)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message
    return message


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"")
    assert "empty file" in _error(tmp_path / "a.jpg")


def test_not_an_image(tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_text("this is text, not pixels\n" * 20)
    assert "not an image" in _error(tmp_path / "notes.png")


def test_truncated_jpeg(tmp_path: Path, photo: np.ndarray) -> None:
    data = cv2.imencode(".jpg", photo)[1].tobytes()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 2])
    assert "truncated" in _error(tmp_path / "t.jpg")


def test_truncated_png(tmp_path: Path, photo: np.ndarray) -> None:
    data = _png_bytes(photo)
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    assert "truncated" in _error(tmp_path / "t.png") or "corrupt" in _error(tmp_path / "t.png")


def test_corrupt_body(tmp_path: Path, photo: np.ndarray) -> None:
    data = bytearray(_png_bytes(photo))
    data[200:400] = b"\x00" * 200
    (tmp_path / "c.png").write_bytes(bytes(data))
    assert "corrupt" in _error(tmp_path / "c.png")


def test_huge_dimensions_refused_from_the_header(tmp_path: Path, photo: np.ndarray) -> None:
    """A 100k x 100k header is refused before decoding (decoding would need 30 GB)."""
    (tmp_path / "huge.png").write_bytes(_with_ihdr_size(_png_bytes(photo), 100_000, 100_000))
    assert "over the limit" in _error(tmp_path / "huge.png")


def test_directory(tmp_path: Path) -> None:
    (tmp_path / "d.png").mkdir()
    assert "directory" in _error(tmp_path / "d.png")


def test_grayscale_rgba_and_16_bit_are_handled(tmp_path: Path, photo: np.ndarray) -> None:
    gray = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    loaded = read_image(tmp_path / "g.png", LIMIT)
    assert loaded.bgr.shape == (*gray.shape, 3) and np.array_equal(loaded.bgr[:, :, 1], gray)

    alpha = np.linspace(0, 255, photo.shape[1], dtype=np.uint8)[None].repeat(photo.shape[0], 0)
    cv2.imwrite(str(tmp_path / "a.png"), np.dstack([photo, alpha]))
    loaded = read_image(tmp_path / "a.png", LIMIT)
    assert np.array_equal(loaded.bgr, photo) and np.array_equal(loaded.alpha, alpha)
    write_image(tmp_path / "a_out.png", loaded)
    assert np.array_equal(
        cv2.imread(str(tmp_path / "a_out.png"), cv2.IMREAD_UNCHANGED)[:, :, 3], alpha
    )

    deep = photo.astype(np.uint16) * 257
    cv2.imwrite(str(tmp_path / "d.png"), deep)
    loaded = read_image(tmp_path / "d.png", LIMIT)
    assert loaded.bit_depth == 16 and np.array_equal(loaded.bgr, photo)
    write_image(tmp_path / "d_out.png", loaded)
    back = cv2.imread(str(tmp_path / "d_out.png"), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint16 and np.array_equal(back, deep)


def test_write_is_atomic(tmp_path: Path, photo: np.ndarray) -> None:
    """A failed encode leaves neither the target nor a temporary file."""
    target = tmp_path / "out.unknownformat"
    with pytest.raises(OutputError, match="out.unknownformat"):
        write_image(target, LoadedImage(photo))
    assert list(tmp_path.iterdir()) == []


def test_other_threads_stderr_is_not_taken_for_damage(
    tmp_path: Path, photo: np.ndarray, capfd: pytest.CaptureFixture[str]
) -> None:
    """Decoding redirects the process's fd 2; a server thread logging meanwhile must neither turn a
    good image into a "corrupt" one nor lose its line (seen under load in facert serve --ray)."""
    import os
    import threading

    from facert.io.images import decode_bytes

    ok, encoded = cv2.imencode(".png", photo)
    assert ok
    stop = threading.Event()

    def log() -> None:
        while not stop.is_set():
            os.write(2, b"INFO: POST /v1/enhance 200\n")

    writer = threading.Thread(target=log)
    writer.start()
    try:
        for _ in range(20):
            assert decode_bytes(encoded.tobytes(), 10**8, "request").bgr.shape == photo.shape
    finally:
        stop.set()
        writer.join()
    assert "INFO: POST /v1/enhance 200" in capfd.readouterr().err
    damaged = bytearray(encoded.tobytes())
    damaged[len(damaged) // 2] ^= 0xFF  # an IDAT byte: libpng reports a CRC error
    with pytest.raises(InputError, match="corrupt or truncated PNG"):
        decode_bytes(bytes(damaged), 10**8, "request")
