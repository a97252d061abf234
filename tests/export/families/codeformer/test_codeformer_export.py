"""CodeFormer export form: same results as the faithful port (scaled generator included), batching,
the FP16 build's pinned parts. ONNX and FP16 checks: tests/export/families/codeformer/test_codeformer_harness.py."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from codeformer_cases import (  # noqa: E402
    SMALL_CONFIG,
    face_tensor,
    large_fusion,
    load_golden,
    read_face,
)

from facert.export.families.codeformer.export import build_codeformer_export  # noqa: E402
from facert.export.families.codeformer.net import CodeFormer  # noqa: E402
from facert.export.families.codeformer.scaled import FEATURE_LIMIT  # noqa: E402
from facert.export.harness.fill import deterministic_state_dict  # noqa: E402
from facert.export.precision.policy import FP16, FP16_STAGED, FP32  # noqa: E402

# Tolerances apply to max |found - expected| / max(1, max |expected|): float32 rounding is relative,
# and the random-weight network's outputs reach |5| to |35| where trained weights stay in [-1, 1]
# (there the bound is absolute).
# Export form vs faithful port: the same operations on the same values except the transformer
# (batch-first, explicit attention: logits differ by ~1e-6) and the code lookup (gather instead of
# one-hot matmul, exact). The picked codes are the same, so images agree to float32 rounding. A
# batch vs single rows: convolution kernels block differently, the same float32 rounding.
FORM_TOLERANCE = 1e-5
# Fusion scale outputs multiplied by this: the same kind of network, whose features grow past
# FEATURE_LIMIT at the fusions, so the scaled generator renormalises (scale > 1).


def scaled_difference(
    found: torch.Tensor | np.ndarray, expected: torch.Tensor | np.ndarray
) -> float:
    found_array, expected_array = np.asarray(found), np.asarray(expected)
    scale = max(1.0, float(np.abs(expected_array).max()))
    return float(np.abs(found_array - expected_array).max()) / scale


@pytest.fixture(scope="module")
def small_state() -> dict[str, torch.Tensor]:
    return deterministic_state_dict(CodeFormer(**SMALL_CONFIG))


@pytest.fixture(scope="module")
def small_exported(small_state):
    return build_codeformer_export(small_state, FP32, **SMALL_CONFIG)


@pytest.fixture(scope="module")
def small_faces() -> torch.Tensor:
    """(2, 3, 64, 64): the two real test faces at 64 px (the first is the golden input)."""
    import cv2

    golden = load_golden("small.npz")
    other = cv2.resize(read_face("astronaut_512.png"), (64, 64), interpolation=cv2.INTER_AREA)
    return torch.cat([face_tensor(golden["input_bgr"]), face_tensor(other)])


def _faithful(state: dict, config: dict) -> CodeFormer:
    network = CodeFormer(**config).eval()
    network.load_state_dict(state)
    return network


@pytest.mark.parametrize("w", [0.0, 0.5, 1.0])
def test_export_form_equals_the_faithful_port(small_state, small_exported, small_faces, w) -> None:
    faithful = _faithful(small_state, SMALL_CONFIG)
    with torch.no_grad():
        expected = faithful(small_faces, w=w, adain=True)[0]
        found = small_exported(small_faces, torch.full((2,), w))
    assert scaled_difference(found, expected) <= FORM_TOLERANCE


def test_a_batch_equals_single_runs(small_exported, small_faces) -> None:
    """Rows never mix (GroupNorm, attention, AdaIN are per face), each with its own fidelity."""
    exported = small_exported
    faces = torch.cat([small_faces, small_faces.flip(-1)])
    fidelity = torch.tensor([0.0, 0.3, 0.7, 1.0])
    with torch.no_grad():
        batch = exported(faces, fidelity)
        for row in range(4):
            single = exported(faces[row : row + 1], fidelity[row : row + 1])
            assert scaled_difference(batch[row : row + 1], single) <= FORM_TOLERANCE


@pytest.mark.parametrize("w", [0.5, 1.0])
def test_the_scaled_generator_is_exact_when_it_renormalises(small_state, small_faces, w) -> None:
    """With large fusion outputs the features pass FEATURE_LIMIT and travel divided by scales
    > 1: the result is still the faithful port's (GroupNorm eps / scale**2, bias / scale)."""
    state = large_fusion(small_state)
    unscaled = build_codeformer_export(state, FP32, rescale_fusion=False, **SMALL_CONFIG)
    peaks: list[float] = []
    block = unscaled.fuse_convs_dict["64"]
    hook = block.register_forward_hook(lambda m, args, out: peaks.append(float(out.abs().max())))
    exported = build_codeformer_export(state, FP32, **SMALL_CONFIG)
    with torch.no_grad():
        unscaled(small_faces, torch.full((2,), w))
        hook.remove()
        found = exported(small_faces, torch.full((2,), w))
        expected = _faithful(state, SMALL_CONFIG)(small_faces, w=w, adain=True)[0]
    assert peaks[0] > 10 * FEATURE_LIMIT  # the plain form's last fusion output: scaling is active
    assert scaled_difference(found, expected) <= FORM_TOLERANCE


def test_fp16_build_keeps_the_pinned_parts_in_float32(small_state) -> None:
    for precision, pinned in ((FP16, torch.float32), (FP16_STAGED, torch.float64)):
        exported = build_codeformer_export(small_state, precision, **SMALL_CONFIG)
        dtypes = {name: p.dtype for name, p in exported.named_parameters()}
        activation = precision.activation
        for name in ("generator.blocks.0.weight", "generator.blocks.1.conv1.weight",
                     "fuse_convs_dict.32.scale.0.weight", "fuse_convs_dict.32.encode_enc.conv1.weight"):  # fmt: skip
            assert dtypes[name] == activation, name
        # The code-selection path (encoder, transformer, logits, codebook) and every GroupNorm.
        for name in ("encoder.blocks.0.weight", "encoder.blocks.1.conv1.weight",
                     "encoder.blocks.15.weight", "quantize.embedding.weight",
                     "position_emb", "feat_emb.weight", "ft_layers.1.self_attn.in_proj_weight",
                     "idx_pred_layer.1.weight", "encoder.blocks.1.norm1.weight",
                     "generator.blocks.14.weight"):  # fmt: skip
            assert dtypes[name] == pinned, name
        assert exported.pinned_dtype == pinned
        assert exported.generator.blocks[2].pinned_dtype == pinned  # an AttnBlock


@pytest.fixture(scope="module")
def full_state() -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        shapes = CodeFormer()  # keys and shapes only; the values come from the key names
    return deterministic_state_dict(shapes)


@pytest.mark.slow
def test_full_size_export_form_equals_the_faithful_port(full_state) -> None:
    """At w = 1 the scaled generator renormalises (the plain form reaches 3.6e6 at 256 px)."""
    faithful = _faithful(full_state, {})
    exported = build_codeformer_export(full_state, FP32)
    names = ("grace_hopper_512.png", "astronaut_512.png")
    real_faces = torch.cat([face_tensor(read_face(name)) for name in names])
    with torch.no_grad():
        for w in (0.0, 0.5, 1.0):
            expected = faithful(real_faces, w=w, adain=True)[0]
            found = exported(real_faces, torch.full((2,), w))
            assert scaled_difference(found, expected) <= FORM_TOLERANCE, f"w={w}"
