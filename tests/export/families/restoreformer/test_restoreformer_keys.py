"""RestoreFormer(++): module keys and shapes, the registry specs, and reading the official layouts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from restoreformer_support import GOLDEN, config_for, filled_state  # noqa: E402

from facert.errors import WeightsError  # noqa: E402
from facert.export.families.restoreformer.export import (  # noqa: E402
    build_restoreformer,
    build_restoreformer_export,
    restoreformer_state_dict,
    variant_config,
)
from facert.export.precision.policy import FP32  # noqa: E402
from facert.models.registry import get_spec  # noqa: E402

KEY_FILES = {"restoreformer": "keys_v1.txt", "restoreformer-pp": "keys_pp.txt"}


@pytest.mark.parametrize("variant", sorted(KEY_FILES))
@pytest.mark.parametrize("export_form", [False, True])
def test_full_size_keys_and_shapes_match_the_official_listing(
    variant: str, export_form: bool
) -> None:
    """Built on the meta device: exactly the official keys, shapes, dtypes, in registration order."""
    model = build_restoreformer(variant_config(variant), export_form, device="meta")
    ours = [
        (name, str(tuple(t.shape)), str(t.dtype).removeprefix("torch."))
        for name, t in model.state_dict().items()
    ]
    lines = (GOLDEN / KEY_FILES[variant]).read_text().splitlines()
    assert ours == [tuple(line.split("\t")) for line in lines]


def test_parameter_counts() -> None:
    # The counts models.md reports for the official classes.
    for variant, count in (("restoreformer", 72_680_003), ("restoreformer-pp", 73_472_579)):
        model = build_restoreformer(variant_config(variant), True, device="meta")
        assert sum(p.numel() for p in model.parameters()) == count


def test_specs() -> None:
    for name in ("restoreformer", "restoreformer-pp"):
        spec = get_spec(name)
        assert spec.family == "restoreformer" and spec.role == "restorer"
        assert spec.input_size == 512 and spec.color_order == "RGB"
        assert spec.input_range == (-1.0, 1.0) and spec.output_range == (-1.0, 1.0)
        assert len(spec.weights) == 1 and spec.precision_policy and spec.batches
        assert spec.onnx_files == ("model.onnx", "model.fp16.onnx")
        assert spec.exporter == "restoreformer"
    assert get_spec("restoreformer-pp").weights[0].strip_prefix == "vqvae."
    assert get_spec("restoreformer").weights[0].state_dict_keys == ("params_ema", "params")


def _small_state() -> dict[str, torch.Tensor]:
    return filled_state(config_for("restoreformer-pp", "small"))


@pytest.mark.parametrize(
    ("variant", "wrap"),
    [
        ("restoreformer-pp", lambda sd: {"state_dict": {"vqvae." + k: v for k, v in sd.items()}}),
        ("restoreformer", lambda sd: {"params_ema": sd}),  # GFPGAN's RestoreFormer.pth
        ("restoreformer", lambda sd: {"params": sd}),
        ("restoreformer", lambda sd: {"state_dict": {"vqvae." + k: v for k, v in sd.items()}}),
    ],
)
def test_official_layouts_load_strictly(
    tmp_path: Path, variant: str, wrap: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    """Each official file layout unwraps to the network's keys; training extras are dropped."""
    state = _small_state()
    content = wrap(state)
    if "state_dict" in content:
        content["state_dict"]["loss.discriminator.weight"] = torch.zeros(2)
        content["global_step"] = 100
    torch.save(content, tmp_path / "weights.ckpt")
    loaded = restoreformer_state_dict(tmp_path / "weights.ckpt", variant)
    assert set(loaded) == set(state)
    model = build_restoreformer_export(loaded, FP32, config_for("restoreformer-pp", "small"))
    assert torch.equal(model.quantize.embedding.weight, state["quantize.embedding.weight"])


def test_wrong_files_fail_in_one_line_naming_the_file(tmp_path: Path) -> None:
    state = dict(_small_state())
    torch.save({"params_ema": state}, tmp_path / "v1.pth")
    with pytest.raises(WeightsError, match=r"v1\.pth: none of the keys \['state_dict'\]"):
        restoreformer_state_dict(tmp_path / "v1.pth", "restoreformer-pp")
    del state["decoder.conv_out.bias"]
    small = config_for("restoreformer-pp", "small")
    with pytest.raises(WeightsError, match=r"x\.pth: keys do not match .*1 missing") as info:
        build_restoreformer_export(state, FP32, small, source=Path("x.pth"))
    assert "\n" not in str(info.value)
