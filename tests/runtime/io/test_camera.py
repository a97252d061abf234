"""The camera path on 96x96 frames with a real face (grace_hopper), ISPL and MTCNN on ONNX Runtime:
sources (synthetic, a file played at its rate, ones that cannot open or fail), the latest-frame
buffer, the live loop with a recording sink, the overlay, and the file/window/virtual sinks."""

from __future__ import annotations

import dataclasses
import glob
import itertools
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from testdata import DATA
from video_clips import make_clip

from facert.config import Settings
from facert.errors import InputError, MissingDependencyError, OutputError, UsageError
from facert.io.camera import (
    Capture,
    Captured,
    LatestFrame,
    OpenCvSource,
    SyntheticSource,
    opencv_has,
)
from facert.io.camera_live import LiveOptions, LiveStats, live_config, run_live
from facert.io.camera_sinks import FileSink, RecordingSink, VirtualSink, WindowSink
from facert.io.overlay import Meter, draw_overlay, overlay_box
from facert.io.yuv import frame_to_bgr
from facert.models.artifacts import Artifact
from facert.models.exporting import ensure_artifact
from facert.models.registry import get_spec
from facert.pipeline.frame import Pipeline
from facert.pipeline.smoothing import SmoothingConfig
from facert.pipeline.stream import StreamConfig, StreamPipeline

SIZE = (96, 96)
# what facert camera runs, with landmark smoothing off so frames equal Pipeline.enhance's
PLAIN = dataclasses.replace(live_config(), smoothing=SmoothingConfig(enabled=False))


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    """grace_hopper_512.png at 48x48 (MTCNN finds it in a 96x96 frame), blurred as by a cheap
    webcam's lens (sigma 2)."""
    photo = cv2.imread(str(DATA / "faces" / "grace_hopper_512.png"), cv2.IMREAD_COLOR)
    small = cv2.resize(photo, (48, 48), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(small, (0, 0), 2.0)


@pytest.fixture(scope="module")
def pipeline(mtcnn_artifact: Artifact, settings: Settings) -> Iterator[Pipeline]:
    ensure_artifact(get_spec("ispl"), settings.cache_dir)
    # ISPL deblurs at sigma 2 on every face: its own estimate is 0 at some offsets of this small
    # face, where it leaves the face as it is
    options = {"blur_sigma": 2.0}
    with Pipeline.open(
        settings, "ispl", backend="ort", precision="fp32", model_options=options
    ) as opened:
        yield opened


def _live(
    pipeline: Pipeline, source: object, sink: RecordingSink, options: LiveOptions
) -> LiveStats:
    stream = StreamPipeline(pipeline, PLAIN).open()  # the pipeline is open: this marks the stream
    with Capture(source) as capture:  # type: ignore[arg-type]
        stats = run_live(capture, stream, sink, options)
    stats.count(capture)
    return stats


def _close_to(a: np.ndarray, b: np.ndarray) -> bool:
    """At most 1 level apart on at most 0.1% of the values: the same stage methods on the same
    frame; a backend may round a kernel differently from one call to the next (measured: equal)."""
    diff = np.abs(a.astype(np.int16) - b)
    return bool(diff.max() <= 1 and np.count_nonzero(diff) <= diff.size / 1000)


def test_latest_frame_buffer() -> None:
    """Three frames put before a take: the newest is taken, two counted dropped; a frame left when
    the source ends is still taken, then None; discard counts a leftover frame as dropped."""
    slot = LatestFrame()
    frame = np.zeros((2, 2, 3), np.uint8)
    for i in range(3):
        slot.put(Captured(i, float(i), frame))
    taken = slot.take()
    assert taken is not None and taken.index == 2
    assert (slot.captured, slot.taken, slot.dropped) == (3, 1, 2)
    slot.put(Captured(3, 3.0, frame))
    slot.end()
    last = slot.take()
    assert last is not None and last.index == 3 and slot.take() is None
    slot.put(Captured(4, 4.0, frame))
    slot.discard()
    assert (slot.captured, slot.taken, slot.dropped) == (5, 2, 3)


def test_synthetic_frames_restored_in_order_with_overlay(
    pipeline: Pipeline, face: np.ndarray
) -> None:
    """A 25 fps synthetic camera, 2 frames shown without the overlay and 2 with: each shown frame
    equals Pipeline.enhance of the source frame it came from (smoothing off, one frame a batch),
    its face changed (restored); with the overlay, the band differs and the rest is equal."""
    for overlay in (False, True):
        source = SyntheticSource(face, SIZE, rate=25.0)
        sink = RecordingSink()
        stats = _live(pipeline, source, sink, LiveOptions(overlay=overlay, frames=2))
        indices = [r.index for r in stats.records]
        assert len(sink.frames) == 2 and indices == sorted(set(indices))
        assert sink.grabbed == [r.grabbed for r in stats.records]
        for record, shown in zip(stats.records, sink.frames, strict=True):
            original = source.frame(record.index)
            expected = pipeline.enhance(original)
            assert len(expected.faces) == 1
            x1, y1, x2, y2 = expected.faces[0].box.astype(int)
            change = np.abs(expected.image[y1:y2, x1:x2].astype(int) - original[y1:y2, x1:x2])
            assert change.mean() > 1.5  # restored (2.75-4.13 measured; a face left alone: 0.0)
            if not overlay:
                assert _close_to(shown, expected.image)
                continue
            bx1, by1, bx2, by2 = overlay_box(*SIZE, stats.meter().lines())
            outside = np.ones(shown.shape[:2], bool)
            outside[by1:by2, bx1:bx2] = False
            assert _close_to(shown[outside], expected.image[outside])
            assert (
                np.abs(
                    shown[by1:by2, bx1:bx2].astype(int) - expected.image[by1:by2, bx1:bx2]
                ).mean()
                > 10
            )
        assert set(stats.records[-1].stages) >= {"detect", "align", "restore", "blend"}


def test_live_config_pastes_no_stale_face_after_drops(pipeline: Pipeline, face: np.ndarray) -> None:
    """Frames 0 and 20 of the synthetic camera (19 dropped between: the face moved 20 px, more
    than the tracker's per-frame gates allow). The live settings restore frame 20 as
    Pipeline.enhance does; the stream's defaults also paste the old track's face, carried, where
    the face was (a ghost: 40+ levels off there, measured)."""
    source = SyntheticSource(face, SIZE)
    frames = [(0.0, source.frame(0)), (0.1, source.frame(20))]
    expected = pipeline.enhance(frames[1][1]).image
    results = {}
    for name, config in (("live", PLAIN), ("default", StreamConfig(max_frames=1))):
        stream = StreamPipeline(pipeline, dataclasses.replace(config, smoothing=PLAIN.smoothing))
        stream.open()
        results[name] = list(stream.run(frames))[1]
    assert _close_to(results["live"][1], expected) and len(results["live"][2]) == 1
    assert [f.filled for f in results["default"][2]] == [False, True]
    assert np.abs(results["default"][1].astype(int) - expected).max() > 20


def test_slow_consumer_drops_frames_and_latency_stays_bounded(
    pipeline: Pipeline, face: np.ndarray
) -> None:
    """A 100 fps camera, a consumer (ISPL + a sink that takes 50 ms) at a few frames/s: frames are
    dropped, counted (captured = shown + dropped), and each shown frame's latency stays within
    its own pass (stages + sink) plus one frame interval and 250 ms of slack for the overlay, the
    copy and scheduling on 2 busy cores, where a queue would add a whole pass per frame (measured
    here: 0.3-1 s a pass) and drop nothing."""
    rate, delay = 100.0, 0.05
    sink = RecordingSink(delay=delay)
    stats = _live(pipeline, SyntheticSource(face, SIZE, rate=rate), sink, LiveOptions(frames=5))
    assert len(stats.records) == 5
    assert stats.dropped > 0 and stats.captured == len(stats.records) + stats.dropped
    indices = [r.index for r in stats.records]
    gaps = sum(b - a - 1 for a, b in itertools.pairwise(indices))
    assert gaps > 0 and gaps <= stats.dropped
    for record in stats.records:
        own_pass = sum(record.stages.values()) + delay
        assert record.latency <= own_pass + 1 / rate + 0.25, (record, own_pass)
    first, last = stats.records[0], stats.records[-1]
    assert last.latency < first.latency + sum(r.latency for r in stats.records[1:-1])


def test_file_source_plays_at_its_rate_and_ends(pipeline: Pipeline, tmp_path: Path) -> None:
    """A 20-frame 25 fps clip played at its own rate: grabs about 40 ms apart, the loop stops
    when the file ends, and every frame of the file is either shown or counted dropped."""
    clip = tmp_path / "clip.mp4"
    make_clip(clip, list(range(20)), Fraction(1, 25), audio=None)
    source = OpenCvSource(str(clip))
    sink = RecordingSink()
    stats = _live(pipeline, source, sink, LiveOptions(overlay=False))
    assert source.size == SIZE and source.rate == pytest.approx(25.0)
    assert stats.captured == 20 == len(stats.records) + stats.dropped
    first, last = stats.records[0], stats.records[-1]
    # frame i is released at i/25 s and grabbed once decoded: one interval of slack for the
    # first frame's decoding (unpaced, the 20 frames decode in ~10 ms)
    assert last.grabbed - first.grabbed >= (last.index - first.index - 1) / 25.0


@pytest.mark.parametrize("fps", [None, 0.0, 50.0])
def test_file_source_pace(tmp_path: Path, fps: float | None) -> None:
    """A 20-frame 25 fps file read alone: at its own rate it takes 19 intervals (0.76 s), at
    --fps 50 half that, at --fps 0 as long as decoding takes (asserted < 0.5 s; ~10 ms here)."""
    clip = tmp_path / "clip.mp4"
    make_clip(clip, list(range(20)), Fraction(1, 25), audio=None)
    source = OpenCvSource(str(clip), fps)
    source.open()
    frames, start = [], time.monotonic()
    while (frame := source.read()) is not None:
        frames.append(frame)
    elapsed = time.monotonic() - start
    source.close()
    assert len(frames) == 20 and frames[0].shape == (96, 96, 3)
    assert source.size == SIZE and source.rate == pytest.approx(fps or 25.0)
    if fps == 0.0:
        assert elapsed < 0.5
    else:
        assert elapsed >= 19 / (fps or 25.0) - 0.005


def test_sources_that_cannot_open(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a video")
    cases = {
        str(tmp_path / "missing.mp4"): "no such file",
        str(tmp_path): "is a directory",
        str(text): "not a readable video",
        "rtsp://127.0.0.1:9/none": "stream cannot be opened",
    }
    if not glob.glob("/dev/video*"):
        cases["0"] = "no camera at this index"
    for spec, reason in cases.items():
        with pytest.raises(InputError, match=reason) as caught:
            Capture(OpenCvSource(spec)).open()
        assert "\n" not in str(caught.value) and spec in str(caught.value)


def test_gstreamer_string_without_gstreamer() -> None:
    pipeline = (
        "nvarguscamerasrc ! nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! "
        "video/x-raw,format=BGR ! appsink drop=1 max-buffers=1"
    )
    if opencv_has("GStreamer"):
        pytest.skip("this OpenCV has GStreamer")
    with pytest.raises(UsageError, match="no GStreamer.*WITH_GSTREAMER"):
        OpenCvSource(pipeline).open()


class _Unplugged(SyntheticSource):
    """A synthetic camera unplugged after ``count`` frames: its read then fails."""

    def read(self) -> np.ndarray | None:
        frame = super().read()
        if frame is None:
            raise OSError("device disconnected")
        return frame


def test_failing_source_stops_with_one_line(face: np.ndarray) -> None:
    failure = "synthetic: the source failed .device disconnected"
    with (
        Capture(_Unplugged(face, SIZE, rate=0, count=2)) as capture,
        pytest.raises(InputError, match=failure),
    ):
        list(capture.frames())


def test_overlay_only_touches_its_band() -> None:
    frame = np.full((120, 160, 3), 200, np.uint8)
    meter = Meter(12.34, {"detect": 5.0, "align": 1.0, "restore": 80.0, "blend": 2.0}, 95.0, 7)
    assert meter.lines() == ["12.3 fps  e2e 95 ms  dropped 7", "det 5 aln 1 res 80 bln 2 ms"]
    drawn = draw_overlay(frame, meter)
    x1, y1, x2, y2 = overlay_box(160, 120, meter.lines())
    assert np.array_equal(frame, np.full_like(frame, 200))  # the input is not drawn on
    changed = np.argwhere((drawn != frame).any(axis=2))
    assert changed.size and changed.min(0).tolist() >= [y1, x1]
    assert changed.max(0).tolist() < [y2, x2]


def test_file_sink_atomic_and_readable(tmp_path: Path, face: np.ndarray) -> None:
    """Nothing at the name until close; then PyAV reads 3 frames at the grab times (1 ms ticks);
    abort leaves nothing, not even the temporary file."""
    av = pytest.importorskip("av")
    frames = [SyntheticSource(face, SIZE).frame(i) for i in range(3)]
    target = tmp_path / "out.mp4"
    sink = FileSink(target)
    sink.open(SIZE, 25.0)
    for i, frame in enumerate(frames):
        sink.write(frame, 10.0 + 0.04 * i)
    assert not target.exists() and len(list(tmp_path.glob(".out.*.part.mp4"))) == 1
    sink.close()
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]
    with av.open(str(target)) as container:
        decoded = [(f.time, frame_to_bgr(f)) for f in container.decode(video=0)]
    assert [round(t, 3) for t, _ in decoded] == [0.0, 0.04, 0.08]
    for (_, image), frame in zip(decoded, frames, strict=True):
        # H.264 at CRF 20 in 4:2:0, converted with facert.io.yuv's rounded conversions both
        # ways (swscale's truncating ones cost ~2.7 levels of brightness): 35.6-39.0 dB, bias
        # under 0.1 level measured
        mse = np.mean((image.astype(np.float64) - frame) ** 2)
        bias = float(np.mean(image.astype(np.float64) - frame))
        assert 10 * np.log10(255**2 / mse) > 34 and abs(bias) < 0.5
    aborted = FileSink(tmp_path / "aborted.mkv")
    aborted.open(SIZE, None)
    aborted.write(frames[0], 1.0)
    aborted.abort()
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_file_sink_bad_targets(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="folder does not exist"):
        FileSink(tmp_path / "no" / "out.mp4").open(SIZE, None)
    with pytest.raises(OutputError, match="cannot write this format"):
        FileSink(tmp_path / "out.nosuchformat").open(SIZE, None)
    with pytest.raises(UsageError, match="suffix"):
        FileSink(tmp_path / "out").open(SIZE, None)
    assert list(tmp_path.iterdir()) == []


def test_window_and_virtual_outputs_on_this_machine() -> None:
    """opencv-python-headless has no GUI; no v4l2loopback device here: one line each, saying what
    to install or load."""
    if opencv_has("GUI"):
        pytest.skip("this OpenCV has a GUI")
    with pytest.raises(MissingDependencyError, match="install opencv-python") as caught:
        WindowSink().open(SIZE, 25.0)
    assert "\n" not in str(caught.value)
    pytest.importorskip("pyvirtualcam")
    if glob.glob("/dev/video*"):
        pytest.skip("a /dev/video device exists (maybe a v4l2loopback one)")
    with pytest.raises(OutputError, match="modprobe v4l2loopback") as caught_virtual:
        VirtualSink().open(SIZE, 25.0)
    assert "\n" not in str(caught_virtual.value)
