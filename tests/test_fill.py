import pytest

torch = pytest.importorskip("torch")

from facert.export.fill import deterministic_state_dict, fill_value  # noqa: E402


def test_same_key_same_values_other_key_other_values() -> None:
    a = fill_value("decoder.conv.weight", (8, 4, 3, 3), torch.float32)
    b = fill_value("decoder.conv.weight", (8, 4, 3, 3), torch.float32)
    c = fill_value("decoder.conv2.weight", (8, 4, 3, 3), torch.float32)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_rules_by_leaf_name() -> None:
    conv = fill_value("x.weight", (64, 32, 3, 3), torch.float64)
    # fan-in scaling keeps the std near 1/sqrt(32*9); 5% is ~5 sigma for 18k samples.
    assert abs(conv.std().item() * (32 * 9) ** 0.5 - 1.0) < 0.05
    assert (fill_value("bn.running_var", (100,), torch.float32) >= 1.0).all()
    assert fill_value("bn.num_batches_tracked", (), torch.int64).item() == 0
    norm = fill_value("norm.weight", (1000,), torch.float64)
    assert abs(norm.mean().item() - 1.0) < 0.02


def test_state_dict_covers_module() -> None:
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    state = deterministic_state_dict(module)
    assert set(state) == set(module.state_dict())
    module.load_state_dict(state, strict=True)
