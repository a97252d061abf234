"""Golden parity with the official PSFR-GAN networks, and the export form against our faithful port.

Golden outputs (tests/golden/psfrgan/golden.npz) come from the official classes, built and loaded the
official way (define_P, define_G with spectral norm, strict=False load), run on the test-time path
of ``enhance_faces`` (ParseNet -> one-hot of the max -> generator), with weights from
facert.export.harness.fill (ParseNet: deterministic_state_dict; generator: spectral_state_dict, whose
u and v make sigma W's largest singular value, as training leaves them). Recipe and versions in
tests/golden/psfrgan/.

Measured: at 64 the port gives the official logits and output bit for bit (max abs 0.0), the export
form 9.5e-7 from the port; at 512 the labels and the float32 centre exactly, the whole output within
the stored float16 (4.9e-4), the export form 1.7e-6 from the port.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from testdata import DATA, GOLDEN_DATA  # noqa: E402

from facert.export.families.psfrgan.export import build_psfrgan_export, merged_state  # noqa: E402
from facert.export.families.psfrgan.generator import (  # noqa: E402
    GeneratorConfig,
    PSFRGenerator,
    load_generator,
    one_hot_of_max,
)
from facert.export.families.psfrgan.parsenet import (  # noqa: E402
    ParseNet,
    ParseNetConfig,
    load_parsenet,
)
from facert.export.harness.fill import deterministic_state_dict, spectral_state_dict  # noqa: E402
from facert.export.precision.policy import FP32  # noqa: E402
from facert.models.check_faces import load_faces  # noqa: E402
from facert.models.registry import get_spec  # noqa: E402

GOLDEN = GOLDEN_DATA / "psfrgan" / "golden.npz"
# The official classes at 64 (the recipe's small configuration): ParseNet(64, 64, 16, 16, 19,
# res_depth=2, ch_range=[8, 32]); PSFRGenerator(in/out 64, ch_range=[16, 64]).
SMALL_P = ParseNetConfig(
    in_size=64, out_size=64, min_feat_size=16, base_ch=16, res_depth=2, ch_range=(8, 32)
)
SMALL_G = GeneratorConfig(out_size=64, ch_range=(16, 64))


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(GOLDEN) as arrays:
        return dict(arrays)


def _run(parse_config, generator_config, face: torch.Tensor):
    """(logits, output of the faithful ports, output of the FP32 export form) with the fill."""
    torch.set_num_threads(1)
    parse = deterministic_state_dict(ParseNet(parse_config))
    generator = spectral_state_dict(PSFRGenerator(generator_config))
    export = build_psfrgan_export(
        merged_state(parse, generator), FP32, parse_config, generator_config
    )
    with torch.no_grad():
        logits, _ = load_parsenet(parse, parse_config)(face)
        out = load_generator(generator, generator_config)(face, one_hot_of_max(logits))
        return logits.numpy(), out.numpy(), export(face).numpy()


def test_small_config_matches_the_official_code(golden: dict) -> None:
    logits, ours, export = _run(SMALL_P, SMALL_G, torch.from_numpy(golden["small_input"]))
    # Same operations as the official code: float32 rounding only. 16 of 19 classes are used,
    # so the one-hot and the generator's SPADE maps are exercised; the outputs span about +-2.2.
    assert np.abs(logits - golden["small_logits"]).max() <= 1e-4
    assert np.array_equal(logits.argmax(1), golden["small_labels"])
    assert np.abs(ours - golden["small_output"]).max() <= 1e-4
    # The export form (BatchNorm and spectral norm folded, instance norm written out): the same
    # function up to float32 reordering, no class flipped at this size.
    assert np.abs(export - ours).max() <= 1e-5 * float(np.abs(ours).max())


def test_the_spec_normalisation_is_enhance_faces_preprocessing() -> None:
    # enhance_faces: torch.tensor(rgb) / 255. * 2 - 1 on the RGB face.
    spec = get_spec("psfrgan")
    faces, _ = load_faces(spec, [DATA / "faces" / "grace_hopper_512.png"], 1)
    rgb = cv2.imread(str(DATA / "faces" / "grace_hopper_512.png"))[:, :, ::-1]
    official = (torch.tensor(rgb.transpose(2, 0, 1).copy()) / 255.0 * 2 - 1)[None].numpy()
    assert np.abs(faces - official).max() <= 2**-23  # one float32 spacing at 1.0


def _close_to_float16(ours: np.ndarray, stored: np.ndarray, scale: float) -> bool:
    half_ulp = np.spacing(np.abs(stored)).astype(np.float32) / 2
    return bool((np.abs(ours - stored.astype(np.float32)) <= half_ulp + 1e-4 * scale).all())


@pytest.mark.slow
def test_full_size_matches_the_official_code(golden: dict) -> None:
    spec = get_spec("psfrgan")
    faces, _ = load_faces(spec, [DATA / "faces" / "grace_hopper_512.png"], 1)
    logits, ours, export = _run(ParseNetConfig(), GeneratorConfig(), torch.from_numpy(faces))
    assert np.array_equal(logits.argmax(1), golden["full_labels"])
    assert np.abs(ours[:, :, 224:288, 224:288] - golden["full_center"]).max() <= 1e-4
    assert _close_to_float16(ours, golden["full_output"], 1.0)
    assert np.abs(export - ours).max() <= 1e-4
