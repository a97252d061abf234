"""The ``facert study`` command: one-line errors for bad folders, bad images skipped with a
warning, --results, and a real server in its own process that serves and stops on Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runs import facert
from study_support import Client, copy_study, shared_study

from facert.config import Settings
from facert.study.db import StudyDB
from facert.study.items import Task

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")


@pytest.fixture(scope="module")
def study_source(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> Path:
    return shared_study(tmp_path_factory, settings)


def test_bad_folders_are_one_line_errors(
    capsys: pytest.CaptureFixture[str], study_source: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    one = copy_study(study_source, tmp_path / "one")
    for method in ("wipa", "none"):
        for file in (one / method).iterdir():
            file.unlink()
        (one / method).rmdir()
    apart = copy_study(study_source, tmp_path / "apart")
    (apart / "wipa" / "grace.png").rename(apart / "wipa" / "other.png")
    (apart / "none" / "grace.png").rename(apart / "none" / "another.png")
    (apart / "ispl" / "astronaut.png").unlink()
    (apart / "none" / "astronaut.png").unlink()
    (tmp_path / "foreign.sqlite").write_text("plain text")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        busy = str(taken.getsockname()[1])
        for args, reason in [
            ([tmp_path / "missing"], "no such folder"),
            ([empty], "needs two or more method folders, found 0"),
            ([one], "needs two or more method folders, found 1 (ispl"),
            ([study_source, "--methods", "ispl", "gfpgan"], "no method folder gfpgan"),
            ([study_source, "--methods", "ispl"], "found 1 (ispl"),
            ([apart, "--methods", "ispl", "wipa"], "no image name is in two of the method folders"),
            (
                [study_source, "--db", tmp_path / "foreign.sqlite"],
                "cannot use this study database (file is not",
            ),
            ([study_source, "--db", tmp_path], "must be a file"),
            ([study_source, "--db", tmp_path / "x.sqlite", "--port", busy], "cannot listen"),
        ]:
            code, out, err = facert(capsys, "study", *args)
            assert code == 2 and reason in err and len(err.strip().splitlines()) == 1, (args, err)
            assert out == ""


def test_bad_images_are_skipped_with_a_warning(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    study_source: Path,
    tmp_path: Path,
) -> None:
    folder = copy_study(study_source, tmp_path / "study")
    data = (folder / "wipa" / "grace.png").read_bytes()
    (folder / "wipa" / "grace.png").write_bytes(data[: len(data) // 2])  # truncated
    (folder / "ispl" / "notes.txt").write_text("not an image")  # not an image suffix: ignored
    with StudyDB(folder / "study.sqlite") as db:
        session = db.create_session("ann", 0, [Task("grace", "none", "ispl")])
        db.vote(session, 0, "b", None)
    code, out, _ = facert(capsys, "study", folder, "--results")
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("1 vote; Bradley-Terry score"), out
    assert lines[1].split()[:2] == ["ispl", "+0.42"] and lines[1].endswith(" 1 vote")
    assert lines[2].split()[:3] == ["wipa", "+0.00", "n/a"]  # no vote: no interval
    assert lines[3].split()[:2] == ["none", "-0.42"]
    warnings = [r.getMessage() for r in caplog.records if r.name == "facert.study"]
    assert len(warnings) == 1 and "wipa/grace.png: corrupt or truncated PNG" in warnings[0]
    assert "\n" not in warnings[0]


def test_serves_and_stops_on_ctrl_c(study_source: Path, tmp_path: Path, settings: Settings) -> None:
    folder = copy_study(study_source, tmp_path / "study")
    command = [sys.executable, "-m", "facert.cli.main", "study", str(folder), "--port", "0"]
    env = {**os.environ, "FACERT_CACHE": str(settings.cache_dir)}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("facert: study of 2 items by ispl, none, wipa on http://127.0.0.1:")
        assert f"votes in {folder / 'study.sqlite'}" in line
        rater = Client(line.split()[-4])
        status, state = rater.json("api/sessions", {"rater": "ann"})
        assert status == 200 and state["total"] == 6
        assert rater.json("api/votes", {"position": 0, "choice": "same"})[0] == 200
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 0 and "Traceback" not in err, err[-2000:]
    votes = sqlite3.connect(folder / "study.sqlite").execute("SELECT choice FROM votes")
    assert votes.fetchall() == [("same",)]
