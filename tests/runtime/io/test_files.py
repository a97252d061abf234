"""facert.io.files: a folder written whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from facert.io.files import write_folder_atomic


def test_a_folder_is_replaced_only_when_the_new_one_is_complete(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "old.onnx").write_text("old")

    def fail(staging: Path) -> None:
        (staging / "new.onnx").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_folder_atomic(folder, fail)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no staging folder left
    assert sorted(p.name for p in folder.iterdir()) == ["old.onnx"]  # the old one untouched

    def fill(staging: Path) -> int:
        (staging / "new.onnx").write_text("new")
        return 7

    assert write_folder_atomic(folder, fill) == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert sorted(p.name for p in folder.iterdir()) == ["new.onnx"]
