"""Face detection time on 1080p and 4K frames, every detector, 2 CPU cores.

The frame: matplotlib's grace_hopper.jpg (512x600) scaled to the frame's height (cubic), centred on
a 16:9 canvas whose sides are filled by mirroring the photo (``BORDER_REFLECT_101``), so the whole
frame carries real texture and the mirrored copies add faces. Each detector runs with the same
minimum face (40 px by default) and ``--threads`` 2 (ONNX Runtime's intra-op threads; MTCNN runs
that many single-threaded sessions side by side, on bands of its pyramid and batches of crops);
YuNet beside the naive way, OpenCV's ``cv2.FaceDetectorYN`` on the whole frame (its own DNN, the
zoo's graph, same thresholds); RetinaFace beside facexlib's way, its network in PyTorch on the
whole frame (``detect_faces(use_origin_size=True)``: facert's port, which matches facexlib's to
1e-4, then the same NumPy decoding), ``--reference-runs`` times. Prints the median wall time of
``--runs`` runs (after 2 warm-up runs), the faces found, and the median time of each stage.

    .venv/bin/python bench/bench_detect.py [--runs 10] [--threads 2] [--min-face 40]
        [--detectors mtcnn yunet retinaface-mnet retinaface-r50] [--heights 1080 2160]
        [--reference-runs 2]

Needs the detectors' exports in the cache (`facert models export mtcnn`; YuNet: `facert models
fetch yunet` then export; skipped with a line when absent) and matplotlib (the demo extra). Without
facexlib's RetinaFace files in the cache, RetinaFace is timed on stand-in weights (export/harness/
fill.py, BatchNorm statistics calibrated on the frame as tests/golden/retinaface's recipe does,
exported into a temporary folder; needs the export extra): the same graph and cost, but the faces
it reports mean nothing, and the line says so.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import matplotlib
import numpy as np

from facert.backends.device import SHOWN_FLAGS, cpu_description, split_flags
from facert.config import load_settings
from facert.errors import FacertError
from facert.stages.detect import Detector, open_detector

STAND_IN = " (stand-in weights: time only)"


def benchmark_frame(height: int = 1080) -> np.ndarray:
    """(height, height * 16 / 9, 3) uint8 BGR: grace_hopper scaled to the height, sides mirrored."""
    path = Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg"
    photo = cv2.imread(str(path), cv2.IMREAD_COLOR)
    width = height * 16 // 9
    scaled = cv2.resize(
        photo, (round(photo.shape[1] * height / photo.shape[0]), height), cv2.INTER_CUBIC
    )
    left = (width - scaled.shape[1]) // 2
    right = width - scaled.shape[1] - left
    return cv2.copyMakeBorder(scaled, 0, 0, left, right, cv2.BORDER_REFLECT_101)


def timed(
    run: Callable[[dict[str, float]], int], runs: int, warmups: int = 2
) -> tuple[list[float], list[dict], int]:
    for _ in range(warmups):
        found = run({})
    totals, stages = [], []
    for _ in range(runs):
        timings: dict[str, float] = {}
        start = time.perf_counter()
        found = run(timings)
        totals.append(time.perf_counter() - start)
        stages.append(timings)
    return totals, stages, found


def report(label: str, totals: list[float], stages: list[dict], found: int) -> None:
    print(
        f"  {label:34s} {1e3 * statistics.median(totals):8.1f} ms  (min {1e3 * min(totals):.1f}, "
        f"max {1e3 * max(totals):.1f}), {found} faces"
    )
    for stage in stages[0]:
        values = [s.get(stage, 0.0) for s in stages]
        print(f"      {stage:30s} {1e3 * statistics.median(values):8.1f} ms")


def opencv_yunet(frame: np.ndarray, min_face: float, threads: int) -> Callable[[dict], int] | None:
    """cv2.FaceDetectorYN on the whole frame (the zoo's class defaults), or None without the file."""
    settings = load_settings()
    zoo = settings.cache_dir / "yunet" / "weights" / "face_detection_yunet_2023mar.onnx"
    if not zoo.is_file():
        return None
    cv2.setNumThreads(threads)
    height, width = frame.shape[:2]
    detector = cv2.FaceDetectorYN.create(str(zoo), "", (width, height), 0.6, 0.3, 5000)

    def run(_: dict) -> int:
        faces = detector.detect(frame)[1]
        return 0 if faces is None else int((faces[:, 2:4].max(axis=1) >= min_face).sum())

    return run


def stand_in_state(name: str, frame: np.ndarray) -> dict:
    """Deterministic weights for RetinaFace ``name`` (export/harness/fill.py) whose BatchNorm
    statistics are calibrated, as the golden recipe does, on one pass over a 320 px copy of
    ``frame``: activations then keep a trained network's scale, so about as few anchors pass the
    threshold as with real weights (the plain fill saturates ResNet-50: thousands of boxes)."""
    import torch

    from facert.export.families.retinaface.net import VARIANTS, RetinaFace
    from facert.export.harness.fill import deterministic_state_dict
    from facert.stages.detect.retinaface import network_input

    module = RetinaFace(VARIANTS[name])
    module.load_state_dict(deterministic_state_dict(module))
    small = cv2.resize(frame, (320, 320 * frame.shape[0] // frame.shape[1]), cv2.INTER_AREA)
    for norm in module.modules():
        if isinstance(norm, torch.nn.BatchNorm2d):
            norm.reset_running_stats()
            norm.momentum = None
    module.train()
    with torch.no_grad():
        module(torch.from_numpy(network_input(small, 1.0)))
    return module.state_dict()


def stand_in_retinaface(
    name: str, folder: Path, threads: int, min_face: float, frame: np.ndarray
) -> tuple[Detector, Path]:
    """RetinaFace ``name`` on :func:`stand_in_state` weights exported into ``folder``, not opened,
    and the checkpoint it was exported from."""
    import torch

    from facert.models.artifacts import check_artifact
    from facert.models.exporting import export
    from facert.models.registry import get_spec
    from facert.stages.detect.retinaface import RetinafaceDetector, RetinafaceOptions

    spec = get_spec(name)
    source = folder / spec.weights[0].filename
    if not source.is_file():
        torch.save(stand_in_state(name, frame), source)
    out = folder / f"{name}-onnx"
    if not (out / "manifest.json").is_file():
        export(spec, folder, weights=source, out_dir=out)
    options = RetinafaceOptions(min_face_size=min_face)
    artifact = check_artifact(spec, out)
    return RetinafaceDetector.from_artifact(artifact, options, threads=threads), source


def cached_weights_file(cache_dir: Path, name: str) -> Path:
    """The official file of RetinaFace ``name`` in the cache (where `facert models fetch` puts it)."""
    from facert.models.cache import weights_dir
    from facert.models.registry import get_spec

    spec = get_spec(name)
    return weights_dir(cache_dir, spec) / spec.weights[0].filename


def facexlib_way(name: str, source: Path, frame: np.ndarray, threads: int) -> Callable[[dict], int]:
    """RetinaFace as facexlib's detect_faces runs it: the network in PyTorch on the whole frame
    (facert's port of it), then anchors, decoding and suppression (facert's NumPy, the same)."""
    import torch

    from facert.export.families.retinaface.export import load_network
    from facert.models.registry import get_spec
    from facert.stages.detect.retinaface import network_input
    from facert.stages.detect.retinaface_boxes import decode, suppress

    torch.set_num_threads(threads)
    module = load_network(get_spec(name), source)

    def run(timings: dict) -> int:
        start = time.perf_counter()
        blob = torch.from_numpy(network_input(frame, 1.0))
        with torch.no_grad():
            outputs = [t.numpy() for t in module(blob)]
        ran = time.perf_counter()
        boxes, scores, _ = decode(*outputs, frame.shape[0], frame.shape[1], 0.97)
        kept = suppress(boxes, scores, 0.4)
        timings["torch_network"] = ran - start
        timings["numpy_decode"] = time.perf_counter() - ran
        return len(kept)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--min-face", type=float, default=40)
    parser.add_argument(
        "--detectors",
        nargs="+",
        default=["mtcnn", "yunet", "retinaface-mnet", "retinaface-r50"],
    )
    parser.add_argument("--heights", type=int, nargs="+", default=[1080, 2160])
    parser.add_argument("--reference-runs", type=int, default=2)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-detect-"))
    settings = dataclasses.replace(load_settings(), threads=args.threads)
    present, absent = split_flags(SHOWN_FLAGS)
    print(
        f"CPU: {cpu_description()}; flags: {' '.join(present)}; absent: {' '.join(absent) or '-'}"
    )
    print(f"min face {args.min_face:g} px, ORT threads {args.threads}, {args.runs} runs")
    for height in args.heights:
        frame = benchmark_frame(height)
        print(f"frame {frame.shape[1]}x{frame.shape[0]}")
        for name in args.detectors:
            label, source = name, None
            try:
                detector = open_detector(settings, name, min_face_size=args.min_face)
            except FacertError as error:
                if not name.startswith("retinaface"):
                    print(f"  {name}: skipped ({error})")
                    continue
                detector, source = stand_in_retinaface(
                    name, scratch, args.threads, args.min_face, frame
                )
                label += STAND_IN
            with detector:

                def run(
                    timings: dict, detector: Detector = detector, frame: np.ndarray = frame
                ) -> int:
                    return len(detector.detect(frame, timings))

                report(label, *timed(run, args.runs))
            if name == "yunet":
                naive = opencv_yunet(frame, args.min_face, args.threads)
                if naive is not None:
                    report("cv2.FaceDetectorYN, whole frame", *timed(naive, args.runs))
            if name.startswith("retinaface"):
                source = source or cached_weights_file(settings.cache_dir, name)
                whole = facexlib_way(name, source, frame, args.threads)
                tag = STAND_IN if label != name else ""
                label = f"facexlib's way, torch, whole frame{tag}"
                report(label, *timed(whole, args.reference_runs, warmups=1))
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
