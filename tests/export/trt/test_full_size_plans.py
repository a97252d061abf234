"""Full-size CodeFormer (deterministic fill in the official layout) exported and built into
TensorRT-RTX plans with its pins checked. GFPGAN, GPEN 256/512/1024 and RestoreFormer(++) get
theirs in their full-size export tests (tests/full_export.py: check_plans). Slow: minutes."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tensorrt_rtx")

from full_export import check_plans  # noqa: E402
from pinned_spec import pinned_spec  # noqa: E402

from facert.export.families.codeformer.net import CodeFormer  # noqa: E402
from facert.export.harness.api import export_model  # noqa: E402
from facert.export.harness.fill import deterministic_state_dict  # noqa: E402
from facert.models.registry import get_spec  # noqa: E402


@pytest.mark.slow
def test_full_size_codeformer_plans_keep_its_pins(tmp_path: Path) -> None:
    with torch.device("meta"):
        shapes = CodeFormer()  # keys and shapes only; the fill comes from the key names
    checkpoint = tmp_path / "codeformer-fill.pth"
    torch.save({"params_ema": deterministic_state_dict(shapes)}, checkpoint)
    spec = pinned_spec(get_spec("codeformer"), checkpoint)
    folder = export_model(spec, [checkpoint], tmp_path / "out", spec.weights[0].sha256)
    check_plans(spec, folder)
