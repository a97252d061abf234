"""``facert camera`` on generated 96x96 clips with a face (tests/video_clips.py), ISPL on ONNX
Runtime: a file output written atomically and readable, --frames stops, one-line errors for sources
and outputs that cannot work here, and Ctrl-C (a real SIGINT) leaves nothing and exits 130."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from fractions import Fraction
from pathlib import Path

import pytest
from cli_runs import facert
from video_clips import make_clip

from facert.io.camera import opencv_has
from facert.models.artifacts import Artifact

av = pytest.importorskip("av")

ENGINE = ("--model", "ispl", "--backend", "ort", "--precision", "fp32")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """250 frames at 25 fps (10 s): longer than any test here plays it."""
    path = tmp_path_factory.mktemp("camera") / "clip.mp4"
    make_clip(path, list(range(250)), Fraction(1, 25), audio=None)
    return path


def _frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_file_output_stops_after_frames(
    capsys: pytest.CaptureFixture[str], clip: Path, tmp_path: Path, mtcnn_artifact: Artifact
) -> None:
    """--frames 3: three frames shown, written to a file PyAV reads back (3 frames, 96x96), the
    summary line on stdout with p50/p95 per stage; nothing else left in the folder."""
    out = tmp_path / "out.mp4"
    code, stdout, err = facert(
        capsys, "camera", "--source", clip, "--output", out, "--frames", "3", *ENGINE
    )
    assert code == 0, err
    assert re.match(
        r"3 frames shown, \d+ dropped, [\d.]+ fps; p50/p95 ms: detect \d+/\d+, ", stdout
    )
    assert (
        "restore" in stdout and "e2e" in stdout and "frame " not in stdout
    )  # ISPL: no frame stage
    assert _frames(out) == 3 and [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_wipa_source_to_its_end_without_overlay(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, mtcnn_artifact: Artifact
) -> None:
    """WIPA (a whole-frame stage, reported as "frame") on a 6-frame clip played as fast as it
    decodes: the loop ends with the source; shown + dropped = 6."""
    short = tmp_path / "short.mkv"
    make_clip(short, list(range(6)), Fraction(1, 25), audio=None)
    out = tmp_path / "out.mkv"
    args = ("--output", out, "--model", "wipa", "--backend", "ort", "--no-overlay", "--fps", "0")
    code, stdout, err = facert(capsys, "camera", "--source", short, *args)
    assert code == 0, err
    shown, dropped = map(int, re.findall(r"(\d+) frames shown, (\d+) dropped", stdout)[0])
    assert shown >= 1 and shown + dropped == 6 and "frame " in stdout
    assert _frames(out) == shown


def test_bad_sources_and_outputs(
    capsys: pytest.CaptureFixture[str], clip: Path, tmp_path: Path
) -> None:
    """One line each: a source that cannot be opened (exit 1), a window without a GUI (exit 2,
    says to install opencv-python), a virtual camera without v4l2loopback (exit 1, says to load
    it), bad numbers (exit 2); nothing is written."""
    out = tmp_path / "out.mp4"
    cases: list[tuple[tuple[str | Path, ...], int, str]] = [
        (("--source", tmp_path / "missing.mp4", "--output", out), 1, "missing.mp4: cannot open"),
        (("--source", tmp_path, "--output", out), 1, "is a directory"),
        (("--source", clip, "--output", out, "--frames", "0"), 2, "--frames must be"),
        (("--source", clip, "--output", clip), 2, "would overwrite the source"),
    ]
    if not opencv_has("GUI"):
        cases.append((("--source", clip, "--output", "window"), 2, "install opencv-python"))
    if not any(Path("/dev").glob("video*")):
        cases.append((("--source", clip, "--output", "virtual"), 1, "modprobe v4l2loopback"))
    for args, expected, message in cases:
        code, _, err = facert(capsys, "camera", *args, *ENGINE)
        assert (code, err.count("\n")) == (expected, 1), (args, err)
        assert err.startswith("facert: error: ") and message in err, err
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_leaves_no_file_and_exits_130(
    clip: Path, tmp_path: Path, mtcnn_artifact: Artifact
) -> None:
    """A real SIGINT once frames flow: exit 130, "interrupted", the summary printed, and nothing
    at the output's name (no temporary file either)."""
    out = tmp_path / "out.mp4"
    command = [sys.executable, "-m", "facert.cli.main", "camera", "--source", str(clip)]
    process = subprocess.Popen(
        [*command, "--output", str(out), *ENGINE],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    assert process.stderr is not None
    started = threading.Event()
    lines: list[str] = []

    def watch() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if "Ctrl-C to stop" in line:
                started.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        assert started.wait(120), "".join(lines)
        threading.Event().wait(0.5)  # a few frames into the file
        assert list(tmp_path.glob(".out.*.part.mp4"))  # being written
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)  # stderr is the watcher's to read; stdout holds one line
    finally:
        if process.poll() is None:
            process.kill()
    watcher.join(5)
    assert process.stdout is not None
    stdout = process.stdout.read()
    err = "".join(lines)
    assert process.returncode == 130, err
    assert "facert: interrupted" in err and "Traceback" not in err
    assert "frames shown" in stdout
    assert list(tmp_path.iterdir()) == []
