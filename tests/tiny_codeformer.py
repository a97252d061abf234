"""A tiny CodeFormer registered like an official model, for end-to-end CLI tests of learned restorers.

``tiny_spec`` is the codeformer spec at 32 px whose pinned sha256 is the tiny checkpoint's and whose
exporter is ``export_tiny``: the same harness (``export_learned``) with the tiny configuration.
Run as a script, this file is the facert CLI with that model registered (for tests that read the
CLI's own stderr in a separate process): ``python tests/tiny_codeformer.py ... --weights FILE ...``.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from pinned_spec import pinned_spec
from tiny_export import FACES

from facert.export import exporters
from facert.export.exporters import Exporter, register_exporter
from facert.export.families.codeformer.export import build_codeformer_export
from facert.export.families.codeformer.net import CodeFormer
from facert.export.harness.fill import deterministic_state_dict
from facert.export.harness.source_check import LearnedExporter
from facert.models import registry
from facert.models.registry import ModelSpec, get_spec

NAME = "codeformer-tiny-test"

# 32 px, 8x8 latent, 16 codes, fusion at every generator resolution.
TINY: dict[str, Any] = dict(
    dim_embd=32,
    n_head=2,
    n_layers=1,
    codebook_size=16,
    latent_size=64,
    connect_list=("8", "16", "32"),
    img_size=32,
    nf=32,
    ch_mult=(1, 2, 2),
    emb_dim=32,
)


# Multiplies the generator's first convolution (weight and bias): its output peaks at 4.3 with the
# fill on the check faces (measured), 4.3e5 multiplied, past float16's 65504, while its weights
# (at most 0.29, 2.9e4 multiplied) still fit float16. The rest of the network is the same: the next
# GroupNorms renormalise, so FP32 still restores the face; a float16 build overflows (inf, then NaN).
OVERFLOW_SCALE = 1e5


def overflowing(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with the generator's first convolution multiplied by OVERFLOW_SCALE."""
    first = "generator.blocks.0."
    return {k: v * OVERFLOW_SCALE if k.startswith(first) else v for k, v in state.items()}


def write_checkpoint(path: Path, overflow: bool = False) -> Path:
    """The tiny network's deterministic fill, saved in the official file layout (``params_ema``);
    with ``overflow``, made to overflow float16 (:func:`overflowing`)."""
    state = deterministic_state_dict(CodeFormer(**TINY))
    torch.save({"params_ema": overflowing(state) if overflow else state}, path)
    return path


def write_finetuned_checkpoint(path: Path, seed: int = 1, change: float = 0.05) -> Path:
    """Other values in the same layout, as a fine-tune re-saved by the official class would be:
    every floating tensor of the fill scaled by (1 + ``change`` x a seeded normal draw).

    (The class's default initialisation exports too since CodeFormer's code selection is pinned in
    float32 (graph version 3); before, it could fail the FP16 check: seed 3, 26.9 dB.)"""
    generator = torch.Generator().manual_seed(seed)
    state = {
        key: value * (1 + change * torch.randn(value.shape, generator=generator))
        if value.is_floating_point()
        else value
        for key, value in deterministic_state_dict(CodeFormer(**TINY)).items()
    }
    torch.save({"params_ema": state}, path)
    return path


def tiny_spec(checkpoint: Path) -> ModelSpec:
    return pinned_spec(
        "codeformer",
        checkpoint,
        weight={"url": ""},
        name=NAME,
        input_size=TINY["img_size"],
        exporter=NAME,  # export_tiny, registered below
    )


# The faces its export checks: the repository's aligned faces (tiny_export.FACES, as the other
# tiny exports; no ../shared needed). With graph version 2 this 16-code fill failed the FP16 check
# on the shared crop 0143.png (32.0 dB at w = 0.5: the float16 encoder flipped near-tied codes);
# with the code selection pinned it passes the harness's default faces too (71-80 dB, measured).
export_tiny = LearnedExporter(
    lambda spec: functools.partial(build_codeformer_export, **TINY), faces=FACES
)
# Under the spec's name, once per process (importing this module, or running it as a script).
register_exporter(NAME, export_tiny)


def register_for_test(
    monkeypatch: pytest.MonkeyPatch, checkpoint: Path, exporter: Exporter = export_tiny
) -> ModelSpec:
    """The tiny spec of ``checkpoint``, registered with ``exporter`` under its name for one test
    (``monkeypatch`` undoes both)."""
    spec = tiny_spec(checkpoint)
    get_spec("codeformer")  # loads the registry before it is patched
    monkeypatch.setitem(registry._REGISTRY, spec.name, spec)
    monkeypatch.setitem(exporters._EXPORTERS, spec.exporter, exporter)
    return spec


def main(argv: list[str]) -> int:
    """``facert`` with the tiny model registered for the checkpoint that follows ``--weights``."""
    from facert.cli.main import main as facert

    spec = tiny_spec(Path(argv[argv.index("--weights") + 1]))
    get_spec("codeformer")  # loads the registry before it is patched
    registry._REGISTRY[spec.name] = spec
    return facert(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
