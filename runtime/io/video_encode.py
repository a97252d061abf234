"""The re-encoded video stream of :func:`facert.io.video.transcode`: encoder options, their check
before any work starts, and the output stream that keeps the source's time base and rotation."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facert.errors import MissingDependencyError, UsageError, first_line

if TYPE_CHECKING:
    from av.container import OutputContainer


def av_module() -> Any:
    """PyAV, or the one-line error naming the extra to install."""
    try:
        import av
    except ImportError:
        raise MissingDependencyError("video needs PyAV: pip install 'facert[video]'") from None
    return av


@dataclass(frozen=True)
class EncodeOptions:
    """How the video stream is re-encoded: libx264 at CRF 18 in yuv420p plays everywhere and is close
    to visually lossless; ``extra`` goes to the encoder as-is (e.g. {"tune": "film"})."""

    codec: str = "libx264"
    crf: int | None = 18
    preset: str | None = "medium"
    pix_fmt: str = "yuv420p"
    extra: dict[str, str] = field(default_factory=dict)

    def codec_options(self) -> dict[str, str]:
        options = dict(self.extra)
        if self.crf is not None:
            options.setdefault("crf", str(self.crf))
        if self.preset is not None:
            options.setdefault("preset", self.preset)
        return options


def check_encoder(options: EncodeOptions) -> None:
    """UsageError (exit 2, before any work) unless ``options.codec`` names a video encoder of this
    PyAV build that takes ``options.pix_fmt``."""
    av = av_module()
    try:
        codec = av.codec.Codec(options.codec, "w")
    except (ValueError, av.FFmpegError):
        raise UsageError(
            f"unknown video encoder {options.codec!r} (e.g. libx264, libx265, libvpx-vp9, "
            "libsvtav1; `ffmpeg -encoders` lists them)"
        ) from None
    if codec.type != "video":
        raise UsageError(f"{options.codec!r} is a {codec.type} encoder, not a video one")
    formats = [f.name for f in codec.video_formats or ()]
    if formats and options.pix_fmt not in formats:
        raise UsageError(
            f"{options.codec} does not take pixel format {options.pix_fmt!r}; it takes "
            f"{', '.join(formats[:12])}"
        )


def format_name(dst: Path) -> str | None:
    """The container format for ``dst``'s suffix (the temporary file's own name ends in .part.X)."""
    suffix = dst.suffix.lower().lstrip(".")
    return {"mkv": "matroska", "m4v": "mp4", "ts": "mpegts", "webm": "webm"}.get(
        suffix, suffix or None
    )


def add_video_stream(
    out: OutputContainer,
    options: EncodeOptions,
    size: tuple[int, int],
    time_base: Fraction,
    rate: Fraction | None,
    rotation: int,
) -> Any:
    """The encoder stream of ``size`` (width, height), its codec time base set to the source's
    ``time_base`` so no timestamp is rounded (what ``add_stream(rate=...)`` would do, and which
    breaks variable frame rate); ``rate`` (the source's average) only guides rate control."""
    av = av_module()
    try:
        stream: Any = out.add_stream(options.codec, options=options.codec_options())
    except (ValueError, av.FFmpegError) as exc:
        raise UsageError(f"unknown video encoder {options.codec!r} ({first_line(exc)})") from None
    if stream.type != "video":
        raise UsageError(f"{options.codec!r} is a {stream.type} encoder, not a video one")
    stream.width, stream.height = size
    stream.pix_fmt = options.pix_fmt
    stream.time_base = time_base
    stream.codec_context.time_base = time_base
    if rate:
        stream.codec_context.framerate = rate  # rate control only; pts come from the frames
    if rotation:
        stream.set_display_rotation(rotation)
    return stream
