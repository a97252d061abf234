"""Reading and re-encoding video files with PyAV (the ``video`` extra), with one-line errors.

``read_frames`` yields the decoded frames of a file's first video stream as (H, W, 3) uint8 BGR with
their timestamps and rotation. ``transcode`` re-encodes that stream through a frame filter (frames in
order, restored frames back in order, batches allowed) or a per-frame callback, decoding and encoding
in threads of their own, and copies every audio and subtitle stream packet for packet: each frame
keeps its pts and the source time base (variable frame rate included), the encoder is flushed, the
rotation is kept, and the output is written to a temporary file beside ``dst`` and renamed (nothing
at ``dst`` on failure or Ctrl-C).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from facert.errors import InputError, OutputError, UsageError, first_line
from facert.io.files import write_atomic
from facert.io.pipes import Pipe, StoppedError, Worker, join_all
from facert.io.video_encode import EncodeOptions, add_video_stream, av_module, format_name
from facert.io.yuv import bgr_to_frame, frame_to_bgr

if TYPE_CHECKING:
    from av.container import InputContainer, OutputContainer
    from av.video.stream import VideoStream

COPIED_STREAM_TYPES = frozenset({"audio", "subtitle"})


@dataclass(frozen=True)
class Frame:
    """A decoded video frame: ``bgr`` (H, W, 3) uint8, ``pts`` in ticks of ``time_base``, and the
    clockwise ``rotation`` in degrees that players apply when showing it (the pixels are not rotated)."""

    bgr: np.ndarray
    pts: int
    time_base: Fraction
    rotation: int = 0

    @property
    def seconds(self) -> float:
        return float(self.pts * self.time_base)


@dataclass(frozen=True)
class VideoInfo:
    """What the header says about a file's first video stream (``frames``: 0 when unknown)."""

    width: int
    height: int
    time_base: Fraction
    frames: int
    rate: Fraction | None
    rotation: int
    streams: tuple[str, ...]  # the type of every stream, in file order


@dataclass(frozen=True)
class Progress:
    """Reported after each frame: ``total`` and ``eta`` (seconds) are None when unknown."""

    frames: int
    total: int | None
    elapsed: float
    fps: float
    eta: float | None


@dataclass(frozen=True)
class TranscodeResult:
    """Frames re-encoded, packets copied, streams skipped, and the seconds spent decoding and
    encoding (``timings``: "decode", "encode"; each in its own thread)."""

    frames: int
    copied_packets: int
    skipped_streams: tuple[str, ...]  # streams that were neither re-encoded nor copied (data, ...)
    timings: dict[str, float] = field(default_factory=dict)


_av = av_module


def open_input(path: Path) -> InputContainer:
    """Open ``path`` for reading; InputError (one line, naming the file) unless it has a video stream."""
    av = _av()
    if path.is_dir():
        raise InputError("is a directory, not a video", path=str(path))
    if not path.exists():
        raise InputError("no such file", path=str(path))
    if path.stat().st_size == 0:
        raise InputError("empty file (0 bytes)", path=str(path))
    try:
        container = av.open(str(path), mode="r", metadata_errors="replace")
    except av.FFmpegError as exc:
        reason = first_line(exc.strerror or exc)
        raise InputError(f"not a readable video ({reason})", path=str(path)) from None
    if not container.streams.video:
        container.close()
        raise InputError("no video stream", path=str(path))
    return container


def probe(path: Path) -> VideoInfo:
    """The header of ``path`` plus the rotation of its first frame (decoded to read it)."""
    with open_input(path) as container:
        stream = container.streams.video[0]
        first = next(_decode(path, container, stream), None)
        if first is None:
            raise InputError("the video stream has no frames", path=str(path))
        return VideoInfo(
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            time_base=_time_base(path, stream),
            frames=stream.frames or 0,
            rate=stream.average_rate or stream.guessed_rate,
            rotation=first.rotation,
            streams=tuple(s.type for s in container.streams),
        )


def _time_base(path: Path, stream: Any) -> Fraction:
    if not stream.time_base:
        raise InputError("the video stream has no time base", path=str(path))
    return Fraction(stream.time_base)


def _decode(path: Path, container: InputContainer, stream: VideoStream) -> Iterator[Any]:
    """The av.VideoFrames of ``stream``; a decoding error becomes a one-line InputError."""
    with _ffmpeg_errors() as logs:
        for packet in _demux(path, container, [stream]):
            yield from _decode_packet(path, packet, logs)
        _check_logs(path, logs)


def _demux(path: Path, container: InputContainer, streams: list[Any]) -> Iterator[Any]:
    """The packets of ``streams`` in file order; a demuxing error becomes a one-line InputError."""
    av = _av()
    packets = container.demux(streams)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.FFmpegError as exc:
            reason = first_line(exc.strerror or exc)
            raise InputError(f"corrupt or truncated video ({reason})", path=str(path)) from None
        yield packet


@contextlib.contextmanager
def _ffmpeg_errors() -> Iterator[list[tuple[int, str, str]]]:
    """Collect the errors FFmpeg logs while reading. Demuxers and decoders report damaged data there
    ("File ended prematurely", a bad element, a broken slice) and go on, concealing it; facert treats
    any such error as a damaged file. PyAV's logging is off by default: it is on while this runs."""
    import av.logging

    level = av.logging.get_level()
    if level is None or level < av.logging.ERROR:
        av.logging.set_level(av.logging.ERROR)
    try:
        with av.logging.Capture(local=False) as logs:
            yield logs
    finally:
        av.logging.set_level(level)


def _check_logs(
    path: Path, logs: list[tuple[int, str, str]], ignore: frozenset[str] = frozenset()
) -> None:
    """InputError on the first error FFmpeg logged, but those of the ``ignore`` components (the
    encoder and muxer of a transcode, whose failures raise on their own)."""
    import av.logging

    errors = [
        f"{name}: {text.strip()}"
        for level, name, text in logs
        if level <= av.logging.ERROR and name not in ignore
    ]
    if errors:
        raise InputError(f"corrupt or truncated video ({errors[0][:160]})", path=str(path))


def _decode_packet(
    path: Path, packet: Any, logs: list[tuple[int, str, str]], ignore: frozenset[str] = frozenset()
) -> list[Any]:
    av = _av()
    if packet.is_corrupt:
        raise InputError("corrupt video packet", path=str(path))
    try:
        frames = list(packet.decode())
    except av.FFmpegError as exc:
        reason = first_line(exc.strerror or exc)
        raise InputError(f"corrupt or truncated video ({reason})", path=str(path)) from None
    _check_logs(path, logs, ignore)
    return frames


class _Window:
    """Which timestamps fall in [start, start + duration) seconds, and the shift that makes the
    first kept moment time zero in each time base."""

    def __init__(self, start: float | None, duration: float | None) -> None:
        if start is not None and start < 0:
            raise UsageError(f"start must be >= 0 seconds, got {start}")
        if duration is not None and duration <= 0:
            raise UsageError(f"duration must be > 0 seconds, got {duration}")
        self.start = start or 0.0
        self.end = None if duration is None else self.start + duration

    @property
    def whole(self) -> bool:
        return self.start == 0.0 and self.end is None

    def _ticks(self, seconds: float, time_base: Fraction) -> int:
        # rounded to the time base, so 0.4 + 0.2 seconds ends at the frame of 0.6, not after it
        return round(Fraction(seconds) / time_base)

    def keeps(self, pts: int, time_base: Fraction) -> bool:
        return pts >= self.shift(time_base) and not self.past_end(pts, time_base)

    def shift(self, time_base: Fraction) -> int:
        return self._ticks(self.start, time_base)

    def past_end(self, pts: int, time_base: Fraction) -> bool:
        return self.end is not None and pts >= self._ticks(self.end, time_base)


def read_frames(
    path: Path, start: float | None = None, duration: float | None = None
) -> Iterator[Frame]:
    """Decode the first video stream of ``path`` (from ``start`` for ``duration`` seconds, both
    optional) into :class:`Frame` s, in presentation order, with their source pts."""
    window = _Window(start, duration)
    with open_input(path) as container:
        stream = container.streams.video[0]
        time_base = _time_base(path, stream)
        if window.start > 0:
            container.seek(round(Fraction(window.start) / time_base), stream=stream)
        count = 0
        for frame in _decode(path, container, stream):
            if frame.pts is None:
                raise InputError(f"frame {count} has no timestamp", path=str(path))
            if window.past_end(frame.pts, time_base):
                return
            if not window.keeps(frame.pts, time_base):
                continue
            count += 1
            bgr = frame_to_bgr(frame)
            yield Frame(bgr=bgr, pts=frame.pts, time_base=time_base, rotation=frame.rotation)
        _check_count(path, count, stream.frames or 0, window)


def _check_count(path: Path, count: int, expected: int, window: _Window) -> None:
    """A container whose index promises more frames than the file holds was cut short."""
    if window.whole and expected and count < expected:
        raise InputError(f"truncated video ({count} of {expected} frames)", path=str(path))
    if count == 0:
        raise InputError("no video frames (in the part asked for)", path=str(path))


ProcessFn = Callable[[np.ndarray, float], np.ndarray]
ProgressFn = Callable[[Progress], None]
QUEUE_FRAMES = 8  # decoded frames waiting to be restored, and restored ones waiting to be encoded
_END = object()  # the last item through a queue


@runtime_checkable
class FrameFilter(Protocol):
    """Restores the frames of :func:`transcode` when it needs several at once (a batch): frames go
    in in order and come back in the same order, possibly some calls later."""

    def push(self, seconds: float, bgr: np.ndarray) -> list[np.ndarray]:
        """Take the next frame ((H, W, 3) uint8 BGR at ``seconds``); return the restored frames
        this call finished ((H, W, 3) uint8 BGR each), oldest first."""
        ...

    def finish(self) -> list[np.ndarray]:
        """Return the frames still held, oldest first."""
        ...


class _EachFrame:
    """A per-frame ``process(bgr, seconds)`` callback as a :class:`FrameFilter`."""

    def __init__(self, process: ProcessFn) -> None:
        self.process = process

    def push(self, seconds: float, bgr: np.ndarray) -> list[np.ndarray]:
        return [self.process(bgr, seconds)]

    def finish(self) -> list[np.ndarray]:
        return []


def check_paths(src: Path, dst: Path) -> None:
    """UsageError unless ``dst`` is a file name other than ``src``'s."""
    if dst.resolve() == src.resolve():
        raise UsageError("the output would overwrite the input; choose another name", path=str(dst))
    if dst.is_dir():
        raise UsageError("is a folder; name the output file (e.g. restored.mp4)", path=str(dst))


def transcode(
    src: Path,
    dst: Path,
    process: ProcessFn | FrameFilter,
    options: EncodeOptions | None = None,
    *,
    progress: ProgressFn | None = None,
    start: float | None = None,
    duration: float | None = None,
) -> TranscodeResult:
    """Re-encode ``src``'s first video stream into ``dst``, its frames through ``process`` (a
    :class:`FrameFilter`, or a callback ``process(bgr, seconds)`` returning the frame restored),
    and copy its audio and subtitle streams as they are. Each frame keeps its source pts.

    Decoding and encoding run in threads of their own, joined to ``process`` (run in the calling
    thread) by bounded queues of :data:`QUEUE_FRAMES` frames: memory stays bounded whatever the
    length. An exception anywhere, or Ctrl-C, stops every thread and is raised here. With
    ``start``/``duration`` only that part is written, shifted to start at time zero. ``dst`` is
    written through a temporary file beside it: on any failure nothing is left at ``dst``.
    """
    src, dst = Path(src), Path(dst)
    check_paths(src, dst)
    window = _Window(start, duration)
    info = probe(src)
    frames = process if isinstance(process, FrameFilter) else _EachFrame(process)
    job = _Transcode(src, frames, options or EncodeOptions(), info, window, progress)
    results: list[TranscodeResult] = []
    try:
        write_atomic(dst, lambda tmp: results.append(job.run(tmp, dst)))
    except OSError as exc:
        raise OutputError(f"cannot write ({exc.strerror or exc})", path=str(dst)) from None
    return results[0]


class _Transcode:
    """One transcoding run (see :func:`transcode`): a decoding thread, the caller's thread running
    the filter, an encoding thread."""

    def __init__(
        self,
        src: Path,
        frames: FrameFilter,
        options: EncodeOptions,
        info: VideoInfo,
        window: _Window,
        progress: ProgressFn | None,
    ) -> None:
        self.src, self.filter, self.options = src, frames, options
        self.info, self.window, self.report = info, window, progress
        self.frames = self.copied = 0
        self.timings = {"decode": 0.0, "encode": 0.0}
        self.began = time.perf_counter()
        self.total = self._expected_total()

    def _expected_total(self) -> int | None:
        if self.window.whole:
            return self.info.frames or None
        end = self.window.end
        if end is None or not self.info.rate:
            return None
        return max(1, round((end - self.window.start) * float(self.info.rate)))

    def run(self, tmp: Path, dst: Path) -> TranscodeResult:
        av = _av()
        # what the encoder and the muxer log is theirs, not the input's
        self.ignore = frozenset({self.options.codec, str(format_name(dst))})
        with open_input(self.src) as inp:
            try:
                out = av.open(str(tmp), mode="w", format=format_name(dst))
            except (av.FFmpegError, ValueError) as exc:
                raise OutputError(
                    f"cannot write this format ({first_line(exc)})", path=str(dst)
                ) from None
            try:
                skipped = self._streams(inp, out)
                with _ffmpeg_errors() as logs:
                    self._threads(inp, out, logs)
                    _check_logs(self.src, logs, self.ignore)
                out.close()
            except av.FFmpegError as exc:
                raise OutputError(f"cannot encode ({first_line(exc)})", path=str(dst)) from None
            finally:
                out.close()
        _check_count(self.src, self.frames, self.info.frames, self.window)
        return TranscodeResult(self.frames, self.copied, skipped, dict(self.timings))

    def _streams(self, inp: InputContainer, out: OutputContainer) -> tuple[str, ...]:
        self.vin = inp.streams.video[0]
        size = (self.info.width, self.info.height)
        self.vout = add_video_stream(
            out, self.options, size, self.info.time_base, self.info.rate, self.info.rotation
        )
        self.copies: dict[int, Any] = {}
        skipped: list[str] = []
        for stream in inp.streams:
            if stream is self.vin:
                continue
            if stream.type in COPIED_STREAM_TYPES:
                self.copies[stream.index] = out.add_stream_from_template(stream)
            else:
                skipped.append(f"#{stream.index} {stream.type}")
        return tuple(skipped)

    def _threads(self, inp: InputContainer, out: OutputContainer, logs: list[Any]) -> None:
        """Decode, filter and encode concurrently; raise the first failure once all have stopped."""
        stop = threading.Event()
        decoded, restored = Pipe(stop, QUEUE_FRAMES), Pipe(stop, QUEUE_FRAMES)
        reader = Worker("facert-decode", lambda: self._read(inp, logs, decoded), stop)
        writer = Worker("facert-encode", lambda: self._write(out, restored), stop)
        try:
            reader.start()
            writer.start()
            self._restore(decoded, restored)
            writer.join()  # the encoder's tail flushed
        except StoppedError:
            pass  # a worker failed: its error is raised below
        finally:
            join_all([reader, writer], stop)
        for worker in (reader, writer):
            if worker.error is not None:
                raise worker.error

    def _read(self, inp: InputContainer, logs: list[Any], decoded: Pipe) -> None:
        """The decoding thread: kept frames as (pts, bgr) and kept packets to copy, in file order."""
        time_base = self.info.time_base
        mark = time.perf_counter()
        if self.window.start > 0:
            inp.seek(round(Fraction(self.window.start) / time_base), stream=self.vin)
        finished: set[int] = set()
        wanted = {self.vin.index, *self.copies}
        streams = [self.vin, *(inp.streams[i] for i in self.copies)]
        for packet in _demux(self.src, inp, streams):
            index = packet.stream.index
            kept: list[Any] = []
            if index == self.vin.index:
                for frame in _decode_packet(self.src, packet, logs, self.ignore):
                    if self.window.past_end(frame.pts, time_base):
                        finished.add(index)
                    elif self.window.keeps(frame.pts, time_base):
                        kept.append(self._pixels(frame))
            elif packet.size:  # not the empty packet that ends each stream
                if packet.pts is not None and self.window.past_end(packet.pts, packet.time_base):
                    finished.add(index)
                elif self.window.whole or (
                    packet.pts is not None and self.window.keeps(packet.pts, packet.time_base)
                ):
                    kept.append(packet)
            self.timings["decode"] += time.perf_counter() - mark
            for item in kept:
                decoded.put(item)
            mark = time.perf_counter()
            if finished >= wanted:
                break
        decoded.put(_END)

    def _pixels(self, frame: Any) -> tuple[int, np.ndarray]:
        if frame.pts is None:
            raise InputError(f"frame {self.frames} has no timestamp", path=str(self.src))
        return frame.pts, frame_to_bgr(frame)

    def _restore(self, decoded: Pipe, restored: Pipe) -> None:
        """The calling thread: decoded frames through the filter, in order, each restored frame
        paired with its own source pts; packets to copy passed on as they come."""
        pending: deque[int] = deque()
        while (item := decoded.get()) is not _END:
            if not isinstance(item, tuple):
                restored.put(item)
                continue
            pts, bgr = item
            pending.append(pts)
            self._send(self.filter.push(float(pts * self.info.time_base), bgr), pending, restored)
        self._send(self.filter.finish(), pending, restored)
        if pending:
            raise UsageError(
                f"the frame filter gave back {self.frames} of {self.frames + len(pending)} frames"
            )
        restored.put(_END)

    def _send(self, frames: list[np.ndarray], pending: deque[int], restored: Pipe) -> None:
        shape = (self.info.height, self.info.width, 3)
        for result in frames:
            if not pending:
                raise UsageError("the frame filter gave back more frames than it was given")
            if not isinstance(result, np.ndarray) or result.shape != shape:
                found = getattr(result, "shape", type(result).__name__)
                raise UsageError(f"the frame callback returned {found}, expected {shape}")
            restored.put((pending.popleft(), result))
            self.frames += 1
            if self.report is not None:
                self.report(self._progress())

    def _write(self, out: OutputContainer, restored: Pipe) -> None:
        """The encoding thread: frames encoded at their source pts (shifted by ``--start``),
        packets copied, the encoder's delayed frames (B-frame tails) flushed at the end."""
        time_base = self.info.time_base
        shift = self.window.shift(time_base)
        while (item := restored.get()) is not _END:
            mark = time.perf_counter()
            if isinstance(item, tuple):
                pts, bgr = item
                frame = bgr_to_frame(bgr, self.options.pix_fmt)
                frame.pts, frame.time_base = pts - shift, time_base
                for packet in self.vout.encode(frame):
                    out.mux(packet)
            else:
                self._copy(out, item)
            self.timings["encode"] += time.perf_counter() - mark
        mark = time.perf_counter()
        for packet in self.vout.encode(None):
            out.mux(packet)
        self.timings["encode"] += time.perf_counter() - mark

    def _copy(self, out: OutputContainer, packet: Any) -> None:
        if not self.window.whole:
            shift = self.window.shift(packet.time_base)
            packet.pts -= shift
            if packet.dts is not None:  # Matroska leaves some unset
                packet.dts -= shift
        packet.stream = self.copies[packet.stream.index]
        out.mux(packet)
        self.copied += 1

    def _progress(self) -> Progress:
        elapsed = time.perf_counter() - self.began
        fps = self.frames / elapsed if elapsed > 0 else 0.0
        eta = None
        if self.total is not None and fps > 0:
            eta = max(0, self.total - self.frames) / fps
        return Progress(self.frames, self.total, elapsed, fps, eta)
