"""What the serve tests share: a cache holding the user's MTCNN and ISPL exports plus the tiny
CodeFormer (a learned model with a ``fidelity`` option, 32 px: cheap), registered for the module,
and small photos with faces."""

from __future__ import annotations

import dataclasses
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import astronaut_path, grace_hopper_path

from facert.config import Settings
from facert.models.cache import model_dir
from facert.models.registry import get_spec


def photo(which: str = "grace", width: int = 256) -> np.ndarray:
    """A real photo with one face, shrunk to ``width`` pixels wide, (H, W, 3) uint8 BGR."""
    path = grace_hopper_path() if which == "grace" else astronaut_path()
    image = cv2.imread(str(path))
    height = round(image.shape[0] * width / image.shape[1])
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def two_faces() -> np.ndarray:
    """Both photos side by side (two faces), 512 wide."""
    left, right = photo("grace"), photo("astronaut")
    height = min(left.shape[0], right.shape[0])
    return np.ascontiguousarray(np.hstack([left[:height], right[:height]]))


def blurred() -> np.ndarray:
    """:func:`two_faces` out of focus (Gaussian sigma 1.5): faces a restorer visibly changes."""
    return cv2.GaussianBlur(two_faces(), (0, 0), 1.5)


def encoded(image: np.ndarray, suffix: str = ".png") -> bytes:
    ok, buffer = cv2.imencode(suffix, image)
    assert ok
    return buffer.tobytes()


def png_header(width: int, height: int) -> bytes:
    """A PNG claiming ``width`` x ``height`` in its IHDR chunk, with a few bytes of pixel data
    (a decompression bomb's shape: tiny file, huge image)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunks = [(b"IHDR", ihdr), (b"IDAT", zlib.compress(b"\0" * 64)), (b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        for kind, data in chunks
    )


@contextmanager
def tiny_codeformer_cache(folder: Path, settings: Settings) -> Iterator[tuple[Settings, str, Path]]:
    """(settings on a cache in ``folder`` with the user's MTCNN and ISPL exports linked in, the
    tiny CodeFormer's name, its checkpoint), the tiny spec registered until the block ends."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    import tiny_codeformer

    from facert.models import registry

    cache, checkpoint = folder / "cache", folder / "tiny.pth"
    if not cache.is_dir():  # a folder made before is used again (its export too)
        cache.mkdir(parents=True)
        for name in ("mtcnn", "ispl"):
            source = model_dir(settings.cache_dir, get_spec(name))
            if not source.is_dir():
                pytest.skip(f"no {name} export in the cache: run `make models`")
            model_dir(cache, get_spec(name)).symlink_to(source, target_is_directory=True)
        tiny_codeformer.write_checkpoint(checkpoint)
    spec = tiny_codeformer.tiny_spec(checkpoint)
    get_spec("codeformer")  # loads the registry before it is patched
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(registry._REGISTRY, spec.name, spec)
        yield dataclasses.replace(settings, cache_dir=cache), spec.name, checkpoint


_TINY: list[Path] = []  # the folder shared_tiny_folder made, once per process


def shared_tiny_folder(factory: pytest.TempPathFactory, settings: Settings) -> Path:
    """A folder with the tiny checkpoint and a cache holding its export (and MTCNN, ISPL), built
    once per test session and used by every serve module (each registers the model itself)."""
    if not _TINY:
        from facert.models.exporting import ensure_artifact

        folder = factory.mktemp("serve-tiny")
        with tiny_codeformer_cache(folder, settings) as (tiny_settings, name, checkpoint):
            ensure_artifact(get_spec(name), tiny_settings.cache_dir, checkpoint)
        _TINY.append(folder)
    return _TINY[0]
