"""DFDNet in reduced precision: what pinning the dictionary step to FP32 costs and saves.

A dictionary score sums C x S x S products (204,800 at 256) and passes float16's 65,504; the
argmax over the scores picks one entry per part and scale (16 choices per face). Per face (the
export's check faces with their part boxes), against the FP32 export form:

- ``fp16 all``: nothing pinned, float16 storage emulated on CPU (weights rounded to float16, every
  op's result rounded: the FP16 graph's arithmetic, as the export's torch FP16 proof does);
- ``fp16 policy``: the spec's policy (the dictionary step in FP32), the same emulation;
- ``bf16 all`` / ``bf16 policy``: true bfloat16 in PyTorch on the CPU, nothing pinned / the
  dictionary step in FP32;
- with ``--export DIR`` (an export's model.onnx and model.fp16.onnx): OpenVINO BF16 with the FP16
  graph's pinned ops kept f32, each lowering (``whole``, ``islands``), against ONNX Runtime FP32,
  and ONNX Runtime on the FP16 graph: the run-time paths.

Prints PSNR (peak-to-peak 2, the output range), the argmax choices that differ from FP32, whether
anything overflowed float16 and the largest float16 value seen; the CPU's flags, the load.

    .venv/bin/python bench/dfdnet_precision.py [--count 2] [--export DIR] [--threads 2]

Measured 2026-12-05 (deterministic DFDNet files, K = 4): bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from dfdnet_files import deterministic_state

from facert.backends.device import cpu_flags
from facert.demo.metrics import psnr
from facert.export.families.dfdnet.dictionaries import deterministic_dictionaries
from facert.export.families.dfdnet.export import build_dfdnet_export
from facert.export.families.dfdnet.exporter import check_faces
from facert.export.families.dfdnet.precision import run_recording
from facert.export.precision.policy import (
    FP16_STAGED,
    Float16Monitor,
    Precision,
    round_weights_to_float16,
)
from facert.models.registry import get_spec

BF16_ALL = Precision("bf16-all", torch.bfloat16, torch.bfloat16)
BF16_POLICY = Precision("bf16-policy", torch.bfloat16, torch.float32)
SHOWN = ("avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni")


class CastInput(nn.Module):
    """``inner`` fed its image in ``dtype`` (the boxes stay float32), output float32."""

    def __init__(self, inner: nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        self.inner, self.dtype = inner, dtype

    def forward(self, image: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        return self.inner(image.to(self.dtype), boxes).float()


def report(
    label: str, reference: np.ndarray, output: np.ndarray, flips: np.ndarray | None = None
) -> str:
    """One line: the PSNR of each face and, where the run shows them, the argmax flips."""
    values = [psnr(r, o, 2.0) for r, o in zip(reference, output, strict=True)]
    shown = " ".join(f"{v:6.2f}" for v in values)
    chosen = "n/a (not an output of the graph)" if flips is None else flips.tolist()
    return f"  {label:22s} PSNR dB {shown}   argmax flips {chosen}"


def torch_variants(state: dict, dictionaries: dict, faces: np.ndarray, boxes: np.ndarray) -> None:
    started = time.perf_counter()
    reference, choices = run_recording(build_dfdnet_export(state, dictionaries), faces, boxes)
    print(f"  FP32 reference: {time.perf_counter() - started:.1f} s", flush=True)
    for label, pinned in (("fp16 all (emulated)", False), ("fp16 policy (emulated)", True)):
        module = build_dfdnet_export(state, dictionaries, precision=FP16_STAGED, pinned=pinned)
        monitor = Float16Monitor(emulate=True)
        started = time.perf_counter()
        output, chosen = run_recording(
            round_weights_to_float16(module), faces, boxes, "cpu", monitor
        )
        seconds = time.perf_counter() - started
        print(report(label, reference, output, (chosen != choices).sum(1)), flush=True)
        print(
            f"  {'':22s} overflow {monitor.overflowed}, peak float16 {monitor.peak:.4g}, "
            f"{seconds:.1f} s"
        )
    for label, precision in (("bf16 all", BF16_ALL), ("bf16 policy", BF16_POLICY)):
        module = build_dfdnet_export(
            state, dictionaries, precision=precision, pinned=precision is BF16_POLICY
        )
        started = time.perf_counter()
        output, chosen = run_recording(CastInput(module, torch.bfloat16), faces, boxes)
        seconds = time.perf_counter() - started
        print(report(label, reference, output, (chosen != choices).sum(1)) + f", {seconds:.1f} s")


def runtime_variants(folder: Path, faces: np.ndarray, boxes: np.ndarray) -> None:
    """ONNX Runtime FP16 and OpenVINO BF16 (both lowerings with the FP16 graph's pins, and the
    whole lowering without them: what the pins cost) against ONNX Runtime FP32, timed."""
    from facert.backends import engine_for
    from facert.backends.openvino import LOWERINGS, OpenVinoEngine, pinned_ops

    def timed(engine: object) -> tuple[np.ndarray, float]:
        with engine:  # type: ignore[attr-defined]
            started = time.perf_counter()
            rows = [
                engine.run({"image": faces[i : i + 1], "boxes": boxes[i : i + 1]})["restored"]  # type: ignore[attr-defined]
                for i in range(len(faces))
            ]
            return np.concatenate(rows), (time.perf_counter() - started) / len(faces)

    reference, seconds = timed(engine_for(folder / "model.onnx"))
    print(f"  ORT fp32 graph: {seconds:.2f} s per face")
    output, seconds = timed(engine_for(folder / "model.fp16.onnx"))
    print(report("ORT fp16 graph", reference, output) + f", {seconds:.2f} s per face")
    pins = pinned_ops(folder / "model.fp16.onnx")
    print(f"  {len(pins)} ops of the FP16 graph compute in float32")
    runs = [(f"OpenVINO bf16 {lowering}", pins, lowering) for lowering in LOWERINGS]
    for label, keep, lowering in [*runs, ("OpenVINO bf16 no pins", [], "whole")]:
        engine = OpenVinoEngine(
            folder / "model.onnx", precision="bf16", keep_f32=keep, lowering=lowering
        )
        output, seconds = timed(engine)
        print(report(label, reference, output) + f", {seconds:.2f} s per face")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2, help="check faces used (at most 4)")
    parser.add_argument("--export", type=Path, help="an export folder (runtime paths)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-torch", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    flags = set(cpu_flags())
    print("cpu flags:", " ".join(f for f in SHOWN if f in flags) or "none of " + ", ".join(SHOWN))
    print(f"load {os.getloadavg()[0]:.2f}, {args.threads} threads")
    faces, boxes, names = check_faces(get_spec("dfdnet"), [])
    faces, boxes, names = faces[: args.count], boxes[: args.count], names[: args.count]
    print("faces:", ", ".join(names), "(argmax flips: of 16 choices per face)")
    if not args.skip_torch:
        torch_variants(deterministic_state(True), deterministic_dictionaries(4), faces, boxes)
    if args.export is not None:
        runtime_variants(args.export, faces, boxes)
    print(f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
