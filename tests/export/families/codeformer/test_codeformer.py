"""CodeFormer faithful port: official keys and shapes, official fusion tables, golden parity.

Golden outputs come from the official sczhou/CodeFormer code with weights from facert.export.harness.fill
(recipe: tests/golden/codeformer/recipe). Parity is checked on the real aligned face
tests/data/faces/grace_hopper_512.png (resized to 64 px for the small configuration).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from codeformer_cases import GOLDEN, SMALL_CONFIG, face_tensor, load_golden, read_face  # noqa: E402

from facert.errors import WeightsError  # noqa: E402
from facert.export.families.codeformer.export import build_codeformer_export  # noqa: E402
from facert.export.families.codeformer.net import CodeFormer  # noqa: E402
from facert.export.harness.checkpoint import load_state_dict  # noqa: E402
from facert.export.harness.fill import fill_deterministic  # noqa: E402
from facert.export.precision.policy import FP32  # noqa: E402
from facert.models.registry import get_spec  # noqa: E402

# Outputs of our port and the official code agree to the last bit on this machine's CPU (same
# operations in the same order); 1e-4 leaves room for other CPUs' kernels while still catching any
# wrong block, order or constant (those move outputs by 1e-2 or more).
PARITY_TOLERANCE = 1e-4


def test_full_size_keys_and_shapes_are_the_official_ones() -> None:
    """Every key of the official params_ema (state-dict-keys.md), in order, with its shape."""
    expected = []
    for line in (GOLDEN / "keys.txt").read_text().splitlines():
        key, shape, dtype = line.split("\t")
        expected.append((key, tuple(int(n) for n in shape.strip("()").split(",") if n), dtype))
    with torch.device("meta"):
        network = CodeFormer()
    found = [
        (k, tuple(t.shape), str(t.dtype).removeprefix("torch."))
        for k, t in network.state_dict().items()
    ]
    assert len(found) == 515
    assert found == expected


def test_fusion_points_are_the_official_tables() -> None:
    """The layout-derived fusion points equal the tables hard-coded in the official CodeFormer
    (fuse_encoder_block, fuse_generator_block)."""
    with torch.device("meta"):
        network = CodeFormer()
    assert network.encoder.skip_blocks == {512: 2, 256: 5, 128: 8, 64: 11, 32: 14, 16: 18}
    assert network.generator.fuse_blocks == {16: 6, 32: 9, 64: 12, 128: 15, 256: 18, 512: 21}


def test_latent_size_must_match_the_layout() -> None:
    with pytest.raises(ValueError, match="latent_size 64"):
        CodeFormer(**SMALL_CONFIG, latent_size=64)


def _check_against_golden(network: CodeFormer, image: torch.Tensor, golden: dict, stride: int):
    with torch.no_grad():
        for phase, w in enumerate((0.0, 0.7)):
            out, logits, _ = network(image, w=w, adain=True)
            # the codebook choice is discontinuous: a flipped index would move a whole 32x32 patch
            np.testing.assert_array_equal(logits[0].argmax(-1).numpy(), golden["indices"])
            offset = phase % stride
            ours = out[0, :, offset::stride, offset::stride].numpy()
            difference = np.abs(ours - golden[f"out_w{w:g}"]).max()
            assert difference <= PARITY_TOLERANCE, f"w={w}: max abs difference {difference}"


def test_small_configuration_matches_the_official_code() -> None:
    golden = load_golden("small.npz")
    network = fill_deterministic(CodeFormer(**SMALL_CONFIG)).eval()
    _check_against_golden(network, face_tensor(golden["input_bgr"]), golden, stride=1)


@pytest.mark.slow
def test_full_configuration_matches_the_official_code() -> None:
    golden = load_golden("full.npz")
    network = fill_deterministic(CodeFormer()).eval()
    image = face_tensor(read_face("grace_hopper_512.png"))
    _check_against_golden(network, image, golden, stride=2)


def test_official_file_layout_loads_through_the_checkpoint_loader(tmp_path: Path) -> None:
    """A file shaped like codeformer.pth ({"params_ema": state}) loads with the registered spec's
    WeightFile, strictly; a file from another model fails naming the file."""
    weight = get_spec("codeformer").weights[0]
    state = fill_deterministic(CodeFormer(**SMALL_CONFIG)).state_dict()
    torch.save({"params_ema": state}, tmp_path / "codeformer.pth")
    loaded = load_state_dict(tmp_path / "codeformer.pth", weight)
    network = build_codeformer_export(
        loaded, FP32, source=tmp_path / "codeformer.pth", **SMALL_CONFIG
    )
    assert not network.training
    state.pop("position_emb")
    torch.save({"params_ema": state}, tmp_path / "other.pth")
    with pytest.raises(WeightsError, match=r"other\.pth.*1 missing: position_emb"):
        build_codeformer_export(
            load_state_dict(tmp_path / "other.pth", weight),
            FP32,
            source=tmp_path / "other.pth",
            **SMALL_CONFIG,
        )
