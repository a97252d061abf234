"""Full-size GFPGAN through `export_model` (the path of `facert models export gfpgan-1.4`), with
deterministic weights standing in for the official file. Slow: minutes on two CPU cores."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from full_export import export_and_check  # noqa: E402

from facert.export.fill import deterministic_state_dict  # noqa: E402
from facert.export.nets.gfpgan import GFPGAN  # noqa: E402
from facert.registry import get_spec  # noqa: E402


@pytest.mark.slow
def test_full_size_export_passes_its_checks(tmp_path: Path) -> None:
    checkpoint = tmp_path / "GFPGANv1.4-fill.pth"
    torch.save({"params_ema": deterministic_state_dict(GFPGAN())}, checkpoint)
    export_and_check(get_spec("gfpgan-1.4"), checkpoint, tmp_path / "out")
