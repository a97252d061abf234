"""Live frame sources for ``facert camera``: OpenCV capture (a device index, a file, a URL, or a
GStreamer pipeline string) or a synthetic face, read in a thread with a latest-frame policy.

:class:`Capture` runs a source's ``read`` in its own thread and keeps only the newest frame in a
one-slot buffer (:class:`LatestFrame`): a frame the consumer did not take before the next one arrived
is counted as dropped and never queued, so a slow consumer sees bounded latency instead of a growing
backlog. Every frame carries the monotonic time it was grabbed at (:func:`time.monotonic`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from facert.backends.base import Lifecycle
from facert.errors import FacertError, InputError, UsageError, first_line

log = logging.getLogger(__name__)


class Source(Protocol):
    """Frames of one source. ``open`` raises InputError (one line, naming the source) when it
    cannot be opened; ``read`` blocks until the next frame ((H, W, 3) uint8 BGR) and returns None
    when the source has ended. ``size`` is (width, height) once open, ``rate`` frames/s or None."""

    name: str

    @property
    def size(self) -> tuple[int, int]: ...

    @property
    def rate(self) -> float | None: ...

    def open(self) -> None: ...

    def read(self) -> np.ndarray | None: ...

    def close(self) -> None: ...


def is_gstreamer(spec: str) -> bool:
    """Whether ``spec`` is a GStreamer pipeline (elements joined by ``!``) rather than a file/URL."""
    return " ! " in spec or spec.rstrip().endswith("appsink")


def opencv_has(feature: str) -> bool:
    """Whether this OpenCV build lists ``feature`` ("GStreamer", "GUI") as present: its line in
    :func:`cv2.getBuildInformation` neither says NO/NONE nor is missing."""
    for line in cv2.getBuildInformation().splitlines():
        name, _, value = line.strip().partition(":")
        if name.strip() == feature:
            return bool(value.strip()) and value.split()[0] not in ("NO", "NONE")
    return False


class _Pacer:
    """Sleeps so that frame ``i`` is released at ``start + i / rate`` (no pacing when rate is 0)."""

    def __init__(self, rate: float) -> None:
        self.rate, self.count = rate, 0
        self.start: float | None = None  # the first frame's release: its first wait

    def wait(self) -> None:
        if self.start is None:
            self.start = time.monotonic()
        if self.rate > 0:
            delay = self.start + self.count / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        self.count += 1


class OpenCvSource:
    """``spec``: a device index ("0"), a video file, a URL (rtsp://, http://) or a GStreamer pipeline
    ending in appsink. A file is played at ``fps`` (default: its own frame rate; 0: as fast as it
    decodes), so it behaves like a camera; a camera is asked for ``fps`` when given."""

    def __init__(self, spec: str, fps: float | None = None) -> None:
        self.name, self.fps = spec, fps
        self._capture: cv2.VideoCapture | None = None
        self._size = (0, 0)
        self._rate: float | None = None
        self._pacer: _Pacer | None = None
        self._first: np.ndarray | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    @property
    def rate(self) -> float | None:
        return self._rate

    def open(self) -> None:
        capture, is_file = self._open_capture()
        if self.fps and not is_file:
            capture.set(cv2.CAP_PROP_FPS, self.fps)
        native = capture.get(cv2.CAP_PROP_FPS)
        self._rate = self.fps or (native if native > 0 else None)
        if is_file:
            self._pacer = _Pacer((self._rate or 0.0) if self.fps != 0 else 0.0)
        self._capture = capture
        width, height = (
            capture.get(cv2.CAP_PROP_FRAME_WIDTH),
            capture.get(cv2.CAP_PROP_FRAME_HEIGHT),
        )
        if width <= 0 or height <= 0:  # some streams say nothing before their first frame
            self._first = self._grab()
            if self._first is None:
                self.close()
                raise InputError("opened, but it gives no frames", path=self.name)
            height, width = self._first.shape[:2]
        self._size = (int(width), int(height))

    def _open_capture(self) -> tuple[cv2.VideoCapture, bool]:
        spec, is_file, api = self.name, False, cv2.CAP_ANY
        target: int | str = spec
        if spec.isdigit():
            target = int(spec)
        elif is_gstreamer(spec):
            if not opencv_has("GStreamer"):
                raise UsageError(
                    "a GStreamer pipeline, but this OpenCV has no GStreamer (the opencv-python "
                    "wheels never do): use JetPack's OpenCV or one built with -DWITH_GSTREAMER=ON"
                )
            api = cv2.CAP_GSTREAMER
        elif "://" not in spec:
            path = Path(spec)
            if not path.is_file():
                reason = "is a directory" if path.is_dir() else "no such file or camera"
                raise InputError(f"cannot open the source: {reason}", path=spec)
            is_file = True
        capture = _quiet_capture(target, api)
        if not capture.isOpened():
            capture.release()
            reason = (
                "no camera at this index, or it is busy"
                if isinstance(target, int)
                else "not a readable video"
                if is_file
                else "the stream cannot be opened (address, network, or format)"
            )
            raise InputError(f"cannot open the source: {reason}", path=spec)
        return capture, is_file

    def _grab(self) -> np.ndarray | None:
        if self._capture is None:
            return None
        ok, frame = self._capture.read()
        return frame if ok and frame is not None else None

    def read(self) -> np.ndarray | None:
        if self._first is not None:
            frame, self._first = self._first, None
            return frame
        if self._pacer is not None:
            self._pacer.wait()
        return self._grab()

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


def _quiet_capture(target: int | str, api: int) -> cv2.VideoCapture:
    """cv2.VideoCapture without OpenCV's and FFmpeg's warnings on stderr (facert reports a source
    that cannot be opened in one line of its own). OPENCV_FFMPEG_LOGLEVEL is read at first use."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        return cv2.VideoCapture(target, api)
    finally:
        cv2.utils.logging.setLogLevel(level)


class SyntheticSource:
    """A camera that films ``image`` ((h, w, 3) uint8 BGR, e.g. a face photo) sliding back and forth
    over a grey ``size`` (width, height) canvas, one frame every 1/``rate`` s (0: as fast as asked),
    ``count`` frames (None: endless). :meth:`frame` gives frame ``i`` without pacing."""

    def __init__(
        self,
        image: np.ndarray,
        size: tuple[int, int] = (640, 480),
        rate: float = 30.0,
        count: int | None = None,
        name: str = "synthetic",
    ) -> None:
        if image.shape[0] > size[1] or image.shape[1] > size[0]:
            raise UsageError(
                f"synthetic source: a {image.shape[1]}x{image.shape[0]} image "
                f"does not fit a {size[0]}x{size[1]} frame"
            )
        self.image, self.name, self.count = image, name, count
        self._size, self._rate = size, rate
        self._pacer = _Pacer(rate)
        self._index = 0

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    @property
    def rate(self) -> float | None:
        return self._rate or None

    def open(self) -> None:
        self._pacer, self._index = _Pacer(self._rate), 0

    def frame(self, index: int) -> np.ndarray:
        width, height = self._size
        h, w = self.image.shape[:2]
        span = max(1, width - w)
        x = index % (2 * span)
        x = x if x < span else 2 * span - x  # back and forth, 1 px per frame
        canvas = np.full((height, width, 3), 90, np.uint8)
        y = (height - h) // 2
        canvas[y : y + h, x : x + w] = self.image
        return canvas

    def read(self) -> np.ndarray | None:
        if self.count is not None and self._index >= self.count:
            return None
        self._pacer.wait()
        self._index += 1
        return self.frame(self._index - 1)

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class Captured:
    """Frame number ``index`` of the source (0, 1, ...; gaps are dropped frames), grabbed at
    ``grabbed`` (time.monotonic() seconds): (H, W, 3) uint8 BGR."""

    index: int
    grabbed: float
    frame: np.ndarray


class LatestFrame:
    """A one-slot buffer: ``put`` overwrites what the consumer has not taken yet (counting it in
    ``dropped``); ``take`` waits for a frame and empties the slot."""

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._item: Captured | None = None
        self._ended = False
        self.error: FacertError | None = None
        self.captured = self.taken = self.dropped = 0

    def put(self, item: Captured) -> None:
        with self._ready:
            self.captured += 1
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._ready.notify()

    def end(self, error: FacertError | None = None) -> None:
        """No more frames (the source ended or failed with ``error``); a frame not taken yet stays."""
        with self._ready:
            self._ended, self.error = True, self.error or error
            self._ready.notify()

    def take(self) -> Captured | None:
        """The newest frame not taken yet (waits for one); None once the source has ended."""
        with self._ready:
            while self._item is None and not self._ended:
                self._ready.wait(0.1)  # a timeout keeps the main thread responsive to Ctrl-C
            item, self._item = self._item, None
            self.taken += item is not None
            return item

    def discard(self) -> None:
        """Count a frame still waiting in the slot as dropped (the consumer stopped)."""
        with self._ready:
            if self._item is not None:
                self.dropped += 1
                self._item = None


class Capture(Lifecycle):
    """Reads ``source`` in a thread of its own into a :class:`LatestFrame` (``slot``). Opening opens
    the source (InputError when it cannot be); the thread starts at the first :meth:`frames` (so
    nothing is grabbed, nor dropped, while models load); closing stops it, joins it, closes the
    source and counts a frame left in the slot as dropped. The source ending or failing
    ends :meth:`frames`; a failure is raised there, in the consumer's thread."""

    JOIN_SECONDS = 5.0

    def __init__(self, source: Source) -> None:
        self.source = source
        self.slot = LatestFrame()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _acquire(self) -> None:
        self.source.open()
        self.slot, self._stop = LatestFrame(), threading.Event()

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="facert-capture", daemon=True)
            self._thread.start()

    def _release(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(self.JOIN_SECONDS)
            if thread.is_alive():  # a read that never returns (a dead network stream)
                log.warning("%s: the capture thread did not stop; leaving it", self.source.name)
                return
        self.source.close()
        self.slot.discard()

    def _loop(self) -> None:
        index = 0
        try:
            while not self._stop.is_set():
                frame = self.source.read()
                grabbed = time.monotonic()
                if frame is None:
                    break
                self.slot.put(Captured(index, grabbed, frame))
                index += 1
            self.slot.end()
        except FacertError as exc:
            self.slot.end(exc)
        except Exception as exc:  # cv2.error, OSError: the source failed while reading
            self.slot.end(
                InputError(f"the source failed ({first_line(exc)})", path=self.source.name)
            )

    def frames(self) -> Iterator[Captured]:
        """The newest frame each time the consumer asks, until the source ends (then the error it
        failed with, if any, is raised)."""
        self._require_open()
        self._start()
        while (item := self.slot.take()) is not None:
            yield item
        if self.slot.error is not None:
            raise self.slot.error
