"""``facert enhance``: names kept, inputs safe, every bad input a one-line error, exit codes.

Runs the real pipeline (MTCNN + WIPA, the fastest restorer) from the cache `make models` fills.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import grace_hopper_path

from facert.cli.enhance import Progress
from facert.cli.main import main
from facert.config import Settings
from facert.demo.degrade import degrade_noise_scratches_fading
from facert.demo.metrics import psnr, ssim
from facert.models.artifacts import Artifact
from facert.models.exporting import ensure_artifact
from facert.models.registry import get_spec


@pytest.fixture(scope="module", autouse=True)
def _exported(mtcnn_artifact: Artifact, settings: Settings) -> None:
    for name in ("wipa", "ispl"):
        ensure_artifact(get_spec(name), settings.cache_dir)


def enhance(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main(["enhance", *map(str, args)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def photo() -> np.ndarray:
    image = cv2.imread(str(grace_hopper_path()))
    return cv2.resize(image, (256, 300), interpolation=cv2.INTER_AREA)  # small: fast, one face


def test_folders_files_names_and_summary(
    tmp_path: Path, photo: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    album = tmp_path / "album"
    (album / "2019").mkdir(parents=True)
    cv2.imwrite(str(album / "a.png"), photo)
    cv2.imwrite(str(album / "2019" / "b.jpg"), photo)
    cv2.imwrite(str(album / "wall.png"), np.full((120, 160, 3), 90, np.uint8))  # no face
    single = tmp_path / "single.png"
    cv2.imwrite(str(single), photo)
    before = _digest(tmp_path)
    code, out, err = enhance(capsys, album, single, "-o", tmp_path / "out", "--model", "wipa")
    assert (code, err) == (0, "")
    assert out.strip().startswith("4 images, 3 faces restored, 1 without faces, 0 failures")
    written = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*"))
    assert written == ["2019", "2019/b.jpg", "a.png", "single.png", "wall.png"]
    assert _digest(tmp_path / "album") == {
        k[6:]: v for k, v in before.items() if k.startswith("album/")
    }
    restored = cv2.imread(str(tmp_path / "out" / "a.png"))
    assert restored.shape == photo.shape and not np.array_equal(restored, photo)
    # the image without faces is still written, unchanged at upscale 1 (a flat grey wall: nothing
    # for WIPA's whole-photo stage to correct)
    assert np.array_equal(
        cv2.imread(str(tmp_path / "out" / "wall.png")), cv2.imread(str(album / "wall.png"))
    )


def test_a_photo_without_faces_is_restored_by_wipa(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An old print is faded and scratched everywhere: WIPA restores the whole photo, faces or not."""
    clean = np.ascontiguousarray(cv2.imread(str(grace_hopper_path()))[:200, :180])  # the flag
    cv2.imwrite(str(tmp_path / "flag.png"), degrade_noise_scratches_fading(clean, 0))
    code, out, err = enhance(
        capsys, tmp_path / "flag.png", "-o", tmp_path / "out", "--model", "wipa"
    )
    assert (code, err) == (0, "") and "0 faces restored, 1 without faces" in out
    degraded = cv2.imread(str(tmp_path / "flag.png"))
    restored = cv2.imread(str(tmp_path / "out" / "flag.png"))
    # Measured: 13.45 -> 23.19 dB, SSIM 0.460 -> 0.796; half of each gain asked.
    assert psnr(restored, clean) > psnr(degraded, clean) + 5.0
    assert ssim(restored, clean) > ssim(degraded, clean) + 0.15


def test_upscale_and_center_face(
    tmp_path: Path, photo: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    pair = np.hstack([photo, photo])  # two faces
    cv2.imwrite(str(tmp_path / "pair.png"), pair)
    code, out, _ = enhance(capsys, tmp_path / "pair.png", "-o", tmp_path / "o1", "--model", "wipa")
    assert code == 0 and "2 faces restored" in out
    code, out, _ = enhance(
        capsys, tmp_path / "pair.png", "-o", tmp_path / "o2", "--model", "wipa",
        "--only-center-face", "--upscale", "2",
    )  # fmt: skip
    assert code == 0 and "1 face restored" in out
    assert cv2.imread(str(tmp_path / "o2" / "pair.png")).shape == (600, 1024, 3)


def _png(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


def _huge_png(image: np.ndarray) -> bytes:
    data = bytearray(_png(image))
    data[16:24] = struct.pack(">II", 60_000, 60_000)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    return bytes(data)


def test_every_bad_input_is_one_line_and_the_rest_is_processed(
    tmp_path: Path, photo: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    jpeg = cv2.imencode(".jpg", photo)[1].tobytes()
    bad = {
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "empty.png": b"",
        "text.png": b"not an image\n" * 40,
        "corrupt.png": _png(photo)[:100] + bytes(400) + _png(photo)[500:],
        "huge.png": _huge_png(photo),
    }
    for name, data in bad.items():
        (inputs / name).write_bytes(data)
    good = {
        "gray.png": cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY),
        "rgba.png": np.dstack([photo, np.full(photo.shape[:2], 200, np.uint8)]),
        "deep.png": photo.astype(np.uint16) * 257,
    }
    for name, image in good.items():
        cv2.imwrite(str(inputs / name), image)
    (tmp_path / "nothing").mkdir()
    before = _digest(inputs)
    out = tmp_path / "out"
    code, stdout, err = enhance(
        capsys, inputs, tmp_path / "missing.jpg", tmp_path / "nothing", "-o", out, "--model", "wipa"
    )
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == len(bad) + 2
    for line in lines:
        assert line.startswith("facert: error: ")
    for name in [*bad, "missing.jpg", "nothing"]:
        assert sum(name in line for line in lines) == 1, name
    assert "3 images, 3 faces restored, 0 without faces, 7 failures" in stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(good)  # nothing half-written
    assert _digest(inputs) == before
    gray = cv2.imread(str(out / "gray.png"), cv2.IMREAD_UNCHANGED)
    assert gray.ndim == 3  # grayscale in, colour out (facexlib does the same)
    assert cv2.imread(str(out / "rgba.png"), cv2.IMREAD_UNCHANGED)[:, :, 3].min() == 200
    assert cv2.imread(str(out / "deep.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16


def test_outputs_never_overwrite_inputs(
    tmp_path: Path, photo: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    cv2.imwrite(str(tmp_path / "p.png"), photo)
    before = _digest(tmp_path)
    code, _, err = enhance(capsys, tmp_path / "p.png", "-o", tmp_path, "--model", "wipa")
    assert code == 1 and "overwrite an input" in err and _digest(tmp_path) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "gfpgan-9"], "unknown model 'gfpgan-9'"),
        (["--model", "mtcnn"], "mtcnn is a detector, not a restorer"),
        (["--model", "wipa", "--option", "nope=1"], "has no option 'nope'"),
        (["--model", "wipa", "--option", "fade=7"], "outside [0, 1]"),
        (["--model", "ispl", "--fidelity", "0.5"], "has no option 'fidelity'"),
        (["--model", "wipa", "--upscale", "0.5"], "--upscale must be between 1 and 8"),
        (["--model", "wipa", "--weights", "w.pth"], "no such weights file"),
    ],
)
def test_bad_usage_exits_2_before_writing(
    tmp_path: Path,
    photo: np.ndarray,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    cv2.imwrite(str(tmp_path / "p.png"), photo)
    code, out, err = enhance(capsys, tmp_path / "p.png", "-o", tmp_path / "out", *args)
    assert code == 2 and out == "" and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_bad_weights_file_exits_2(
    tmp_path: Path, photo: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    cv2.imwrite(str(tmp_path / "p.png"), photo)
    (tmp_path / "GFPGANv1.4.pth").write_bytes(b"\x80\x02not really a checkpoint" * 100)
    code, _, err = enhance(
        capsys, tmp_path / "p.png", "-o", tmp_path / "out", "--model", "gfpgan-1.4",
        "--weights", tmp_path / "GFPGANv1.4.pth",
    )  # fmt: skip
    assert code == 2 and "GFPGANv1.4.pth: not a loadable torch checkpoint" in err
    assert err.count("\n") == 1 and not (tmp_path / "out").exists()


def test_learned_model_without_weights_says_how_to_get_them(
    tmp_path: Path,
    photo: np.ndarray,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FACERT_CACHE", str(tmp_path / "empty-cache"))
    cv2.imwrite(str(tmp_path / "p.png"), photo)
    code, _, err = enhance(
        capsys, tmp_path / "p.png", "-o", tmp_path / "out", "--model", "codeformer"
    )
    assert code == 2 and "facert models export codeformer --weights FILE" in err


def test_unwritable_output_folder(
    tmp_path: Path, photo: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    cv2.imwrite(str(tmp_path / "p.png"), photo)
    (tmp_path / "file").write_bytes(b"x")
    code, _, err = enhance(
        capsys, tmp_path / "p.png", "-o", tmp_path / "file" / "out", "--model", "wipa"
    )
    assert code == 2 and "not writable" in err and err.count("\n") == 1


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_only() -> None:
    terminal, pipe = _Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        progress = Progress(3, stream)
        progress.update(1, "a.png")
        progress.error("facert: error: b.png: empty file (0 bytes)")
        progress.update(3, "c.png")
        progress.finish()
    assert "[##########--------------------] 1/3" in terminal.getvalue()
    assert "3/3" in terminal.getvalue() and terminal.getvalue().endswith("\n")
    assert pipe.getvalue() == "facert: error: b.png: empty file (0 bytes)\n"
    single = _Terminal()
    Progress(1, single).update(1, "x.png")
    assert single.getvalue() == ""


def test_color_correction_changes_only_the_pasted_faces(
    tmp_path: Path, photo: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    """--color-correction matches each restored face's colours before it is pasted: the photo
    outside the pasted square is the same as without it, the face is not; a wrong name exits 2."""
    cv2.imwrite(str(tmp_path / "p.png"), photo)
    outputs = {}
    for method in ("none", "mean-std", "histogram"):
        out = tmp_path / method
        code, _, err = enhance(
            capsys, tmp_path / "p.png", "-o", out, "--model", "wipa", "--color-correction", method
        )
        assert (code, err) == (0, "")
        outputs[method] = cv2.imread(str(out / "p.png")).astype(np.int16)
    for method in ("mean-std", "histogram"):
        changed = np.abs(outputs[method] - outputs["none"]).max(axis=2) > 0
        ys, xs = np.nonzero(changed)
        assert changed.any() and changed.mean() < 0.5
        # every change lies within the face's region (the face is about 90 px wide here)
        assert xs.max() - xs.min() < 200 and ys.max() - ys.min() < 200
    code, _, err = enhance(
        capsys, tmp_path / "p.png", "-o", tmp_path / "x", "--color-correction", "grey"
    )
    assert code == 2 and "invalid choice: 'grey'" in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_max_face_and_min_score_choose_the_faces(
    tmp_path: Path, photo: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    cv2.imwrite(str(tmp_path / "p.png"), photo)  # one face, about 90 px
    for flags, restored in ((["--max-face", "40"], 0), (["--min-score", "0.5"], 1)):
        code, out, err = enhance(
            capsys, tmp_path / "p.png", "-o", tmp_path / flags[0][2:], "--model", "wipa", *flags
        )
        assert (code, err) == (0, "") and f"{restored} face" in out, out
    code, _, err = enhance(capsys, tmp_path / "p.png", "-o", tmp_path / "x", "--min-score", "2")
    assert code == 2 and "--min-score must lie in [0, 1], got 2" in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()
