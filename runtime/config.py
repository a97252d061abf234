"""Settings read from the environment, in one place.

Every environment variable facert reads is listed here; nothing else in the package calls
``os.environ``. Command-line flags override these values by building a new :class:`Settings`
with :func:`dataclasses.replace`.

- ``FACERT_CACHE``: the cache directory for downloaded weights and exported models. Default:
  ``$XDG_CACHE_HOME/facert``, or ``~/.cache/facert`` when ``XDG_CACHE_HOME`` is not set.
- ``FACERT_MAX_PIXELS``: the largest image (width x height) facert decodes; larger files are
  refused from their header, before any pixel is decoded. Default 100,000,000 (100 megapixels).
- ``FACERT_THREADS``: ONNX Runtime intra-op threads (MTCNN: that many single-threaded sessions
  working side by side). Default 0 (one per core).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from facert.errors import UsageError

DEFAULT_MAX_PIXELS = 100_000_000


@dataclass(frozen=True)
class Settings:
    """Run-time settings. Build with :func:`load_settings`; override with ``dataclasses.replace``."""

    cache_dir: Path
    max_pixels: int = DEFAULT_MAX_PIXELS
    threads: int = 0


def default_cache_dir(environ: Mapping[str, str]) -> Path:
    """The cache directory when ``FACERT_CACHE`` is not set."""
    xdg = environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path(environ.get("HOME", str(Path.home()))) / ".cache"
    return base / "facert"


def _positive_int(environ: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise UsageError(f"{name}={value} must be at least {minimum}")
    return value


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from ``environ`` (default: the process environment)."""
    env = os.environ if environ is None else environ
    cache = env.get("FACERT_CACHE")
    return Settings(
        cache_dir=Path(cache).expanduser() if cache else default_cache_dir(env),
        max_pixels=_positive_int(env, "FACERT_MAX_PIXELS", DEFAULT_MAX_PIXELS, 1),
        threads=_positive_int(env, "FACERT_THREADS", 0, 0),
    )
