"""PSFR-GAN in reduced precision: how often the one-hot flips, and what it costs the output.

The restorer graph takes the one-hot of ParseNet's per-pixel max over 19 classes; a logit gap below
the rounding of float16 (or bfloat16) flips a pixel's class, and the generator's SPADE maps with it.
With the deterministic fill (tests' weights; trained ones give other gaps) at 512, per face:

- ``fp16 all``: the export form with ParseNet NOT pinned (its weights rounded to float16, every op's
  result rounded to float16: the FP16 graph's arithmetic, emulated on CPU as the export's
  torch FP16 proof does);
- ``fp16 policy``: the spec's policy (ParseNet and the instance norms in FP32), the same emulation;
- ``bf16``: ParseNet in bfloat16 (weights and activations, PyTorch CPU), generator FP32.

Prints, per face, the pixels whose one-hot differs from FP32 and the PSNR of the output against the
FP32 path (peak-to-peak 2, the output range).

    .venv/bin/python bench/psfrgan_precision.py [--faces F.png ...] [--threads 2]

Measured 2026-12-05 (fill weights, 2 threads, load 12-15), pixels whose one-hot differs / PSNR:

    face              top-2 gap median  fp16 all          fp16 policy      bf16 ParseNet
    grace_hopper_512  5.12 (284 < 0.01)  653 px, 47.3 dB  0 px, 72.6 dB    5804 px, 37.7 dB
    astronaut_512     5.65 (283 < 0.01)  648 px, 47.5 dB  1 px, 71.7 dB    5374 px, 38.2 dB

A bfloat16 ParseNet misses the 40 dB gate; the policy (ParseNet FP32) holds 72 dB in FP16, and
OpenVINO's BF16 compilation keeps the same parts f32 (the FP16 graph's pins).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

from facert.demo.metrics import psnr
from facert.export.families.psfrgan.export import build_psfrgan_export, merged_state
from facert.export.families.psfrgan.generator import PSFRGenerator
from facert.export.families.psfrgan.parsenet import ParseNet
from facert.export.harness.fill import deterministic_state_dict, spectral_state_dict
from facert.export.precision.policy import (
    FP16_STAGED,
    FP32,
    Float16Monitor,
    round_weights_to_float16,
)
from facert.models.check_faces import load_faces
from facert.models.registry import get_spec

FACES = Path(__file__).resolve().parents[1] / "tests" / "data" / "faces"


def onehot(logits: torch.Tensor) -> torch.Tensor:
    return (logits == logits.amax(dim=1, keepdim=True)).float()


def emulated(module: torch.nn.Module, face: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(one-hot, output) of an FP16_STAGED module under float16-storage emulation."""
    seen: list[torch.Tensor] = []
    hook = module.generator.register_forward_pre_hook(lambda _, args: seen.append(args[1]))
    monitor = Float16Monitor(emulate=True)
    with torch.no_grad():
        monitor.graph_inputs(face)
        with monitor:
            out = module(face)
    hook.remove()
    return seen[0].float(), out.float()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", nargs="+", type=Path, default=[FACES / "grace_hopper_512.png"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    state = merged_state(deterministic_state_dict(ParseNet()), spectral_state_dict(PSFRGenerator()))
    reference = build_psfrgan_export(state, FP32)
    unpinned = round_weights_to_float16(build_psfrgan_export(state, FP16_STAGED))
    unpinned.parse.pinned_dtype = None
    unpinned.parse.to(torch.float32)
    policy = round_weights_to_float16(build_psfrgan_export(state, FP16_STAGED))
    bf16_parse = build_psfrgan_export(state, FP32).parse.to(torch.bfloat16)
    bf16_parse.pinned_dtype = None  # computes in the input's dtype: bfloat16
    faces, names = load_faces(get_spec("psfrgan"), args.faces, len(args.faces))
    print(f"load {os.getloadavg()[0]:.2f}; 512x512 = 262144 pixels per face")
    for face, name in zip(faces, names, strict=True):
        x = torch.from_numpy(face[None])
        with torch.no_grad():
            logits = reference.parse(x)
            truth = onehot(logits)
            expected = reference.generator(x, truth).numpy()
            top2 = logits.topk(2, dim=1).values
            gaps = (top2[:, 0] - top2[:, 1]).flatten()
            print(
                f"{name}: logit top-2 gap median {float(gaps.median()):.3g}, "
                f"{int((gaps < 1e-2).sum())} px below 0.01",
                flush=True,
            )
            for label, module in (("fp16 all", unpinned), ("fp16 policy", policy), ("bf16", None)):
                if module is None:
                    hot = onehot(bf16_parse(x.bfloat16()).float())
                    out = reference.generator(x, hot)
                else:
                    hot, out = emulated(module, x)
                flips = int((hot != truth).any(dim=1).sum())
                value = psnr(expected, out.numpy(), 2.0)
                print(
                    f"  {label:12s} one-hot differs at {flips:6d} px, PSNR {value:6.2f} dB",
                    flush=True,
                )


if __name__ == "__main__":
    main()
