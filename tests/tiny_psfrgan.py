"""A tiny PSFR-GAN (32 px, deterministic fill in the official layouts) exported through its real
exporter, as the runtime sees an export: the export tests and the runtime tests share it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from tiny_export import FACES
from torch_state import one_thread

from facert.export.families.psfrgan.exporter import PSFRGANExporter
from facert.export.families.psfrgan.generator import GeneratorConfig, PSFRGenerator
from facert.export.families.psfrgan.parsenet import ParseNet, ParseNetConfig
from facert.export.harness.fill import deterministic_state_dict, spectral_state_dict
from facert.io.files import sha256_of
from facert.models.artifacts import Artifact
from facert.models.registry import ModelSpec, get_spec

TINY_G = GeneratorConfig(out_size=32, ch_range=(8, 16))
TINY_P = ParseNetConfig(
    in_size=32, out_size=32, min_feat_size=16, base_ch=8, res_depth=1, ch_range=(8, 16)
)


def tiny_spec() -> ModelSpec:
    return dataclasses.replace(get_spec("psfrgan"), input_size=TINY_G.out_size)


def tiny_files(folder: Path) -> list[Path]:
    """The generator and ParseNet files (plain state dicts), in the spec's order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / weight.filename for weight in get_spec("psfrgan").weights]
    torch.save(spectral_state_dict(PSFRGenerator(TINY_G)), paths[0])
    torch.save(deterministic_state_dict(ParseNet(TINY_P)), paths[1])
    return paths


def tiny_export(folder: Path) -> tuple[Artifact, dict]:
    """The tiny PSFR-GAN exported into ``folder`` beside its files; (artifact, export facts)."""
    spec, sources = tiny_spec(), tiny_files(folder)
    with one_thread():
        facts = PSFRGANExporter(TINY_P, TINY_G, faces=FACES)(spec, sources, folder)
    files = {
        f: {"sha256": sha256_of(folder / f)} for f in spec.onnx_files if (folder / f).is_file()
    }
    return Artifact(spec, folder, {"files": files, "parity": facts.get("parity")}), facts
