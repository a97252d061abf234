"""``facert models fetch dfdnet``: the files cannot be downloaded; where to get and put them, and a
check of files put there by hand (one line naming a bad file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_runs import facert

torch = pytest.importorskip("torch")

from facert.export.families.dfdnet.dictionaries import (  # noqa: E402
    FOLDER,
    deterministic_dictionaries,
    write_dictionaries,
)


def _weights(cache: Path) -> Path:
    return cache / "dfdnet" / "weights"


def test_fetch_says_where_to_get_the_files_and_where_to_put_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FACERT_CACHE", str(tmp_path))
    code, out, err = facert(capsys, "models", "fetch", "dfdnet")
    assert code != 0 and out == "" and len(err.strip().splitlines()) == 1
    assert "https://drive.google.com/drive/folders/1ks_IbobH6WVQ_Jy4oWTTGjSbMZVUSbl4" in err
    assert "pan.baidu.com" in err
    assert f"{_weights(tmp_path)}/latest_net_G.pth" in err
    assert f"{_weights(tmp_path)}/{FOLDER}/{{left_eye,right_eye,nose,mouth}}_" in err


def test_fetch_checks_files_put_there_by_hand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FACERT_CACHE", str(tmp_path))
    folder = _weights(tmp_path)
    write_dictionaries(deterministic_dictionaries(1), folder / FOLDER)
    checkpoint = folder / "latest_net_G.pth"
    torch.save({"le_256.0.bias": torch.zeros(128), "stray": torch.zeros(1)}, checkpoint)
    code, _, err = facert(capsys, "models", "fetch", "dfdnet")
    assert code != 0 and len(err.strip().splitlines()) == 1
    assert str(checkpoint) in err and "keys do not match DFDNet" in err and "stray" in err
    bad = folder / FOLDER / "mouth_64_center.npy"
    np.save(bad, np.array([None, 1], dtype=object), allow_pickle=True)
    code, _, err = facert(capsys, "models", "fetch", "dfdnet")
    assert code != 0 and str(bad) in err and "object array" in err
