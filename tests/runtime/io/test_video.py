"""Video reading and transcoding on tiny generated clips (a real face moving, a tone as audio)."""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from video_clips import SIZE, damaged, face_frames, make_clip

from facert.errors import InputError, OutputError, UsageError
from facert.io.video import EncodeOptions, Progress, probe, read_frames, transcode

av = pytest.importorskip("av")

FRAMES = 20
CFR_BASE = Fraction(1, 12800)  # what FFmpeg's mp4 muxer picks for 25 fps
CFR_PTS = [i * 512 for i in range(FRAMES)]
VFR_BASE = Fraction(1, 1000)
VFR_PTS = [0, 40, 70, 150, 160, 200, 290, 300, 333, 420, 500, 510, 600, 641, 700, 820, 830, 900]


def _identity(bgr: np.ndarray, seconds: float) -> np.ndarray:
    return bgr


def _packets(path: Path, kind: str) -> list[tuple[bytes, Fraction | None]]:
    """(bytes, pts in seconds) of every packet of the first ``kind`` stream, in file order."""
    with av.open(str(path)) as container:
        streams = getattr(container.streams, kind)
        if not streams:
            return []
        stream = streams[0]
        return [
            (bytes(p), None if p.pts is None else p.pts * p.time_base)
            for p in container.demux(stream)
            if p.size  # every packet but the empty one ending the stream (Matroska has no dts on some)
        ]


def _times(path: Path) -> list[Fraction]:
    return [f.pts * f.time_base for f in read_frames(path)]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / max(mse, 1e-12))


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    made = {
        "cfr": folder / "cfr.mp4",
        "vfr": folder / "vfr.mkv",
        "rotated": folder / "rotated.mp4",
        "silent": folder / "silent.mp4",
        "faststart": folder / "faststart.mp4",
    }
    make_clip(made["cfr"], CFR_PTS, CFR_BASE, audio="aac")
    make_clip(made["vfr"], VFR_PTS, VFR_BASE, audio="libopus", subtitles=True)
    make_clip(made["rotated"], CFR_PTS[:6], CFR_BASE, audio=None, rotation=90)
    make_clip(made["silent"], CFR_PTS[:6], CFR_BASE, audio=None)
    make_clip(made["faststart"], CFR_PTS, CFR_BASE, audio="aac", faststart=True)
    return made


@pytest.mark.parametrize(("name", "base"), [("cfr", CFR_BASE), ("vfr", VFR_BASE)])
def test_transcode_keeps_frames_timestamps_and_audio(
    clips: dict[str, Path], tmp_path: Path, name: str, base: Fraction
) -> None:
    src = clips[name]
    dst = tmp_path / f"out{src.suffix}"
    result = transcode(src, dst, _identity)
    before, after = _times(src), _times(dst)
    assert result.frames == len(before) == len(after) == len(CFR_PTS if name == "cfr" else VFR_PTS)
    # one tick of the source time base: the muxer may store a finer one, never a coarser one
    assert max(abs(a - b) for a, b in zip(before, after, strict=True)) <= base
    audio = _packets(src, "audio")
    assert len(audio) > 10 and _packets(dst, "audio") == audio  # bytes and pts, packet for packet
    texts = _packets(src, "subtitles") if name == "vfr" else []
    assert _packets(dst, "subtitles") == texts and len(texts) == (9 if name == "vfr" else 0)
    assert result.copied_packets == len(audio) + len(texts) and result.skipped_streams == ()
    for original, copy in zip(read_frames(src), read_frames(dst), strict=True):
        # CRF 18 on a 96 px frame: a re-encode of a re-encode stays above 30 dB (measured ~40)
        assert _psnr(original.bgr, copy.bgr) > 30


def test_process_is_applied_with_the_frame_time(clips: dict[str, Path], tmp_path: Path) -> None:
    seen: list[float] = []

    def invert(bgr: np.ndarray, seconds: float) -> np.ndarray:
        seen.append(seconds)
        return 255 - bgr

    dst = tmp_path / "inverted.mp4"
    transcode(clips["cfr"], dst, invert)
    assert seen == pytest.approx([float(t) for t in _times(clips["cfr"])], abs=1e-9)
    for original, copy in zip(read_frames(clips["cfr"]), read_frames(dst), strict=True):
        assert _psnr(255 - original.bgr, copy.bgr) > 30  # the inverted frame was encoded
        assert _psnr(original.bgr, copy.bgr) < 12  # and it differs visibly from the source


def test_read_frames_gives_the_moving_face(clips: dict[str, Path]) -> None:
    frames = list(read_frames(clips["cfr"]))
    drawn = face_frames(FRAMES)
    assert [f.pts for f in frames] == CFR_PTS and frames[0].time_base == CFR_BASE
    assert all(f.bgr.shape == (SIZE, SIZE, 3) and f.bgr.dtype == np.uint8 for f in frames)
    # ultrafast H.264 of the drawn frames: above 30 dB (a BGR/RGB mix-up or a wrong frame is < 20)
    assert min(_psnr(f.bgr, d) for f, d in zip(frames, drawn, strict=True)) > 30


def test_rotation_is_kept(clips: dict[str, Path], tmp_path: Path) -> None:
    assert probe(clips["rotated"]).rotation == 90
    dst = tmp_path / "rotated.mp4"
    transcode(clips["rotated"], dst, _identity)
    assert {f.rotation for f in read_frames(dst)} == {90}
    assert probe(clips["silent"]).rotation == 0


def test_a_part_is_restored_from_zero(clips: dict[str, Path], tmp_path: Path) -> None:
    part = list(read_frames(clips["cfr"], start=0.4, duration=0.2))  # frames at 0.40, 0.44 ... 0.56
    assert [f.pts for f in part] == CFR_PTS[10:15]
    dst = tmp_path / "part.mp4"
    result = transcode(clips["cfr"], dst, _identity, start=0.4, duration=0.2)
    assert result.frames == 5
    assert _times(dst) == [Fraction(i * 512) * CFR_BASE for i in range(5)]
    audio = [t for _, t in _packets(dst, "audio")]
    assert audio and 0 <= min(t for t in audio if t is not None) < Fraction(1, 20)
    assert max(t for t in audio if t is not None) < Fraction(2, 10)


def test_progress_and_encoder_options(clips: dict[str, Path], tmp_path: Path) -> None:
    reports: list[Progress] = []
    dst = tmp_path / "options.mkv"
    options = EncodeOptions(crf=30, preset="veryfast", pix_fmt="yuv444p")
    transcode(clips["silent"], dst, _identity, options, progress=reports.append)
    assert [r.frames for r in reports] == list(range(1, 7))
    assert {r.total for r in reports} == {6} and reports[-1].eta == 0.0
    assert all(r.fps > 0 for r in reports)
    with av.open(str(dst)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264", "yuv444p")


@pytest.mark.parametrize("name", ["cfr", "vfr", "faststart"])
@pytest.mark.parametrize("how", ["truncated", "corrupt"])
def test_damaged_input_fails_in_one_line_and_writes_nothing(
    clips: dict[str, Path], tmp_path: Path, name: str, how: str
) -> None:
    src = damaged(clips[name], tmp_path / f"{how}{clips[name].suffix}", how)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InputError) as caught:
        transcode(src, out / f"restored{src.suffix}", _identity)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(src)), message
    assert "corrupt" in message or "truncated" in message or "not a readable" in message
    assert list(out.iterdir()) == []  # nothing at dst, no temporary file left


def test_bad_files_and_arguments(clips: dict[str, Path], tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    audio_only = tmp_path / "tone.m4a"
    with av.open(str(audio_only), mode="w") as out:
        stream = out.add_stream("aac", rate=48000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate, frame.pts = 48000, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    cases = {
        tmp_path / "missing.mp4": "no such file",
        text: "not a readable video",
        audio_only: "no video stream",
        tmp_path / "empty.mp4": "empty file",
    }
    (tmp_path / "empty.mp4").write_bytes(b"")
    for path, reason in cases.items():
        with pytest.raises(InputError, match=reason) as caught:
            list(read_frames(path))
        assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)

    src = clips["silent"]
    data = src.read_bytes()
    with pytest.raises(UsageError, match="overwrite the input"):
        transcode(src, src, _identity)
    assert src.read_bytes() == data
    dst = tmp_path / "shape.mp4"
    with pytest.raises(UsageError, match="callback returned"):
        transcode(src, dst, lambda bgr, t: bgr[:10])
    with pytest.raises(UsageError, match="not a video one"):
        transcode(src, dst, _identity, EncodeOptions(codec="aac"))
    with pytest.raises(UsageError, match="start must be"):
        transcode(src, dst, _identity, start=-1)
    assert not dst.exists() and sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["notes.mp4", "tone.m4a", "empty.mp4"]
    )


class _Batches:
    """A real FrameFilter that holds frames in batches of 4 (as the stream pipeline does) and
    inverts them; ``short`` drops the last frame at the end."""

    def __init__(self, short: bool = False) -> None:
        self.held: list[np.ndarray] = []
        self.seconds: list[float] = []
        self.short = short

    def push(self, seconds: float, bgr: np.ndarray) -> list[np.ndarray]:
        self.seconds.append(seconds)
        self.held.append(255 - bgr)
        if len(self.held) < 4:
            return []
        out, self.held = self.held, []
        return out

    def finish(self) -> list[np.ndarray]:
        out, self.held = self.held, []
        return out[:-1] if self.short else out


def test_a_batching_filter_keeps_each_frames_timestamp(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    """Frames come back from the filter 4 at a time; each is encoded at its own source pts (the
    variable-rate clip's uneven steps kept to one tick), in order, audio copied as before."""
    src, dst = clips["vfr"], tmp_path / "batched.mkv"
    batches = _Batches()
    result = transcode(src, dst, batches)
    assert result.frames == len(VFR_PTS) and set(result.timings) == {"decode", "encode"}
    assert batches.seconds == pytest.approx([float(t) for t in _times(src)], abs=1e-9)
    before, after = _times(src), _times(dst)
    assert max(abs(a - b) for a, b in zip(before, after, strict=True)) <= VFR_BASE
    for original, copy in zip(read_frames(src), read_frames(dst), strict=True):
        assert _psnr(255 - original.bgr, copy.bgr) > 30  # each frame landed at its own time
    assert _packets(dst, "audio") == _packets(src, "audio")
    with pytest.raises(UsageError, match="gave back 17 of 18 frames"):
        transcode(src, tmp_path / "short.mkv", _Batches(short=True))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batched.mkv"]


def _workers() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("facert-")]


@pytest.mark.parametrize("failure", ["interrupt", "error", "encoder"])
def test_a_failure_anywhere_stops_every_thread_and_writes_nothing(
    clips: dict[str, Path], tmp_path: Path, failure: str
) -> None:
    """Ctrl-C (KeyboardInterrupt) or an exception in the frame callback at frame 5, or an
    encoder that fails to open in the encoding thread: transcode raises it (the encoder's as
    a one-line OutputError), no decoding or encoding thread is left running, and the output
    folder is empty (no file at dst, no .part file)."""
    calls: list[float] = []

    def process(bgr: np.ndarray, seconds: float) -> np.ndarray:
        calls.append(seconds)
        if len(calls) == 5 and failure != "encoder":
            raise KeyboardInterrupt if failure == "interrupt" else RuntimeError("boom")
        return bgr

    expected: type[BaseException] = {
        "interrupt": KeyboardInterrupt,
        "error": RuntimeError,
        "encoder": OutputError,
    }[failure]
    options = EncodeOptions(extra={"profile": "nonsense"} if failure == "encoder" else {})
    out = tmp_path / "out"
    with pytest.raises(expected) as caught:
        transcode(clips["cfr"], out / "restored.mp4", process, options)
    assert _workers() == []
    assert list(out.iterdir()) == []
    if failure == "encoder":
        message = str(caught.value)
        assert "\n" not in message and message.startswith(str(out / "restored.mp4")), message
        assert "cannot encode" in message and "nonsense" in message
    else:
        assert len(calls) == 5


def test_a_lossless_reencode_keeps_the_colours(clips: dict[str, Path], tmp_path: Path) -> None:
    """yuv420p -> BGR -> yuv420p at CRF 0 (lossless): each frame within 0.1 level on average of
    the source (measured 0.005-0.017) and no shift (|mean| < 0.05). FFmpeg's swscale, which
    PyAV's bgr24 conversions use, truncated: the same run lost 2.7 levels on every pixel."""
    dst = tmp_path / "lossless.mp4"
    transcode(clips["cfr"], dst, _identity, EncodeOptions(crf=0, preset="ultrafast"))
    for original, copy in zip(read_frames(clips["cfr"]), read_frames(dst), strict=True):
        diff = copy.bgr.astype(np.int16) - original.bgr
        assert np.abs(diff).mean() < 0.1 and abs(diff.mean()) < 0.05, diff.mean()
