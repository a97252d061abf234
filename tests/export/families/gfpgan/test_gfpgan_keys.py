"""GFPGAN's layout: the full-size module has exactly the official keys and shapes, and checkpoints
load through facert.export.harness.checkpoint (params_ema then params, strict, one-line errors)."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from testdata import GOLDEN_DATA  # noqa: E402

from facert.errors import WeightsError  # noqa: E402
from facert.export.families.gfpgan.net import GFPGAN, GFPGANConfig, load_gfpgan  # noqa: E402
from facert.export.harness.checkpoint import load_state_dict  # noqa: E402
from facert.export.harness.fill import deterministic_state_dict  # noqa: E402
from facert.models.registry import get_spec  # noqa: E402

KEYS = GOLDEN_DATA / "gfpgan" / "keys.txt"
SMALL = GFPGANConfig(out_size=32, num_style_feat=32, channel_multiplier=1, narrow=0.125)


def _official_keys() -> dict[str, tuple[int, ...]]:
    """keys.txt: the official GFPGANv1Clean state dict (state-dict-keys.md), ``key<TAB>(shape)``."""
    keys = {}
    for line in KEYS.read_text().splitlines():
        name, shape, _dtype = line.split("\t")
        keys[name] = tuple(int(d) for d in shape.strip("()").split(",") if d.strip())
    return keys


def test_full_size_module_has_the_official_keys_and_shapes() -> None:
    with torch.device("meta"):
        model = GFPGAN()
    ours = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    official = _official_keys()
    assert len(official) == 285
    assert ours == official
    assert sum(t.numel() for t in model.parameters()) == 86_444_252  # models.md section 1.9


def _checkpoint(tmp_path: Path, key: str = "params_ema") -> tuple[Path, dict]:
    state = deterministic_state_dict(GFPGAN(SMALL))
    path = tmp_path / "gfpgan.pth"
    torch.save({key: state}, path)
    return path, state


@pytest.mark.parametrize("key", ["params_ema", "params"])
def test_checkpoint_loads_unchanged(tmp_path: Path, key: str) -> None:
    path, state = _checkpoint(tmp_path, key)
    model = load_gfpgan(load_state_dict(path, get_spec("gfpgan-1.4").weights[0]), SMALL, path)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, state[name]), name


def test_wrong_shape_fails_in_one_line_naming_the_file(tmp_path: Path) -> None:
    path, state = _checkpoint(tmp_path)
    state["final_linear.bias"] = torch.zeros(7)
    del state["stylegan_decoder.noises.noise0"]
    with pytest.raises(WeightsError) as info:
        load_gfpgan(state, SMALL, path)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert "1 missing: stylegan_decoder.noises.noise0" in message
    assert "final_linear.bias (7,)" in message
