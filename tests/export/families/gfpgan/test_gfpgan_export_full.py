"""Full-size GFPGAN through `facert models export gfpgan-1.4 --weights FILE`, with deterministic
weights standing in for a checkpoint saved by the official GFPGANv1Clean class: the official keys
and shapes under ``params_ema``, other values than the release. It exports as unofficial weights
(issue 7 section 2). Slow: minutes on two CPU cores."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from full_export import check_export, shared_faces  # noqa: E402

from facert.cli.main import main  # noqa: E402
from facert.export.families.gfpgan.net import GFPGAN  # noqa: E402
from facert.export.harness.fill import deterministic_state_dict  # noqa: E402
from facert.io.files import sha256_of  # noqa: E402
from facert.models.registry import get_spec  # noqa: E402


@pytest.mark.slow
def test_full_size_export_passes_its_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    checkpoint = tmp_path / "GFPGANv1.4-fill.pth"
    torch.save({"params_ema": deterministic_state_dict(GFPGAN())}, checkpoint)
    out = tmp_path / "out"
    args = ["--cache-dir", str(tmp_path / "cache"), "models", "export", "gfpgan-1.4"]
    faces = tmp_path / "faces"  # the extra check faces of full_export.shared_faces()
    faces.mkdir()
    for path in shared_faces():
        shutil.copy(path, faces)
    extra = ["--check-faces", str(faces)] if shared_faces() else []
    code = main([*args, "--weights", str(checkpoint), "-o", str(out), *extra])
    assert code == 0, capsys.readouterr().err
    manifest = check_export(get_spec("gfpgan-1.4"), out)
    sha = sha256_of(checkpoint)
    assert manifest["source"] == {"files": [checkpoint.name], "sha256": sha, "official": False}
    [notice] = [r.getMessage() for r in caplog.records if "notice:" in r.getMessage()]
    assert notice.startswith(f"notice: {checkpoint.name}: unofficial weights for gfpgan-1.4")
