"""Planning a batch: names kept, inputs never targeted, problems reported per input."""

from __future__ import annotations

from pathlib import Path

import pytest

from facert.errors import UsageError
from facert.io.jobs import check_writable, plan_jobs


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_files_and_folders_keep_relative_names(tmp_path: Path) -> None:
    single = _touch(tmp_path / "in" / "one.jpg")
    _touch(tmp_path / "album" / "a.png")
    _touch(tmp_path / "album" / "sub" / "b.JPG")
    _touch(tmp_path / "album" / "notes.txt")
    out = tmp_path / "out"
    jobs, errors = plan_jobs([single, tmp_path / "album"], out)
    assert errors == []
    assert [(j.source.name, j.target) for j in jobs] == [
        ("one.jpg", out / "one.jpg"),
        ("a.png", out / "a.png"),
        ("b.JPG", out / "sub" / "b.JPG"),
    ]


def test_problems_are_per_input(tmp_path: Path) -> None:
    good = _touch(tmp_path / "good.png")
    (tmp_path / "empty").mkdir()
    jobs, errors = plan_jobs([tmp_path / "missing.png", tmp_path / "empty", good], tmp_path / "o")
    assert [j.source for j in jobs] == [good]
    assert ["no such file" in str(e) for e in errors] == [True, False]
    assert "no images" in str(errors[1])


def test_output_never_overwrites_an_input(tmp_path: Path) -> None:
    photo = _touch(tmp_path / "p.jpg")
    jobs, errors = plan_jobs([photo], tmp_path)
    assert jobs == [] and "overwrite an input" in str(errors[0])


def test_same_output_name_twice(tmp_path: Path) -> None:
    first = _touch(tmp_path / "a" / "x.png")
    second = _touch(tmp_path / "b" / "x.png")
    jobs, errors = plan_jobs([first, second], tmp_path / "out")
    assert [j.source for j in jobs] == [first] and "same output name" in str(errors[0])


def test_output_folder_inside_input_folder_is_not_rescanned(tmp_path: Path) -> None:
    _touch(tmp_path / "album" / "a.png")
    _touch(tmp_path / "album" / "restored" / "a.png")  # a previous run's output
    jobs, _ = plan_jobs([tmp_path / "album"], tmp_path / "album" / "restored")
    assert [j.source.relative_to(tmp_path).as_posix() for j in jobs] == ["album/a.png"]


def test_unwritable_output_folder(tmp_path: Path) -> None:
    blocker = _touch(tmp_path / "file")
    with pytest.raises(UsageError, match="not writable"):
        check_writable(blocker / "out")
