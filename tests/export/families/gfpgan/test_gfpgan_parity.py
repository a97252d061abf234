"""Golden parity with the official GFPGANv1Clean, and the export form against our faithful port.

Golden outputs (tests/golden/gfpgan/golden.npz) come from the official code with the deterministic
fill of facert.export.harness.fill and randomize_noise=False; recipe in tests/golden/gfpgan/recipe/.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from testdata import DATA, GOLDEN_DATA  # noqa: E402

from facert.export.families.gfpgan.export import build_gfpgan_export  # noqa: E402
from facert.export.families.gfpgan.net import GFPGAN, GFPGANConfig, load_gfpgan  # noqa: E402
from facert.export.harness.fill import deterministic_state_dict  # noqa: E402
from facert.export.precision.policy import FP32  # noqa: E402

GOLDEN = GOLDEN_DATA / "gfpgan" / "golden.npz"
SMALL = GFPGANConfig(out_size=64, num_style_feat=64, channel_multiplier=1, narrow=0.25)
FULL = GFPGANConfig()


def _grace_hopper_512() -> torch.Tensor:
    """GFPGANer's preprocessing of the aligned face: BGR -> RGB, /255, (x - 0.5) / 0.5."""
    bgr = cv2.imread(str(DATA / "faces" / "grace_hopper_512.png"))
    rgb = bgr[:, :, ::-1].astype(np.float32) / 255.0
    return torch.from_numpy(((rgb - 0.5) / 0.5).transpose(2, 0, 1)[None].copy())


def _models(config: GFPGANConfig) -> tuple[torch.nn.Module, torch.nn.Module]:
    state = deterministic_state_dict(GFPGAN(config))
    return load_gfpgan(state, config), build_gfpgan_export(state, FP32, config)


def test_small_config_matches_the_official_code() -> None:
    golden = np.load(GOLDEN)
    faithful, export = _models(SMALL)
    face = torch.from_numpy(golden["small_input"])
    with torch.no_grad():
        ours = faithful(face).numpy()
        mirrored = faithful(face.flip(-1)).numpy()
        rows = export(torch.cat([face, face.flip(-1)])).numpy()
    expected = golden["small_output"]
    # Same operations in the same order as the official code: FP32 rounding only (the output
    # spans about [-1.3, 2.8] with this fill).
    assert np.abs(ours - expected).max() <= 1e-4
    # Static-weight form with a batch of 2: the same function up to float32 reordering.
    scale = max(1.0, float(np.abs(expected).max()))
    assert np.abs(rows - np.concatenate([ours, mirrored])).max() <= 1e-5 * scale


@pytest.mark.slow
def test_full_size_matches_the_official_code() -> None:
    golden = np.load(GOLDEN)
    faithful, export = _models(FULL)
    x = _grace_hopper_512()
    with torch.no_grad():
        ours = faithful(x).numpy()
        static = export(x).numpy()
    # With this fill the full-size output spans about [-35, 16], not [-1, 1]: tolerances are
    # relative to its peak magnitude.
    scale = float(np.abs(golden["full_output_center"]).max())
    assert np.abs(ours[:, :, 224:288, 224:288] - golden["full_output_center"]).max() <= 1e-4 * scale
    # The whole image is stored as float16: allow half a float16 spacing on top.
    stored = golden["full_output"]
    half_ulp = np.spacing(np.abs(stored)).astype(np.float32) / 2
    assert (np.abs(ours - stored.astype(np.float32)) <= half_ulp + 1e-4 * scale).all()
    assert np.abs(static - ours).max() <= 1e-5 * float(np.abs(ours).max())
