import pytest

torch = pytest.importorskip("torch")

from facert.export.harness.fill import deterministic_state_dict, fill_value  # noqa: E402


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


def test_equalized_fill_gives_the_run_time_values() -> None:
    from facert.export.families.gpen.layers import blur_kernel
    from facert.export.families.gpen.net import GPEN, GPENConfig
    from facert.export.harness.fill import equalized_state_dict

    model = GPEN(GPENConfig(out_size=16, style_dim=16, num_mlp=2, narrow=1 / 32))
    state = equalized_state_dict(model)
    plain = deterministic_state_dict(model)
    assert set(state) == set(plain)
    for key in ("ecd1.0.1.weight", "generator.convs.0.conv.weight", "final_linear.0.weight"):
        module = model.get_submodule(key.rsplit(".", 1)[0])
        # stored x run-time scale == the fill (float32 rounding: a few ulps)
        assert torch.allclose(state[key] * module.scale, plain[key], rtol=1e-6, atol=0)
    style = model.generator.style[1]
    assert style.lr_mul == 0.01
    assert torch.allclose(state["generator.style.1.bias"] * 0.01, plain["generator.style.1.bias"])
    assert torch.equal(state["ecd1.0.0.kernel"], blur_kernel())  # true kernels, not the fill's
    assert torch.equal(state["generator.to_rgbs.0.upsample.kernel"], blur_kernel(4.0))
    for key in ("generator.input.input", "generator.conv1.noise.weight", "ecd0.0.1.bias"):
        assert torch.equal(state[key], plain[key])  # no run-time scale: the fill as it is
