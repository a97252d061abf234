"""Where ``facert camera`` shows its frames: a window, a video file (written atomically), a virtual
camera, or a :class:`RecordingSink` that keeps them in memory (tests, benchmarks).

Every sink follows :class:`Sink`: ``open`` once the frame size is known (and fails there, in one
line, when the output cannot work on this machine), ``write`` per frame, then ``close`` (finalise:
the file is renamed into place) or ``abort`` (discard: nothing is left at the file's name).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from facert.errors import MissingDependencyError, OutputError, UsageError, first_line
from facert.io.camera import opencv_has
from facert.io.yuv import bgr_to_frame


class Sink(Protocol):
    name: str

    def open(self, size: tuple[int, int], rate: float | None) -> None:
        """Get ready for (width, height) frames at about ``rate`` frames/s (None: unknown)."""

    def write(self, frame: np.ndarray, grabbed: float) -> bool:
        """Show one (H, W, 3) uint8 BGR frame grabbed at ``grabbed`` (monotonic seconds); False
        when the viewer asked to stop (a window's q or Esc)."""

    def close(self) -> None:
        """Finalise (a file is renamed into place); a second call does nothing."""

    def abort(self) -> None:
        """Discard what was written (nothing is left at a file's name); after close: nothing."""


class RecordingSink:
    """Keeps every frame written (a copy) and the monotonic time it came, in memory. A ``delay``
    (seconds) makes it a slow consumer, as a slow display or encoder would be."""

    name = "memory"

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.frames: list[np.ndarray] = []
        self.grabbed: list[float] = []
        self.written: list[float] = []
        self.size: tuple[int, int] | None = None
        self.state = "new"

    def open(self, size: tuple[int, int], rate: float | None) -> None:
        self.size, self.state = size, "open"

    def write(self, frame: np.ndarray, grabbed: float) -> bool:
        if self.delay:
            time.sleep(self.delay)
        self.frames.append(frame.copy())
        self.grabbed.append(grabbed)
        self.written.append(time.monotonic())
        return True

    def close(self) -> None:
        if self.state == "open":
            self.state = "closed"

    def abort(self) -> None:
        if self.state == "open":
            self.state = "aborted"


def _av() -> Any:
    try:
        import av
    except ImportError:
        raise MissingDependencyError(
            "writing a video file needs PyAV: pip install 'facert[video]'"
        ) from None
    return av


CONTAINERS = {"mkv": "matroska", "m4v": "mp4", "ts": "mpegts"}  # suffixes FFmpeg does not name


class FileSink:
    """A video file (its container from the suffix: .mp4, .mkv, ...) encoded with PyAV as frames
    come (H.264, ``crf`` and ``preset`` as given: fast enough to keep up with a live stream), each
    at its grab time in 1 ms ticks, so the file replays the pace the frames were shown at. Written
    to a temporary file beside ``path`` that ``close`` renames to ``path``."""

    def __init__(
        self, path: Path, codec: str = "libx264", crf: int = 20, preset: str = "veryfast"
    ) -> None:
        self.path, self.name = Path(path), str(path)
        self.codec, self.options = codec, {"crf": str(crf), "preset": preset}
        self._tmp: Path | None = None
        self._out: Any = None
        self._stream: Any = None
        self._first: float | None = None
        self._last_pts = -1

    def open(self, size: tuple[int, int], rate: float | None) -> None:
        av = _av()
        if not self.path.parent.is_dir():
            raise OutputError("its folder does not exist", path=self.name)
        suffix = self.path.suffix.lower().lstrip(".")
        if not suffix:
            raise UsageError(
                "--output: not window, virtual, or a video file name with a suffix (.mp4, .mkv)",
                path=self.name,
            )
        try:
            fd, name = tempfile.mkstemp(
                prefix=f".{self.path.stem}.",
                suffix=f".part{self.path.suffix}",
                dir=self.path.parent,
            )
        except OSError as exc:
            raise OutputError(f"cannot write ({exc.strerror or exc})", path=self.name) from None
        os.close(fd)
        self._tmp = Path(name)
        try:
            self._out = av.open(name, mode="w", format=CONTAINERS.get(suffix, suffix))
            stream = self._out.add_stream(self.codec, options=self.options)
            stream.width, stream.height = size
            # 4:2:0 (what players expect) needs even sides
            stream.pix_fmt = "yuv444p" if size[0] % 2 or size[1] % 2 else "yuv420p"
            stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
            if rate:
                stream.codec_context.framerate = Fraction(rate).limit_denominator(1001)
            self._stream = stream
        except Exception as exc:  # av.FFmpegError, ValueError: an unknown format or codec
            self.abort()
            raise OutputError(
                f"cannot write this format ({first_line(exc)})", path=self.name
            ) from None

    def write(self, frame: np.ndarray, grabbed: float) -> bool:
        av = _av()
        if self._first is None:
            self._first = grabbed
        pts = max(self._last_pts + 1, round((grabbed - self._first) * 1000))
        encoded = bgr_to_frame(frame, self._stream.pix_fmt)  # rounded (swscale would darken)
        encoded.pts, encoded.time_base, self._last_pts = pts, Fraction(1, 1000), pts
        try:
            for packet in self._stream.encode(encoded):
                self._out.mux(packet)
        except av.FFmpegError as exc:
            raise OutputError(f"cannot encode ({first_line(exc)})", path=self.name) from None
        return True

    def close(self) -> None:
        if self._out is None or self._tmp is None:
            return
        av = _av()
        try:
            for packet in self._stream.encode(None):  # the encoder's delayed frames
                self._out.mux(packet)
            self._out.close()
            self._out = None
            os.chmod(self._tmp, 0o666 & ~_umask())
            os.replace(self._tmp, self.path)
            self._tmp = None
        except (av.FFmpegError, OSError) as exc:
            self.abort()
            raise OutputError(
                f"cannot finish writing ({first_line(exc)})", path=self.name
            ) from None

    def abort(self) -> None:
        if self._out is not None:
            with contextlib.suppress(Exception):
                self._out.close()
            self._out = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class WindowSink:
    """An OpenCV window (cv2.imshow); q or Esc in it stops, as does closing it."""

    name = "window"
    TITLE = "facert camera (q to quit)"

    def __init__(self) -> None:
        self._shown = False

    def open(self, size: tuple[int, int], rate: float | None) -> None:
        if not opencv_has("GUI"):
            raise MissingDependencyError(
                "--output window: this OpenCV has no GUI (opencv-python-headless); install "
                "opencv-python instead of it, or use --output FILE or virtual"
            )
        cv2.namedWindow(self.TITLE, cv2.WINDOW_AUTOSIZE)
        self._shown = True

    def write(self, frame: np.ndarray, grabbed: float) -> bool:
        cv2.imshow(self.TITLE, frame)
        key = cv2.waitKey(1) & 0xFF
        visible = cv2.getWindowProperty(self.TITLE, cv2.WND_PROP_VISIBLE) >= 1
        return key not in (ord("q"), 27) and visible

    def close(self) -> None:
        if self._shown:
            self._shown = False
            with contextlib.suppress(cv2.error):
                cv2.destroyWindow(self.TITLE)

    def abort(self) -> None:
        self.close()


class VirtualSink:
    """A virtual camera other programs can open (pyvirtualcam: v4l2loopback on Linux, OBS's on
    Windows and macOS), the ``camera`` extra."""

    name = "virtual"

    def __init__(self) -> None:
        self._camera: Any = None

    def open(self, size: tuple[int, int], rate: float | None) -> None:
        try:
            import pyvirtualcam
        except ImportError:
            raise MissingDependencyError(
                "--output virtual needs pyvirtualcam: pip install 'facert[camera]'"
            ) from None
        try:
            self._camera = pyvirtualcam.Camera(
                size[0], size[1], rate or 30.0, fmt=pyvirtualcam.PixelFormat.BGR
            )
        except RuntimeError as exc:
            if "v4l2loopback" in str(exc):
                raise OutputError(
                    "--output virtual: no v4l2loopback device (/dev/video*); load the module "
                    "first: sudo modprobe v4l2loopback devices=1"
                ) from None
            raise OutputError(f"--output virtual: {first_line(exc)}") from None

    def write(self, frame: np.ndarray, grabbed: float) -> bool:
        self._camera.send(frame)
        return True

    def close(self) -> None:
        if self._camera is not None:
            camera, self._camera = self._camera, None
            camera.close()

    def abort(self) -> None:
        self.close()


def open_sink(output: str) -> Sink:
    """The sink ``--output`` names: "window", "virtual", or a video file's path (not opened yet)."""
    if output == "window":
        return WindowSink()
    if output == "virtual":
        return VirtualSink()
    return FileSink(Path(output))
