"""DFDNet's component dictionaries: ``DictionaryCenter512/{part}_{size}_center.npy``, 16 files.

The official ``UNetDictFace`` reads each file with ``np.load`` and reshapes it to (K, C, S, S): C =
128/256/512/512 channels at the VGG feature sizes 256/128/64/32, S = part size / 2, 4, 8, 16 with
part sizes 80, 80, 50, 110 (left eye, right eye, nose, mouth); K, the number of k-means clusters,
is whatever the file holds (its first axis). Here the files are read without pickle
(``allow_pickle=False``): an object array is refused in one line naming the file, as is a file
whose size does not reshape to (K, C, S, S). numpy only (no torch): ``facert models fetch`` checks
the files with it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facert.errors import WeightsError

PARTS = ("left_eye", "right_eye", "nose", "mouth")
PREFIXES = ("le", "re", "no", "mo")  # the attention blocks' key prefixes, in PARTS order
PART_SIZES = (80, 80, 50, 110)  # at 512
FEATURE_SIZES = (256, 128, 64, 32)
CHANNELS = (128, 256, 512, 512)
FOLDER = "DictionaryCenter512"

Dictionaries = dict[tuple[str, int], np.ndarray]  # (part, feature size) -> (K, C, S, S) float32


def entry_shape(part: str, size: int) -> tuple[int, int, int]:
    """(C, S, S) of one dictionary entry of ``part`` at feature size ``size``."""
    side = PART_SIZES[PARTS.index(part)] // (512 // size)
    return CHANNELS[FEATURE_SIZES.index(size)], side, side


def file_name(part: str, size: int) -> str:
    return f"{part}_{size}_center.npy"


def file_names() -> list[str]:
    """The 16 file names, part by part, sizes 256 ... 32."""
    return [file_name(part, size) for part in PARTS for size in FEATURE_SIZES]


def load_dictionary(path: Path, part: str, size: int) -> np.ndarray:
    """One dictionary file as (K, C, S, S) float32; :class:`WeightsError` naming it otherwise."""
    try:
        raw = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise WeightsError(
            "no such file (one of DFDNet's 16 dictionary files)", path=str(path)
        ) from None
    except ValueError as error:
        if "Object arrays" in str(error):
            reason = "an object array (needs pickle, which facert does not load)"
        elif "pickled" in str(error):
            reason = "not a NumPy .npy array (a pickle, which facert does not load)"
        else:
            reason = f"not a NumPy .npy array ({' '.join(str(error).split())[:120]})"
        raise WeightsError(reason, path=str(path)) from None
    except OSError as error:
        raise WeightsError(f"cannot read it ({error.strerror or error})", path=str(path)) from None
    if not isinstance(raw, np.ndarray) or raw.dtype.kind != "f" or raw.ndim < 1:
        kind = getattr(raw, "dtype", type(raw).__name__)
        raise WeightsError(f"expected a float array, found {kind}", path=str(path)) from None
    shape = entry_shape(part, size)
    count = raw.shape[0]
    if count < 1 or raw.size != count * int(np.prod(shape)):
        raise WeightsError(
            f"shape {list(raw.shape)} does not reshape to (K, {shape[0]}, {shape[1]}, {shape[2]}) "
            f"({part} at {size})",
            path=str(path),
        )
    return np.ascontiguousarray(raw.reshape(count, *shape), dtype=np.float32)


def load_dictionaries(folder: Path) -> Dictionaries:
    """The 16 dictionaries in ``folder`` (:func:`load_dictionary` each)."""
    return {
        (part, size): load_dictionary(folder / file_name(part, size), part, size)
        for part in PARTS
        for size in FEATURE_SIZES
    }


def cluster_counts(dictionaries: Dictionaries) -> dict[str, int]:
    """K per file name, as read."""
    return {file_name(p, s): int(d.shape[0]) for (p, s), d in dictionaries.items()}


def entry_floats() -> int:
    """float32 values of one entry across the 16 dictionaries (x K x 4 bytes = their size)."""
    return sum(int(np.prod(entry_shape(p, s))) for p in PARTS for s in FEATURE_SIZES)


def deterministic_dictionaries(count: int = 4, seed: int = 0) -> Dictionaries:
    """Small dictionaries (K = ``count``) for tests and goldens: standard normal values from
    ``np.random.default_rng(seed + index)`` per file in :func:`file_names` order, float32."""
    out: Dictionaries = {}
    for index, (part, size) in enumerate((p, s) for p in PARTS for s in FEATURE_SIZES):
        rng = np.random.default_rng(seed + index)
        out[(part, size)] = rng.standard_normal((count, *entry_shape(part, size))).astype(
            np.float32
        )
    return out


def write_dictionaries(dictionaries: Dictionaries, folder: Path) -> Path:
    """Write ``dictionaries`` as the official 16 .npy files into ``folder`` (created); returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    for (part, size), array in dictionaries.items():
        np.save(folder / file_name(part, size), array.reshape(len(array), -1))
    return folder
