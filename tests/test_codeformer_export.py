"""CodeFormer export form: same results as the faithful port, ONNX, batching, FP16 pinning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from codeformer_cases import SMALL_CONFIG, face_tensor, load_golden, read_face  # noqa: E402

from facert.export.fill import deterministic_state_dict  # noqa: E402
from facert.export.half_emulation import emulate_half  # noqa: E402
from facert.export.nets.codeformer import CodeFormer  # noqa: E402
from facert.export.nets.codeformer_export import build_codeformer_export  # noqa: E402

# Tolerances apply to max |found - expected| / max(1, max |expected|): float32 rounding is relative,
# and the random-weight network's outputs reach |5| to |35| where trained weights stay in [-1, 1]
# (there the bound is absolute).
# Export form vs faithful port: the same operations on the same values except the transformer
# (batch-first, explicit attention: logits differ by ~1e-6) and the code lookup (gather instead of
# one-hot matmul, exact). The picked codes are the same, so images agree to float32 rounding. A
# batch vs single rows: convolution kernels block differently, the same float32 rounding.
FORM_TOLERANCE = 1e-5
# ONNX Runtime vs torch: other convolution and GroupNorm kernels, ~70 operations deep.
ONNX_TOLERANCE = 1e-4


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
    return build_codeformer_export(small_state, **SMALL_CONFIG)


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


def test_onnx_export_runs_in_onnx_runtime(small_exported, small_faces, tmp_path: Path) -> None:
    import onnxruntime

    exported = small_exported
    faces = torch.cat([small_faces, small_faces.flip(-1)])
    fidelity = torch.tensor([0.0, 0.5, 1.0, 0.25])
    path = tmp_path / "codeformer.onnx"
    torch.onnx.export(
        exported,
        (faces[:1], fidelity[:1]),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["image", "fidelity"],
        output_names=["restored"],
        dynamic_axes={"image": {0: "batch"}, "fidelity": {0: "batch"}, "restored": {0: "batch"}},
    )
    graph = onnx.load(str(path)).graph
    operators = {node.op_type for node in graph.node}
    assert {"ArgMax", "Gather"} <= operators
    assert not operators & {"If", "Loop", "ScatterElements", "TopK"}  # no branches, no one-hot
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (found,) = session.run(None, {"image": faces.numpy(), "fidelity": fidelity.numpy()})
    with torch.no_grad():
        expected = exported(faces, fidelity).numpy()
    assert found.shape == (4, 3, 64, 64)
    assert scaled_difference(found, expected) <= ONNX_TOLERANCE


def test_half_keeps_the_pinned_parts_in_float32(small_state) -> None:
    exported = build_codeformer_export(small_state, **SMALL_CONFIG).half()
    dtypes = {name: p.dtype for name, p in exported.named_parameters()}
    assert dtypes["encoder.blocks.1.conv1.weight"] == torch.float16
    assert dtypes["quantize.embedding.weight"] == torch.float16
    assert dtypes["fuse_convs_dict.32.scale.0.weight"] == torch.float16
    for name in ("position_emb", "feat_emb.weight", "ft_layers.1.self_attn.in_proj_weight",
                 "idx_pred_layer.1.weight", "encoder.blocks.1.norm1.weight",
                 "generator.blocks.14.weight"):  # fmt: skip
        assert dtypes[name] == torch.float32, name
    unpinned = build_codeformer_export(small_state, pinned_dtype=None, **SMALL_CONFIG).half()
    assert {p.dtype for p in unpinned.parameters()} == {torch.float16}


def psnr(found: torch.Tensor, reference: torch.Tensor) -> float:
    """PSNR in dB with the reference's own value range as peak (outputs are not clamped here)."""
    peak = (reference.max() - reference.min()).item()
    mse = (found.double() - reference.double()).pow(2).mean().item()
    return float(10 * np.log10(peak**2 / mse))


@pytest.fixture(scope="module")
def full_state() -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        shapes = CodeFormer()  # keys and shapes only; the values come from the key names
    return deterministic_state_dict(shapes)


@pytest.fixture(scope="module")
def real_faces() -> torch.Tensor:
    """(2, 3, 512, 512): the aligned real test faces."""
    names = ("grace_hopper_512.png", "astronaut_512.png")
    return torch.cat([face_tensor(read_face(name)) for name in names])


@pytest.mark.slow
def test_full_size_export_form_equals_the_faithful_port(full_state, real_faces) -> None:
    faithful = _faithful(full_state, {})
    exported = build_codeformer_export(full_state)
    with torch.no_grad():
        for w in (0.0, 0.5, 1.0):
            expected = faithful(real_faces, w=w, adain=True)[0]
            found = exported(real_faces, torch.full((2,), w))
            assert scaled_difference(found, expected) <= FORM_TOLERANCE, f"w={w}"


@pytest.mark.slow
def test_fp16_build_is_safe_on_real_faces(full_state, real_faces) -> None:
    """The full model under .half() with its pinned parts (emulated FP16 on the CPU, see
    facert.export.half_emulation) stays finite and within 40 dB PSNR of FP32 on real faces, at
    w = 0 (the fusion still runs: 0 * inf would be NaN) and at the default w = 0.5.

    With these random weights w = 1 overflows float16 in the 256 px fusion (activations reach
    3.6e6); whether the real checkpoint does can only be checked with the real file."""
    exported = build_codeformer_export(full_state)
    faces = torch.cat([real_faces, real_faces])
    fidelity = torch.tensor([0.0, 0.0, 0.5, 0.5])
    with torch.no_grad():
        reference = exported(faces, fidelity)
        half = exported.half()
        with emulate_half():
            found = half(faces.half(), fidelity).float()
    assert torch.isfinite(found).all()
    for row in range(4):
        assert psnr(found[row], reference[row]) >= 40.0, f"row {row}"
