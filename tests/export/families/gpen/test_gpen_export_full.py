"""Full-size GPEN-BFR 256/512/1024 through `export_model` (the path of `facert models export
gpen-bfr-512 --weights FILE`), with deterministic equalized weights standing in for the official
files. Slow: about 1.5 (256), 3 (512) and 4.5 (1024) minutes on two CPU cores."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from full_export import export_and_check  # noqa: E402

from facert.export.families.gpen.net import GPEN, OFFICIAL_CONFIGS  # noqa: E402
from facert.export.harness.fill import equalized_state_dict  # noqa: E402
from facert.models.registry import get_spec  # noqa: E402


@pytest.mark.slow
@pytest.mark.parametrize("size", [512, 256, 1024])
def test_full_size_export_passes_its_checks(tmp_path: Path, size: int) -> None:
    checkpoint = tmp_path / f"GPEN-BFR-{size}-fill.pth"
    torch.save(equalized_state_dict(GPEN(OFFICIAL_CONFIGS[size])), checkpoint)
    export_and_check(get_spec(f"gpen-bfr-{size}"), checkpoint, tmp_path / "out")
