"""Checkpoints that are not the official release (issue 7, section 2), end to end through the CLI.

The tiny CodeFormer of tests/tiny_codeformer.py is registered like an official model (its pinned
sha256 is the tiny fill's). A "fine-tuned" file - the same layout (``params_ema``), keys and shapes,
other values - exports and runs, marked "unofficial weights" with one notice line; files whose keys
or shapes differ, or that are no checkpoint at all, are refused in one line, exit 2, with nothing
written into the cache or the output folder.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

import tiny_codeformer  # noqa: E402
from cli_runs import facert, mtcnn_only_cache, one_face_photo  # noqa: E402
from testdata import TESTS  # noqa: E402

from facert.config import Settings  # noqa: E402
from facert.io.files import sha256_of  # noqa: E402
from facert.models.artifacts import Artifact  # noqa: E402
from facert.models.cache import artifact_dir  # noqa: E402
from facert.models.registry import ModelSpec  # noqa: E402

NAME = tiny_codeformer.NAME


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model's "official" file: the one whose sha256 the registered spec pins."""
    return tiny_codeformer.write_checkpoint(tmp_path_factory.mktemp("official") / "tiny.pth")


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("user")
    return tiny_codeformer.write_finetuned_checkpoint(folder / "finetuned.pth")


@pytest.fixture
def spec(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> ModelSpec:
    return tiny_codeformer.register_for_test(monkeypatch, checkpoint)


@pytest.fixture
def cache(tmp_path: Path, settings: Settings, mtcnn_artifact: Artifact) -> Path:
    """An empty cache but for the user's MTCNN export (linked in)."""
    return mtcnn_only_cache(tmp_path / "cache", settings)


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    return one_face_photo(tmp_path / "p.png")


def notices(caplog: pytest.LogCaptureFixture) -> list[str]:
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("notice:")]
    caplog.clear()
    return lines


# The facert CLI in its own process (logging configured as a user's terminal gets it), with the
# tiny spec registered first.
LAUNCHER = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import tiny_codeformer
from facert.models import registry
spec = tiny_codeformer.tiny_spec(Path(sys.argv[2]))
registry.get_spec("codeformer")
registry._REGISTRY[spec.name] = spec
from facert.cli.main import main
sys.exit(main(sys.argv[3:]))
"""


def test_finetuned_checkpoint_exports_runs_and_is_marked_unofficial(
    tmp_path: Path,
    spec: ModelSpec,
    checkpoint: Path,
    finetuned: Path,
    cache: Path,
    photo: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sha = sha256_of(finetuned)
    notice = (
        f"notice: {finetuned.name}: unofficial weights for {NAME} (sha256 {sha[:16]}..., not the "
        "official release); its keys and shapes match, so facert runs it"
    )
    common = ["--cache-dir", cache, "enhance", photo, "--model", NAME, "--weights", finetuned]
    code, out, err = facert(capsys, *common, "-o", tmp_path / "first")
    assert code == 0, err
    assert "1 face restored" in out.splitlines()[-1]
    assert notices(caplog) == [notice]  # once, although the run exported the file first
    folder = artifact_dir(cache, spec, sha)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["source"] == {"files": [finetuned.name], "sha256": sha, "official": False}
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}

    code, out, err = facert(capsys, *common, "-o", tmp_path / "second")
    assert code == 0, err
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps  # found by sha256
    assert notices(caplog) == [notice]
    # Without --weights the only export in the cache is the one used, with the same notice.
    code, out, err = facert(capsys, *common[:-2], "-o", tmp_path / "plain")
    assert code == 0, err
    assert notices(caplog) == [notice]
    first = cv2.imread(str(tmp_path / "first" / "p.png"))
    assert np.array_equal(first, cv2.imread(str(tmp_path / "second" / "p.png")))
    assert not np.array_equal(first, cv2.imread(str(photo)))  # the face was restored

    code, out, _ = facert(capsys, "--cache-dir", cache, "models", "list")
    [row] = [line for line in out.splitlines() if line.startswith(f"{NAME} ")]
    assert code == 0 and "1 export (unofficial weights)" in row
    code, out, _ = facert(capsys, "--cache-dir", cache, "models", "show", NAME)
    assert code == 0 and f"source: unofficial weights: {finetuned.name}, sha256 {sha}" in out
    assert f"sha256 {spec.weights[0].sha256}" in out  # the official file's, for comparison

    # The same run in its own process: the terminal gets exactly that one line on stderr.
    run = subprocess.run(
        [sys.executable, "-c", LAUNCHER, str(TESTS), str(checkpoint)]
        + [str(a) for a in (*common, "-o", tmp_path / "third")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr.splitlines() == [f"facert: {notice}"]


def _renamed_key(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str]:
    state = dict(state)
    state["position_embedding"] = state.pop("position_emb")
    return state, "1 missing: position_emb; 1 unexpected: position_embedding"


def _wrong_shape(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str]:
    state = dict(state)
    expected = tuple(state["idx_pred_layer.1.weight"].shape)
    state["idx_pred_layer.1.weight"] = torch.zeros(expected[0] * 2, expected[1])
    found = (expected[0] * 2, expected[1])
    return state, f"1 wrong shape: idx_pred_layer.1.weight {found} (expected {expected})"


def _write_bad_file(kind: str, path: Path, finetuned: Path) -> str:
    """Write one kind of wrong file to ``path``; return what the error line must say."""
    state = torch.load(finetuned, weights_only=True)["params_ema"]
    if kind in ("renamed key", "wrong shape"):
        bad, difference = (_renamed_key if kind == "renamed key" else _wrong_shape)(state)
        torch.save({"params_ema": bad}, path)
        return f"keys do not match CodeFormerExport: {difference}"
    if kind == "bare state dict":
        torch.save(state, path)  # the official loader reads "params_ema" only, and so does facert
        return (
            "none of the keys ['params_ema'] in the checkpoint (top-level keys: ['encoder.blocks."
        )
    if kind == "random bytes":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif kind == "truncated zip":
        path.write_bytes(finetuned.read_bytes()[: finetuned.stat().st_size // 2])
    elif kind == "pickle with code":
        with open(path, "wb") as f:
            pickle.dump({"params_ema": _Touch(path.parent / "pwned")}, f, protocol=2)
    return "not a loadable torch checkpoint ("


class _Touch:
    """Unpickling this runs ``Path.touch(target)``: weights_only must refuse it unrun."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return (Path.touch, (self.target,))


@pytest.mark.parametrize(
    "kind",
    [
        "renamed key",
        "wrong shape",
        "bare state dict",
        "random bytes",
        "truncated zip",
        "pickle with code",
    ],
)
def test_wrong_files_are_refused_in_one_line_before_anything_is_written(
    tmp_path: Path,
    kind: str,
    spec: ModelSpec,
    finetuned: Path,
    cache: Path,
    photo: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad = tmp_path / "user" / "bad.pth"
    bad.parent.mkdir()
    reason = _write_bad_file(kind, bad, finetuned)
    before = sorted(p.name for p in cache.iterdir())
    for command in (
        ["enhance", photo, "--model", NAME, "--weights", bad, "-o", tmp_path / "out"],
        ["models", "export", NAME, "--weights", bad],
        ["models", "export", NAME, "--weights", bad, "-o", tmp_path / "export" / "tiny"],
    ):
        code, out, err = facert(capsys, "--cache-dir", cache, *command)
        assert code == 2 and out == ""
        assert err.startswith(f"facert: error: {bad}: {reason}"), err
        assert len(err.splitlines()) == 1
        assert kind != "bare state dict" or "save it as {'params_ema': state_dict}" in err
        assert notices(caplog) == []  # refused: no notice first
    assert sorted(p.name for p in cache.iterdir()) == before  # nothing written into the cache
    assert not (tmp_path / "out").exists() and not (tmp_path / "export").exists()
    assert sorted(p.name for p in bad.parent.iterdir()) == ["bad.pth"]  # no code ran ("pwned")
