"""DFDNet: our UNetDictFace has the official state dict's keys and shapes.

keys.txt was written from the OFFICIAL ``UNetDictFace(64)`` (csxmli2016/DFDNet branch ``whole``) by
tests/golden/dfdnet/recipe/make_golden.py; it equals shared/reference/state-dict-keys.md (## dfdnet),
order included.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from testdata import GOLDEN_DATA  # noqa: E402

from facert.errors import WeightsError  # noqa: E402
from facert.export.families.dfdnet.net import (  # noqa: E402
    UNUSED,
    UNUSED_PREFIXES,
    DFDNet,
    load_dfdnet,
    official_shapes,
)

KEYS = GOLDEN_DATA / "dfdnet" / "keys.txt"


def _official() -> dict[str, tuple[int, ...]]:
    rows = [line.split("\t") for line in KEYS.read_text().splitlines()]
    return {k: tuple(int(d) for d in s.strip("()").split(",") if d.strip()) for k, s, _ in rows}


def test_official_keys_and_shapes_are_ours_plus_the_unused_ones() -> None:
    official = _official()
    assert len(official) == 386
    assert sum(torch.Size(s).numel() for s in official.values()) == 260_428_041
    assert official_shapes() == official
    with torch.device("meta"):
        used = {k: tuple(v.shape) for k, v in DFDNet({}).state_dict().items()}
    # 316 used; unused: torchvision's VGG19 again (32 feature tensors, the same as
    # VggExtract.features.*, and the 6 classifier tensors, 123.6 M values) and the to_rgb0..3 heads.
    assert len(used) == 316 and len(UNUSED) == 70
    assert set(used) | set(UNUSED) == set(official) and not set(used) & set(UNUSED)
    assert all(k.startswith(UNUSED_PREFIXES) for k in UNUSED)
    classifier = [k for k in UNUSED if ".classifier." in k]
    assert sum(torch.Size(official[k]).numel() for k in classifier) == 123_642_856


def _meta_state() -> dict[str, torch.Tensor]:
    return {k: torch.empty(s, device="meta") for k, s in _official().items()}


def test_the_official_layout_loads_and_a_wrong_shape_is_refused_in_one_line() -> None:
    with torch.device("meta"):
        load_dfdnet(_meta_state(), {})  # every official key, unused ones dropped
        used_only = {k: v for k, v in _meta_state().items() if k not in UNUSED}
        load_dfdnet(used_only, {})  # the unused ones may be absent
        state = _meta_state()
        state["mo_64.2.weight_orig"] = torch.empty(512, 512, 1, 1, device="meta")
        with pytest.raises(WeightsError, match=r"wrong shape: mo_64\.2\.weight_orig") as error:
            load_dfdnet(state, {})
        assert "\n" not in str(error.value)
        state = _meta_state()
        state["to_rgb2.2.bias"] = torch.empty(4, device="meta")
        with pytest.raises(WeightsError, match="to_rgb2.2.bias"):
            load_dfdnet(state, {})
        del state["to_rgb2.2.bias"], state["up4.4.bias"]
        with pytest.raises(WeightsError, match=r"1 missing: up4\.4\.bias"):
            load_dfdnet(state, {})
