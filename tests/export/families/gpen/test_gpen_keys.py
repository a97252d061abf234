"""GPEN-BFR 256/512/1024: our FullGenerator has exactly the official checkpoints' keys and shapes.

keys_512.txt is copied from shared/reference/state-dict-keys.md (## gpen_bfr_512); keys_256.txt and
keys_1024.txt were written from the official FullGenerator built on the meta device (README.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from testdata import GOLDEN_DATA  # noqa: E402

from facert.errors import WeightsError  # noqa: E402
from facert.export.families.gpen.net import GPEN, OFFICIAL_CONFIGS, GPENConfig, load_gpen  # noqa: E402
from facert.export.harness.checkpoint import load_state_dict  # noqa: E402
from facert.export.harness.fill import deterministic_state_dict  # noqa: E402
from facert.models.registry import get_spec  # noqa: E402

GPEN_DATA = GOLDEN_DATA / "gpen"
TINY = GPENConfig(out_size=16, style_dim=16, num_mlp=2, channel_multiplier=1, narrow=1 / 32)


def _official_keys(size: int) -> list[tuple[str, tuple[int, ...], str]]:
    rows = []
    for line in (GPEN_DATA / f"keys_{size}.txt").read_text().splitlines():
        key, shape, dtype = line.split("\t")
        rows.append((key, tuple(int(d) for d in shape.strip("()").split(",") if d.strip()), dtype))
    return rows


@pytest.mark.parametrize("size", sorted(OFFICIAL_CONFIGS))
def test_full_size_module_has_the_official_keys_and_shapes(size: int) -> None:
    with torch.device("meta"):
        model = GPEN(OFFICIAL_CONFIGS[size])
    ours = [
        (key, tuple(value.shape), str(value.dtype).removeprefix("torch."))
        for key, value in model.state_dict().items()
    ]
    assert ours == _official_keys(size)  # same keys, shapes, dtypes and order


def test_key_counts_and_sizes_of_the_three_checkpoints() -> None:
    counts = {size: len(_official_keys(size)) for size in OFFICIAL_CONFIGS}
    # Each level adds 2 styled convs (5 + 6 keys), a to-RGB (5) and an encoder conv (3): 19.
    assert counts == {256: 144, 512: 163, 1024: 182}
    elements = {
        size: sum(torch.Size(shape).numel() for _, shape, _ in _official_keys(size))
        for size in OFFICIAL_CONFIGS
    }
    # state-dict-keys.md: 71,005,559 elements for 512. The published file sizes (75,573,183 and
    # 284,085,738 bytes) are these counts x 4 bytes plus under 0.1% of pickle framing.
    assert elements[512] == 71_005_559
    assert 0 < 75_573_183 - 4 * elements[256] < 0.001 * 75_573_183
    assert 0 < 284_085_738 - 4 * elements[512] < 0.001 * 284_085_738


def test_a_plain_state_dict_file_loads_strictly(tmp_path: Path) -> None:
    state = deterministic_state_dict(GPEN(TINY))
    path = tmp_path / "GPEN-BFR-tiny.pth"
    torch.save(state, path)  # GPEN's files are the state dict itself (FaceGAN: key None)
    weight = get_spec("gpen-bfr-512").weights[0]
    model = load_gpen(load_state_dict(path, weight), TINY, path)
    loaded = model.state_dict()
    assert all(torch.equal(loaded[key], value) for key, value in state.items())


def test_a_wrong_checkpoint_fails_in_one_line_naming_the_file(tmp_path: Path) -> None:
    state = deterministic_state_dict(GPEN(TINY))
    del state["generator.to_rgbs.1.upsample.kernel"]
    state["ecd0.0.0.weight"] = torch.zeros(1, 3, 1, 1)
    path = tmp_path / "broken.pth"
    with pytest.raises(WeightsError) as caught:
        load_gpen(state, TINY, path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    assert "1 missing: generator.to_rgbs.1.upsample.kernel" in message
    assert "1 wrong shape: ecd0.0.0.weight (1, 3, 1, 1)" in message
