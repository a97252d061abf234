"""DFDNet against the OFFICIAL code (tests/golden/dfdnet): the faithful port and the export form on
grace_hopper_512.png with the official part boxes, deterministic weights and K = 4 dictionaries.
Slow: a full 512 face through VGG19 and the decoder, about 20 s per forward on two CPU cores.

Tolerance 1e-4 (the issue's): outputs in [-0.3, 0.6]; the port is the same arithmetic as the
official module (measured 0.0), the export form sums bilinear taps in another order (7e-7).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from testdata import GOLDEN_DATA, ROOT

torch = pytest.importorskip("torch")

from dfdnet_files import CLUSTERS, deterministic_state  # noqa: E402

from facert.export.families.dfdnet.dictionaries import deterministic_dictionaries  # noqa: E402
from facert.export.families.dfdnet.export import DFDNetExport  # noqa: E402
from facert.export.families.dfdnet.net import load_dfdnet  # noqa: E402

GOLDEN = GOLDEN_DATA / "dfdnet" / "golden.npz"


@pytest.mark.slow
def test_port_and_export_form_match_the_official_output() -> None:
    golden = np.load(GOLDEN)
    face = cv2.imread(str(ROOT / "tests" / "data" / "faces" / "grace_hopper_512.png"))
    x = torch.from_numpy(face[:, :, ::-1].astype(np.float32) / 255 * 2 - 1)
    x = x.permute(2, 0, 1)[None].contiguous()
    boxes = torch.from_numpy(golden["boxes"])[None]
    model = load_dfdnet(deterministic_state(), deterministic_dictionaries(CLUSTERS))
    with torch.no_grad():
        port = model(x, boxes).numpy()[:, :, ::3, ::3]
        export = DFDNetExport(model).eval()(x, boxes.float()).numpy()[:, :, ::3, ::3]
    assert np.abs(port - golden["output_every3"]).max() <= 1e-4
    assert np.abs(export - golden["output_every3"]).max() <= 1e-4
    # The official script's train mode (one power iteration per call) moves it by 2.4e-4 at most.
    assert 1e-4 < np.abs(golden["train_mode_every3"] - golden["output_every3"]).max() < 1e-3
