"""Checkpoint loading: the spec's key picks the state dict; wrong files fail in one line that names
the file and the difference."""

import dataclasses
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from facert.errors import WeightsError  # noqa: E402
from facert.export.harness.checkpoint import load_state_dict, load_strict  # noqa: E402
from facert.models.registry import WeightFile  # noqa: E402

WEIGHT = WeightFile(
    "x.pth", "0" * 64, "https://example.invalid/x.pth", state_dict_keys=("params_ema", "params")
)


def _module() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Conv2d(4, 2, 1))


def _states() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Two state dicts of the same module with different values (as params_ema and params are)."""
    torch.manual_seed(0)
    return dict(_module().state_dict()), dict(_module().state_dict())


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_unwraps_the_first_present_key_in_the_specs_order(tmp_path: Path) -> None:
    ema, plain = _states()
    assert not _same(ema, plain)
    path = tmp_path / "x.pth"
    torch.save({"params": plain, "params_ema": ema, "optimizer": {}}, path)
    assert _same(load_state_dict(path, WEIGHT), ema)  # params_ema first, wherever it is stored
    reversed_order = dataclasses.replace(WEIGHT, state_dict_keys=("params", "params_ema"))
    assert _same(load_state_dict(path, reversed_order), plain)
    torch.save({"params": plain}, path)  # the second key when the first is absent
    state = load_state_dict(path, WEIGHT)
    assert _same(state, plain)
    load_strict(_module(), state, path)


def test_without_keys_the_file_is_the_state_dict(tmp_path: Path) -> None:
    ema, _ = _states()
    torch.save(ema, tmp_path / "x.pth")
    plain_file = dataclasses.replace(WEIGHT, state_dict_keys=())
    assert _same(load_state_dict(tmp_path / "x.pth", plain_file), ema)
    with pytest.raises(WeightsError, match=r"none of the keys \['params_ema', 'params'\]"):
        load_state_dict(tmp_path / "x.pth", WEIGHT)  # a bare state dict lacks the spec's keys


def test_missing_key_is_named(tmp_path: Path) -> None:
    torch.save({"state_dict": {}}, tmp_path / "x.pth")
    with pytest.raises(WeightsError, match=r"x\.pth.*none of the keys"):
        load_state_dict(tmp_path / "x.pth", WEIGHT)


def test_shape_and_key_differences_are_named(tmp_path: Path) -> None:
    state = dict(_module().state_dict())
    state["1.weight"] = torch.zeros(3, 4, 1, 1)
    del state["1.bias"]
    state["extra"] = torch.zeros(1)
    with pytest.raises(WeightsError) as info:
        load_strict(_module(), state, tmp_path / "x.pth")
    message = str(info.value)
    assert "1 missing: 1.bias" in message and "1 unexpected: extra" in message
    assert "1.weight (3, 4, 1, 1) (expected (2, 4, 1, 1))" in message and "\n" not in message


@pytest.mark.parametrize(
    "content", [b"", b"not a checkpoint at all", b"junk\n", b"PK\x03\x04broken zip"]
)
def test_garbage_files_fail_in_one_line(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "x.pth").write_bytes(content)
    with pytest.raises(WeightsError, match=r"x\.pth: not a loadable torch checkpoint") as info:
        load_state_dict(tmp_path / "x.pth", WEIGHT)
    assert "\n" not in str(info.value)


def test_pickled_code_is_refused(tmp_path: Path) -> None:
    """weights_only=True: a pickle that would run code on load is refused, not executed."""
    import pickle

    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (Path.touch, (tmp_path / "pwned",))

    with open(tmp_path / "x.pth", "wb") as f:
        pickle.dump({"params": Evil()}, f)
    with pytest.raises(WeightsError):
        load_state_dict(tmp_path / "x.pth", WEIGHT)
    assert not (tmp_path / "pwned").exists()
