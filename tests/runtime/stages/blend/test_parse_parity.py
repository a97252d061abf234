"""--mask parse end to end against facexlib: facert's ParseNet export (the deterministic weights the
recipe gave facexlib's ParseNet) parses the golden cases' restored faces through ONNX Runtime, and
the pasted photos are held to facexlib's own ``use_parse=True`` output (tests/golden/blend).

Tolerances: the class maps may differ where two logits are tied within float32 rounding (ONNX
Runtime and PyTorch sum the convolutions in other orders): at most 0.1 % of the pixels (measured: 0
to 2 of 262,144 per face). The paste then holds the contract, >= 40 dB over each face's box
(measured 52.2-54.7 dB, as from the golden maps themselves; a flipped pixel moves the mask by under
1e-3 after the blur).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from blend_cases import BLEND, CASES, case_inputs
from tiny_export import FACES

from facert.backends import engine_for
from facert.demo.metrics import psnr
from facert.models.registry import get_spec
from facert.stages.blend.parse import MASK_COLORMAP, FaceParser
from facert.stages.blend.paste import paste_faces

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def parser(tmp_path_factory: pytest.TempPathFactory):
    from facert.export.families.psfrgan.parsenet import ParseNet
    from facert.export.families.psfrgan.parser_export import ParseNetExporter
    from facert.export.harness.fill import deterministic_state_dict

    folder: Path = tmp_path_factory.mktemp("parsenet")
    source = folder / "parsing_parsenet.pth"
    torch.save(deterministic_state_dict(ParseNet()), source)
    spec = get_spec("parsenet")
    ParseNetExporter(faces=FACES[:1])(spec, [source], folder)
    with FaceParser(spec, engine_for(folder / "parsenet.onnx")) as opened:
        yield opened


@pytest.mark.slow  # a full-size ParseNet export and 5 faces parsed: minutes on 2 cores
def test_facert_parsenet_gives_facexlibs_maps_and_paste(
    parser: FaceParser, grace_hopper: np.ndarray, astronaut: np.ndarray
) -> None:
    photos = {"grace_hopper": grace_hopper, "astronaut": astronaut}
    levels = np.asarray(MASK_COLORMAP, dtype=np.uint8)
    for name, case in CASES.items():
        results = case["parse_results"]
        _, restored, _ = case_inputs(case, photos, 1)
        classes = parser.classes(np.stack(restored))
        for ours, file in zip(classes, results[0]["masks"], strict=True):
            reference = cv2.imread(str(BLEND / file), cv2.IMREAD_GRAYSCALE)
            assert float((levels[ours] != reference).mean()) <= 1e-3, (name, file)
        masks = parser.masks(np.stack(restored))
        for result in results:
            background, faces, affines = case_inputs(case, photos, result["upscale"])
            pasted = paste_faces(background, faces, affines, result["upscale"], masks=masks)
            x0, y0, x1, y1 = result["box"]
            reference = cv2.imread(str(BLEND / result["file"]))
            assert psnr(pasted[y0:y1, x0:x1], reference) >= 40.0, (name, result["upscale"])
