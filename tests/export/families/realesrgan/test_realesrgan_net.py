"""Real-ESRGAN's RRDBNet port: the official checkpoints' keys and shapes, and the official outputs.

keys_x2.txt and keys_x4.txt were written from the official BasicSR RRDBNet (Real-ESRGAN's
configuration) built on the meta device; golden.npz holds its outputs on a real photo (grace_hopper,
48x40) with deterministic weights (tests/golden/realesrgan/README.md).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from testdata import GOLDEN_DATA  # noqa: E402

from facert.errors import WeightsError  # noqa: E402
from facert.export.families.realesrgan.net import (  # noqa: E402
    RRDBConfig,
    RRDBNet,
    load_rrdbnet,
    pixel_unshuffle,
    unshuffle_kernel,
)
from facert.export.harness.fill import deterministic_state_dict  # noqa: E402

DATA = GOLDEN_DATA / "realesrgan"
# The outputs span about [-18, 50] (the fill's weights do not keep the scale of trained ones);
# float32 sums in another order differ by a few ulps of 50 (4e-6) per layer: 1e-4 over 118 convs.
PARITY = 1e-4


def official_keys(scale: int) -> list[tuple[str, tuple[int, ...], str]]:
    rows = []
    for line in (DATA / f"keys_x{scale}.txt").read_text().splitlines():
        key, shape, dtype = line.split("\t")
        rows.append((key, tuple(int(d) for d in shape.strip("()").split(",") if d.strip()), dtype))
    return rows


@pytest.mark.parametrize("scale", [2, 4])
def test_the_port_has_the_official_keys_shapes_and_order(scale: int) -> None:
    with torch.device("meta"):
        model = RRDBNet(RRDBConfig(scale=scale))
    ours = [
        (key, tuple(value.shape), str(value.dtype).removeprefix("torch."))
        for key, value in model.state_dict().items()
    ]
    assert ours == official_keys(scale)
    # 23 blocks x 3 dense blocks x 5 convs x 2 + 6 convs x 2; x2 reads 12 channels (unshuffled).
    assert len(ours) == 702 and dict((k, s) for k, s, _ in ours)["conv_first.weight"][1] == (
        12 if scale == 2 else 3
    )


def test_pixel_unshuffle_is_basicsrs_order() -> None:
    x = torch.arange(2 * 4 * 6, dtype=torch.float32).reshape(1, 2, 4, 6)
    out = pixel_unshuffle(x, 2)
    assert out.shape == (1, 8, 2, 3)
    # channel c * 4 + dy * 2 + dx holds pixel (2y + dy, 2x + dx) of channel c
    assert out[0, 1 * 4 + 1 * 2 + 0, 1, 2] == x[0, 1, 3, 4]
    assert torch.equal(out, torch.nn.functional.pixel_unshuffle(x, 2))
    as_conv = torch.nn.functional.conv2d(x, unshuffle_kernel(2, 2), stride=2, groups=2)
    assert torch.equal(as_conv, out)  # what the module runs: the same values exactly


def run_on_golden(config: RRDBConfig, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(ours, official) outputs on the golden photo with deterministic weights."""
    golden = np.load(DATA / "golden.npz")
    model = load_rrdbnet(deterministic_state_dict(RRDBNet(config)), config)
    with torch.no_grad():
        output = model(torch.from_numpy(golden["input"])).numpy()
    return output, golden[name]


@pytest.mark.parametrize("scale", [2, 4])
def test_the_port_reproduces_the_official_outputs(scale: int) -> None:
    """A reduced configuration (16 features, 2 blocks, growth 8: every layer kind) in the default
    suite; outputs span about [-0.85, 1.04] here."""
    config = RRDBConfig(scale=scale, num_feat=16, num_block=2, num_grow_ch=8)
    output, expected = run_on_golden(config, f"small_x{scale}_output")
    assert output.shape == expected.shape == (1, 3, 48 * scale, 40 * scale)
    assert np.abs(output - expected).max() <= PARITY


@pytest.mark.slow
@pytest.mark.parametrize("scale", [2, 4])
def test_the_full_port_reproduces_the_official_outputs(scale: int) -> None:
    """Real-ESRGAN's own configuration (about 30 s each on two loaded cores)."""
    output, expected = run_on_golden(RRDBConfig(scale=scale), f"x{scale}_output")
    assert output.shape == expected.shape
    assert np.abs(output - expected).max() <= PARITY


def test_a_wrong_checkpoint_is_one_line() -> None:
    with torch.device("meta"):
        state = RRDBNet(RRDBConfig(scale=4)).state_dict()
    with pytest.raises(WeightsError, match=r"not a Real-ESRGAN x2 RRDBNet checkpoint: shape of "):
        load_rrdbnet(state, RRDBConfig(scale=2))
    del state["conv_last.bias"]
    with pytest.raises(WeightsError, match=r"missing \['conv_last.bias'\]"):
        load_rrdbnet(state, RRDBConfig(scale=4))
