"""DFDNet's dictionary files: read without pickle, K from the file, shapes checked, one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facert.errors import WeightsError
from facert.export.families.dfdnet.dictionaries import (
    entry_floats,
    entry_shape,
    file_names,
    load_dictionaries,
    load_dictionary,
)


def test_entry_shapes_and_the_size_of_one_entry_across_the_16_files() -> None:
    assert len(file_names()) == 16 and file_names()[0] == "left_eye_256_center.npy"
    assert entry_shape("left_eye", 256) == (128, 40, 40)
    assert entry_shape("nose", 32) == (512, 3, 3)
    assert entry_shape("mouth", 32) == (512, 6, 6)
    assert entry_shape("mouth", 256) == (128, 55, 55)
    assert 4 * entry_floats() == 6_244_352  # bytes per dictionary entry, all 16 files


def test_k_is_read_from_each_file_flat_or_4d(tmp_path: Path) -> None:
    flat = np.arange(3 * 512 * 9, dtype=np.float64).reshape(3, -1)
    np.save(tmp_path / "nose_32_center.npy", flat)
    loaded = load_dictionary(tmp_path / "nose_32_center.npy", "nose", 32)
    assert loaded.shape == (3, 512, 3, 3) and loaded.dtype == np.float32
    assert np.array_equal(loaded.reshape(3, -1), flat.astype(np.float32))
    np.save(tmp_path / "four.npy", np.zeros((7, 512, 3, 3), np.float32))
    assert load_dictionary(tmp_path / "four.npy", "nose", 32).shape == (7, 512, 3, 3)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (np.array([{"a": 1}], dtype=object), "object array"),
        (np.zeros((2, 512 * 9 + 1), np.float32), r"does not reshape to \(K, 512, 3, 3\)"),
        (np.zeros((2, 512 * 9), np.int32), "expected a float array"),
    ],
)
def test_a_bad_file_is_refused_in_one_line_naming_it(
    tmp_path: Path, content: np.ndarray, reason: str
) -> None:
    path = tmp_path / "nose_32_center.npy"
    np.save(path, content, allow_pickle=True)
    with pytest.raises(WeightsError, match=reason) as error:
        load_dictionary(path, "nose", 32)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_a_missing_or_unreadable_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="no such file") as error:
        load_dictionaries(tmp_path)
    assert "left_eye_256_center.npy" in str(error.value)
    (tmp_path / "left_eye_256_center.npy").write_bytes(b"not numpy")
    with pytest.raises(WeightsError, match="not a NumPy .npy array"):
        load_dictionaries(tmp_path)
