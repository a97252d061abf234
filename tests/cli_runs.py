"""The command line run in-process by the CLI tests, with a cache and a photo made for them."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
from conftest import grace_hopper_path

from facert.cli.main import main
from facert.config import Settings
from facert.models.cache import model_dir
from facert.models.registry import get_spec


def facert(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """``facert ARGS`` in this process: (exit code, stdout, stderr); never a traceback."""
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def mtcnn_only_cache(folder: Path, settings: Settings) -> Path:
    """``folder`` made a cache holding only the user's MTCNN export (linked in, not copied)."""
    folder.mkdir(exist_ok=True)
    mtcnn = model_dir(settings.cache_dir, get_spec("mtcnn"))
    model_dir(folder, get_spec("mtcnn")).symlink_to(mtcnn, target_is_directory=True)
    return folder


def one_face_photo(path: Path) -> Path:
    """grace_hopper.jpg shrunk to 256x300 (one face, quick to restore), written to ``path``."""
    image = cv2.resize(cv2.imread(str(grace_hopper_path())), (256, 300), cv2.INTER_AREA)
    cv2.imwrite(str(path), image)
    return path
