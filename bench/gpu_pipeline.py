"""The GPU frame pipeline's part of `make gpu-check` (bench/gpu_check.py): the whole pipeline at
1920x1080 with 1, 4 and 8 faces, frames per second, per-stage times, and its output against the
CPU pipeline's on the same frame.

    python3 bench/gpu_pipeline.py [--rounds 10]   # on a GPU; "not run: ..." elsewhere
    python3 bench/gpu_pipeline.py --host          # the same code on the CPU (HostOps)

- Frames: a smooth synthetic background with 1, 4 or 8 heads tiled on it, cut from real photos
  (matplotlib's grace_hopper.jpg, scikit-image's astronaut.png) at about 250 px; the faces MTCNN
  finds in them are reported (CPU and GPU).
- GPU (``gpu_run``): :class:`facert.pipeline.gpu_frame.GpuPipeline` on :class:`CudaOps` with
  MTCNN's networks on torch (:mod:`facert.pipeline.gpu_detect_torch`, the cache's MTCNN weights)
  and GFPGAN v1.4 at 512 px on the torch backend (FP16, CUDA graphs) holding the deterministic
  fill (compute does not depend on the values; bench/learned_models.py). Timings: per stage the
  median over ``rounds`` frames of the CUDA-event times (after 2 warm-ups); frames per second from
  the median wall time of ``enhance`` (host copy in and out included).
- Accuracy: the CPU pipeline (:class:`facert.pipeline.frame.Pipeline`: MTCNN on ONNX Runtime,
  the same GFPGAN module in FP32 on the CPU through the torch backend's test device) on the same
  frame: the same faces, and PSNR over the faces' paste boxes (target >= 40 dB).
- ``--host`` (``host_run``): the same bench with :class:`HostOps` and the kernel header compiled
  for the host (tests/kernel_host.py), ONNX Runtime engines and the tiny GFPGAN of the tests: the
  pipeline's host-side cost and the CPU kernels' (information; not a GPU number).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FACE_COUNTS = (1, 4, 8)
WIDTH, HEIGHT = 1920, 1080
PSNR_TARGET = 40.0


def heads() -> list[np.ndarray]:
    """Two real heads (BGR), each about 250 px tall with its hair and shoulders."""
    import matplotlib
    import skimage

    grace = cv2.imread(
        str(Path(matplotlib.__file__).parent / "mpl-data/sample_data/grace_hopper.jpg")
    )
    astronaut = cv2.imread(str(Path(skimage.__file__).parent / "data/astronaut.png"))
    crops = [grace[60:440, 90:440], astronaut[0:260, 120:330]]
    return [
        cv2.resize(c, (c.shape[1] * 250 // c.shape[0], 250), interpolation=cv2.INTER_AREA)
        for c in crops
    ]


def synthetic_frame(count: int) -> np.ndarray:
    """(1080, 1920, 3) uint8 BGR: a smooth gradient with ``count`` heads on a 4 x 2 grid."""
    x = np.linspace(0, 1, WIDTH, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 1, HEIGHT, dtype=np.float32)[:, None, None]
    frame = (np.array([90, 120, 150], np.float32) * (0.6 + 0.4 * x) * (0.7 + 0.3 * y)).astype(
        np.uint8
    )
    frame = np.broadcast_to(frame, (HEIGHT, WIDTH, 3)).copy()
    cells = [(col, row) for row in range(2) for col in range(4)]
    order = [5, 0, 3, 6, 1, 2, 4, 7]  # one face: near the centre; then spread out
    for index in range(count):
        col, row = cells[order[index]]
        head = heads()[index % 2]
        top = row * 540 + (540 - head.shape[0]) // 2
        left = col * 480 + (480 - head.shape[1]) // 2
        frame[top : top + head.shape[0], left : left + head.shape[1]] = head
    return frame


def timed(gpu: Any, frame: np.ndarray, rounds: int) -> dict[str, Any]:
    """Frames per second and per-stage medians (ms) over ``rounds`` frames after 2 warm-ups."""
    walls, stages = [], {}
    for index in range(2 + rounds):
        start = time.perf_counter()
        result = gpu.enhance(frame)
        wall = time.perf_counter() - start
        if index >= 2:
            walls.append(wall)
            for name, seconds in result.timings.items():
                stages.setdefault(name, []).append(seconds * 1000)
    median = statistics.median(walls)
    return {
        "fps": round(1 / median, 2),
        "ms per frame": round(median * 1000, 2),
        "stages ms": {name: round(statistics.median(v), 3) for name, v in stages.items()},
    }


def bench(gpu: Any, cpu: Any, rounds: int) -> dict[str, Any]:
    """Per face count: the times, the faces found by each pipeline, and the PSNR against the CPU."""
    from facert.demo.metrics import around_boxes, psnr

    results: dict[str, Any] = {}
    for count in FACE_COUNTS:
        frame = synthetic_frame(count)
        row = timed(gpu, frame, rounds)
        ours, theirs = gpu.enhance(frame), cpu.enhance(frame)
        mask = around_boxes([face.box for face in theirs.faces], frame.shape)
        value = psnr(ours.image[mask], theirs.image[mask]) if mask.any() else float("inf")
        row["faces found (gpu, cpu)"] = [len(ours.faces), len(theirs.faces)]
        row["psnr vs cpu pipeline db"] = round(value, 2)
        row["psnr target"] = f">= {PSNR_TARGET:g} dB: " + (
            "met" if value >= PSNR_TARGET else "NOT met"
        )
        results[f"{count} faces"] = row
    return results


def not_run() -> str | None:
    """Why the GPU bench cannot run here, or None."""
    from facert.backends.cuda import driver_status

    status = driver_status()
    if not status.present:
        return f"not run: {status.summary()}"
    try:
        from facert.backends.torch_gpu import torch_unavailable
    except ImportError:
        return "not run: this facert has no torch backend (facert.backends.torch_gpu)"
    why = torch_unavailable()
    return None if why is None else f"not run: {why}"


def gpu_run(rounds: int, cache_dir: Path) -> dict[str, Any]:
    """The GPU bench (module doc), or {"gpu pipeline": "not run: ..."}."""
    why = not_run()
    if why is not None:
        return {"gpu pipeline": why}
    from facert.models.registry import get_spec
    from facert.models.weights import cached_weights

    if not cached_weights(get_spec("mtcnn"), cache_dir):
        return {
            "gpu pipeline": f"not run: no MTCNN weights in {cache_dir} (`facert models fetch mtcnn`, or carry a cache)"
        }
    with tempfile.TemporaryDirectory(prefix="facert-gpu-pipeline-") as scratch:
        gpu, cpu = _gpu_pipelines(Path(scratch), cache_dir)
        try:
            results = bench(gpu, cpu, rounds)
        finally:
            gpu.close()
            cpu.close()
    from facert.backends.cuda import driver_status

    results["device"] = driver_status().summary()
    results["restorer"] = (
        "gfpgan-1.4 fill weights, torch backend fp16 cuda graphs; detector torch fp32"
    )
    return results


def _gpu_pipelines(scratch: Path, cache_dir: Path) -> tuple[Any, Any]:
    sys.path[:0] = [str(ROOT / "bench")]
    from learned_models import BY_LABEL, checkpoint_path, faithful_module, write_checkpoint

    from facert.backends.base import Lifecycle
    from facert.backends.torch_forms import ModuleSource
    from facert.backends.torch_gpu import TorchEngine
    from facert.models.artifacts import Artifact
    from facert.models.exporting import ensure_artifact
    from facert.models.registry import get_spec
    from facert.pipeline.cuda_ops import CudaOps
    from facert.pipeline.frame import Pipeline
    from facert.pipeline.gpu_detect import GpuMtcnn
    from facert.pipeline.gpu_detect_torch import torch_nets
    from facert.pipeline.gpu_frame import GpuPipeline
    from facert.stages.detect.mtcnn import MtcnnDetector
    from facert.stages.restore.restorer import Restorer

    model = BY_LABEL["gfpgan"]
    checkpoint = checkpoint_path(model, scratch)
    write_checkpoint(model, faithful_module(model), checkpoint)
    spec = get_spec("gfpgan-1.4")
    source = ModuleSource(spec, checkpoint, label=str(checkpoint))
    artifact = Artifact(spec, scratch, {"files": {}})
    ops = CudaOps(0, cache_dir)
    fast = TorchEngine(source, precision="fp16", cuda_graphs=True)
    gpu = GpuPipeline(ops, GpuMtcnn(torch_nets(cache_dir), ops), Restorer(artifact, fast))
    reference = TorchEngine(source, precision="fp32", device="cpu")
    detector = MtcnnDetector.from_artifact(ensure_artifact(get_spec("mtcnn"), cache_dir))
    cpu = Pipeline(detector, Restorer(artifact, reference))
    Lifecycle.open(cpu)
    try:
        Lifecycle.open(gpu)
    except BaseException:
        cpu.close()
        raise
    return gpu, cpu


def host_run(rounds: int, cache_dir: Path) -> dict[str, Any]:
    """The same bench on the CPU: HostOps, the host-compiled kernels, ORT engines, tiny GFPGAN."""
    sys.path[:0] = [str(ROOT / "tests")]
    from kernel_host import HostKernels
    from tiny_families import tiny_artifact

    from facert.backends import engine_for
    from facert.backends.base import Lifecycle
    from facert.models.exporting import ensure_artifact
    from facert.models.registry import get_spec
    from facert.pipeline.bound import HostBound
    from facert.pipeline.device_ops import HostOps
    from facert.pipeline.frame import Pipeline
    from facert.pipeline.gpu_detect import GpuMtcnn
    from facert.pipeline.gpu_frame import GpuPipeline
    from facert.stages.detect.mtcnn import NETWORKS, MtcnnDetector
    from facert.stages.restore.restorer import Restorer

    mtcnn = ensure_artifact(get_spec("mtcnn"), cache_dir)
    with tempfile.TemporaryDirectory(prefix="facert-host-pipeline-") as scratch:
        tiny = tiny_artifact("gfpgan", Path(scratch) / "gfpgan")
        ops = HostOps(HostKernels())
        nets = {n: HostBound(engine_for(mtcnn.path(f"{n}.onnx")), ops, n) for n in NETWORKS}
        engine = HostBound(engine_for(tiny.path(tiny.spec.onnx_files[0])), ops, "restorer")
        gpu = GpuPipeline(ops, GpuMtcnn(nets, ops), Restorer(tiny, engine))
        cpu = Pipeline(MtcnnDetector.from_artifact(mtcnn), Restorer.from_artifact(tiny))
        with Lifecycle.open(gpu), Lifecycle.open(cpu):
            results = bench(gpu, cpu, rounds)
    results["device"] = "the CPU (HostOps, kernel header compiled for the host): not a GPU number"
    results["restorer"] = "tiny gfpgan (32 px, tests/tiny_families.py), ONNX Runtime"
    return results


def main() -> int:
    from facert.config import load_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--host", action="store_true", help="run on the CPU with HostOps")
    args = parser.parse_args()
    cache = load_settings().cache_dir
    results = host_run(args.rounds, cache) if args.host else gpu_run(args.rounds, cache)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
