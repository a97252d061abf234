"""PSFR-GAN: our ParseNet and PSFRGenerator have exactly the official networks' keys and shapes.

keys_parsenet.txt and keys_generator.txt were written from the official ``define_P`` and
``define_G(use_norm='spectral_norm')`` built on the meta device (tests/golden/psfrgan/README.md);
they equal shared/reference/state-dict-keys.md's psfrgan_parsenet_512 and psfrgan_G_spectralnorm.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from testdata import GOLDEN_DATA  # noqa: E402

from facert.errors import WeightsError  # noqa: E402
from facert.export.families.psfrgan.exporter import load_sources  # noqa: E402
from facert.export.families.psfrgan.generator import (  # noqa: E402
    GeneratorConfig,
    PSFRGenerator,
    load_generator,
)
from facert.export.families.psfrgan.parsenet import ParseNet, ParseNetConfig  # noqa: E402
from facert.export.harness.fill import deterministic_state_dict, spectral_state_dict  # noqa: E402
from facert.models.registry import get_spec  # noqa: E402

TINY_G = GeneratorConfig(out_size=32, ch_range=(8, 16))
TINY_P = ParseNetConfig(
    in_size=32, out_size=32, min_feat_size=16, base_ch=8, res_depth=1, ch_range=(8, 16)
)


def _official_keys(name: str) -> list[tuple[str, tuple[int, ...], str]]:
    rows = []
    for line in (GOLDEN_DATA / "psfrgan" / f"keys_{name}.txt").read_text().splitlines():
        key, shape, dtype = line.split("\t")
        rows.append((key, tuple(int(d) for d in shape.strip("()").split(",") if d.strip()), dtype))
    return rows


def _ours(module: torch.nn.Module) -> list[tuple[str, tuple[int, ...], str]]:
    return [
        (key, tuple(value.shape), str(value.dtype).removeprefix("torch."))
        for key, value in module.state_dict().items()
    ]


def test_full_size_modules_have_the_official_keys_and_shapes() -> None:
    with torch.device("meta"):
        generator, parsenet = PSFRGenerator(), ParseNet()
    assert _ours(generator) == _official_keys("generator")  # keys, shapes, dtypes and order
    assert _ours(parsenet) == _official_keys("parsenet")
    # state-dict-keys.md: 221 keys, 45,956,995 parameters; 238 keys, 21,303,254 parameters.
    assert len(_official_keys("generator")) == 221 and len(_official_keys("parsenet")) == 238
    assert sum(p.numel() for p in generator.parameters()) == 45_956_995
    assert sum(p.numel() for p in parsenet.parameters()) == 21_303_254


def test_every_generator_conv_is_spectral_normed() -> None:
    keys = [key for key, _, _ in _official_keys("generator")]
    origs = [k for k in keys if k.endswith(".weight_orig")]
    assert not [k for k in keys if k.endswith(".weight")]  # no plain conv weight anywhere
    for key in origs:
        stem = key.removesuffix("weight_orig")
        assert {f"{stem}weight_u", f"{stem}weight_v", f"{stem}bias"} <= set(keys)
    assert len(keys) == 1 + 4 * len(origs)  # const_input + 4 per conv


def _write(tmp_path: Path, generator: dict, parse: dict) -> list[Path]:
    paths = [tmp_path / "G.pth", tmp_path / "P.pth"]
    torch.save(generator, paths[0])  # plain state dicts, like the official files
    torch.save(parse, paths[1])
    return paths


def test_plain_state_dict_files_load_strictly(tmp_path: Path) -> None:
    generator = spectral_state_dict(PSFRGenerator(TINY_G))
    paths = _write(tmp_path, generator, deterministic_state_dict(ParseNet(TINY_P)))
    model = load_generator(torch.load(paths[0], weights_only=True), TINY_G, paths[0])
    assert all(torch.equal(model.state_dict()[k], v) for k, v in generator.items())


def test_a_wrong_file_fails_in_one_line_naming_it(tmp_path: Path) -> None:
    # A tiny generator is not the official one: refused, naming its file, before ParseNet's.
    generator = spectral_state_dict(PSFRGenerator(TINY_G))
    del generator["img_out.weight_u"]
    paths = _write(tmp_path, generator, deterministic_state_dict(ParseNet(TINY_P)))
    with pytest.raises(WeightsError) as caught:
        load_sources(get_spec("psfrgan"), paths)
    message = str(caught.value)
    assert "\n" not in message and str(paths[0]) in message
    assert "missing: img_out.weight_u" in message and "wrong shape: const_input" in message


def test_the_two_files_are_taken_in_the_specs_order() -> None:
    names = [weight.filename for weight in get_spec("psfrgan").weights]
    assert names == ["psfrgan_epoch15_net_G.pth", "parse_multi_iter_90000.pth"]
