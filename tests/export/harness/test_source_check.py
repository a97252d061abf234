"""The check every learned export runs first: the checkpoint's keys and shapes against the network.

For every learned spec at full size, a state dict with the official checkpoint's keys and shapes
(tests/data/*/keys*.txt, the lists the key tests hold the ports to) passes the check its exporter
runs, and one renamed key or one wrong shape is refused naming it. The check builds on the meta
device: no weights are allocated, so it costs about the time the file takes to read.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from testdata import GOLDEN_DATA  # noqa: E402

from facert.errors import WeightsError  # noqa: E402
from facert.export.exporters import exporter_for  # noqa: E402
from facert.export.harness.source_check import LearnedExporter, check_state  # noqa: E402
from facert.models.registry import get_spec  # noqa: E402

KEY_LISTS = {
    "gfpgan-1.2": "gfpgan/keys.txt",
    "gfpgan-1.3": "gfpgan/keys.txt",
    "gfpgan-1.4": "gfpgan/keys.txt",
    "gpen-bfr-256": "gpen/keys_256.txt",
    "gpen-bfr-512": "gpen/keys_512.txt",
    "gpen-bfr-1024": "gpen/keys_1024.txt",
    "codeformer": "codeformer/keys.txt",
    "restoreformer": "restoreformer/keys_v1.txt",
    "restoreformer-pp": "restoreformer/keys_pp.txt",
}


def official_layout(name: str) -> dict[str, torch.Tensor]:
    """Tensors (meta device: shapes only) with the keys and shapes of the official checkpoint."""
    state = {}
    for line in (GOLDEN_DATA / KEY_LISTS[name]).read_text().splitlines():
        key, shape, dtype = line.split("\t")
        dims = tuple(int(d) for d in shape.strip("()").split(",") if d.strip())
        state[key] = torch.empty(dims, dtype=getattr(torch, dtype), device="meta")
    return state


@pytest.mark.parametrize("name", sorted(KEY_LISTS))
def test_the_official_layout_passes_and_one_difference_is_named(name: str) -> None:
    spec = get_spec(name)
    exporter = exporter_for(spec)
    assert isinstance(exporter, LearnedExporter)
    build = exporter.build_for(spec)
    state = official_layout(name)
    check_state(state, build)  # the official keys and shapes: accepted

    first, last = next(iter(state)), list(state)[-1]
    renamed = dict(state)
    renamed[f"{first}_renamed"] = renamed.pop(first)
    with pytest.raises(WeightsError, match=r"^f\.pth: keys do not match") as info:
        check_state(renamed, build, Path("f.pth"))
    assert f"1 missing: {first}; 1 unexpected: {first}_renamed" in str(info.value)

    reshaped = dict(state)
    shape = tuple(state[last].shape)
    reshaped[last] = torch.empty((shape[0] + 1, *shape[1:]), device="meta")
    with pytest.raises(WeightsError) as info:
        check_state(reshaped, build, Path("f.pth"))
    wrong = (shape[0] + 1, *shape[1:])
    assert f"1 wrong shape: {last} {wrong} (expected {shape})" in str(info.value)
    assert "\n" not in str(info.value)
