"""``--backend`` and ``--precision``: the engine choice every front end offers (enhance now;
video, camera and serve as they land), and where its progress lines go."""

from __future__ import annotations

import argparse
import sys

from facert.backends.choice import BACKENDS, PRECISIONS


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="inference engine: ort (ONNX Runtime), openvino, trt (a TensorRT plan built by "
        "`facert models build`, NVIDIA GPU), ort-gpu (onnxruntime-gpu's CUDA provider), torch (the PyTorch "
        "module on CUDA: FP16, CUDA graphs), or auto "
        "(default: the fastest CPU engine on this machine that passes the accuracy gate, "
        "measured once per model; never slower than ONNX Runtime FP32)",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="fp32; fp16 (the export's FP16 graph: ONNX Runtime, or a GPU backend's default); bf16 (OpenVINO; fast on CPUs "
        "with AMX); int8 (statically quantized; ONNX Runtime or OpenVINO); auto (default: what "
        "--backend picks). BF16 and INT8 run only after passing the accuracy gate (>= 40 dB "
        "against FP32 on fixed check faces); a failing one is refused and FP32 is used",
    )


def report(line: str) -> None:
    """A progress line of building or choosing an engine, on stderr."""
    print(f"facert: {line}", file=sys.stderr, flush=True)
