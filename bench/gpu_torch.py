"""The torch backend's part of `make gpu-check` (bench/gpu_check.py): GFPGAN v1.4 at 512 px through
:class:`facert.backends.torch_gpu.TorchEngine`, FP16 with CUDA graphs, against PyTorch eager FP32 of
the official-layout module, in the same run, on a GPU with PyTorch CUDA (no TensorRT, no
onnxruntime-gpu, no ONNX export needed).

    python3 bench/gpu_torch.py [--rounds 10]   # prints the JSON; "not run: no NVIDIA GPU..." here

- Weights: the deterministic fill (:mod:`facert.export.harness.fill`, bench/learned_models.py)
  written as a checkpoint in the official file layout (``params_ema``); compute does not depend on
  the values.
- ``torch fp16 cuda graphs``: the engine the runtime's ``--backend torch`` opens, built from that
  file by the spec's own family build (the export-form module, style modulations pinned in FP32),
  inputs written into its bound tensors on the GPU, timed over ``run_bound`` (replay + sync).
- ``torch eager fp32 (official layout)``: the faithful port (:class:`facert.export.families.gfpgan.
  net.GFPGAN`, official layout, ``randomize_noise=False``) holding the same tensors, float32, eager,
  no graphs, PyTorch's defaults (cuDNN benchmark off, TF32 convolutions as PyTorch allows them:
  reported).
- ms per face at batch 1/4/8 (median of ``rounds`` calls after 3 warm-ups, synchronized per call;
  inputs already on the GPU for both), the speedup per batch (target >= 8x), and the PSNR of the
  FP16 engine's outputs against the eager FP32 ones on the same faces (peak-to-peak of the spec).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

BATCHES = (1, 4, 8)
TARGET_SPEEDUP = 8.0
ROOT = Path(__file__).resolve().parents[1]


def not_run() -> str | None:
    """Why this bench cannot run here ("not run: no NVIDIA GPU: ..."), or None."""
    from facert.backends.cuda import driver_status

    status = driver_status()
    if not status.present:
        return f"not run: {status.summary()}"
    from facert.backends.torch_gpu import torch_unavailable

    why = torch_unavailable()
    return None if why is None else f"not run: {why}"


def fill_checkpoint(folder: Path) -> tuple[Any, Path]:
    """(the faithful GFPGAN holding the fill, float32 CPU; its checkpoint in the official layout)."""
    from learned_models import BY_LABEL, checkpoint_path, faithful_module, write_checkpoint

    model = BY_LABEL["gfpgan"]
    module = faithful_module(model)
    path = checkpoint_path(model, folder)
    write_checkpoint(model, module, path)
    return module, path


def torch_backend(rounds: int, batches: tuple[int, ...] = BATCHES) -> dict[str, Any]:
    """The rows described in the module doc, or {"torch backend": "not run ..."}."""
    why = not_run()
    if why is not None:
        return {"torch backend": why}
    import torch
    from gpu_bench import faces, median_ms

    from facert.backends.torch_forms import ModuleSource
    from facert.backends.torch_gpu import TorchEngine
    from facert.models.registry import get_spec

    spec = get_spec("gfpgan-1.4")
    with tempfile.TemporaryDirectory(prefix="facert-gpu-torch-") as scratch:
        faithful, checkpoint = fill_checkpoint(Path(scratch))
        source = ModuleSource(spec, checkpoint, label=str(checkpoint))
        engine = TorchEngine(source, precision="fp16", cuda_graphs=True).open()
    fast, slow, fp16_out, fp32_out = {}, {}, {}, {}
    try:
        for batch in batches:
            image = faces(batch)
            bound = engine.bind_inputs({"image": image.shape})
            bound["image"].copy_(torch.from_numpy(image))
            torch.cuda.synchronize()  # written before the engine's stream reads it
            run = functools.partial(engine.run_bound, None)  # replays and synchronizes
            fast[batch] = median_ms(run, lambda: None, rounds) / batch
            fp16_out[batch] = engine.run_bound(None)["restored"].cpu().numpy()
    finally:
        engine.close()
    module = faithful.cuda()
    for batch in batches:
        image = torch.from_numpy(faces(batch)).cuda()
        with torch.inference_mode():
            call = functools.partial(module, image)
            slow[batch] = median_ms(call, torch.cuda.synchronize, rounds) / batch
            fp32_out[batch] = module(image).float().cpu().numpy()
    del module
    torch.cuda.empty_cache()
    return report(spec, fast, slow, fp16_out, fp32_out)


def report(
    spec: Any,
    fast: dict[int, float],
    slow: dict[int, float],
    fp16_out: dict[int, np.ndarray],
    fp32_out: dict[int, np.ndarray],
) -> dict[str, Any]:
    import torch

    from facert.demo.metrics import psnr
    from facert.models.check_faces import peak_to_peak

    speedups = {batch: round(slow[batch] / fast[batch], 2) for batch in fast}
    quality = [
        psnr(ref, out, peak_to_peak(spec, ref))
        for batch in fp32_out
        for ref, out in zip(fp32_out[batch], fp16_out[batch], strict=True)
    ]
    finite = all(np.isfinite(out).all() for out in fp16_out.values())
    return {
        "torch fp16 cuda graphs": {b: round(ms, 3) for b, ms in fast.items()},
        "torch eager fp32 (official layout)": {b: round(ms, 3) for b, ms in slow.items()},
        "torch fp16 speedup over eager fp32": speedups,
        "torch speedup target": f">= {TARGET_SPEEDUP:g}x: "
        + ("met" if min(speedups.values()) >= TARGET_SPEEDUP else "not met at every batch"),
        "torch fp16 vs eager fp32 psnr db": {
            "min": round(min(quality), 2),
            "mean": round(float(np.mean(quality)), 2),
            "finite": finite,
        },
        "torch settings": {
            "version": torch.__version__,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "device": torch.cuda.get_device_name(0),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests")]
    print(json.dumps(torch_backend(args.rounds), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
