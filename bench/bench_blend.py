"""Paste-back speed: facert.stages.blend.paste.paste_faces against facexlib's paste_faces_to_input_image.

One 1920x1080 frame, one 512x512 restored face rotated 10 degrees, in three scenarios by default:
crop scale 1 (the crop square spans 512 frame pixels) and 2 (256 pixels) at upscale 1, and crop
scale 1 at upscale 2 (a 3840x2160 background). ``--edge`` moves the face onto the frame's left edge
(the box path). Both sides get the same upscaled background (facexlib takes it as
``upsample_img``; at the same size its resize is a copy), so both times cover the paste alone:
warps, masks and blend. Runs alternate between the contenders; it prints the median and the minimum
of ``--runs`` runs of each, the ratios, the load average before and after (``os.getloadavg``), and
which path facert took.

``--mask parse`` rows (facexlib's ``use_parse=True``; :mod:`facert.stages.blend.parse`) time the
parse path's two parts apart: ParseNet on one 512 face (facert: ``parsenet.onnx`` on ONNX Runtime
FP32; facexlib: its PyTorch ParseNet), once per run; and per scenario the mask (argmax of the
logits, colour map, two 101 x 101 blurs, border) and the paste under it (facert's ``paste_faces``
with ``masks=``; facexlib's paste with its ParseNet replaced by the precomputed logits, so only
its mask and paste are timed). ParseNet's time does not depend on its weights: without
``parsenet.onnx`` in ``--parsenet DIR`` the bench exports deterministic ones there (torch needed).

The reference is facexlib itself when it imports, else ``bench/naive_blend.py`` (the same algorithm
over the full frame, bit-identical to facexlib 0.3.0 on our golden data). facexlib runs in a scratch
environment outside the repository, with facert installed into it (see bench/README.md):

    /work/scratch/<you>/venv/bin/python bench/bench_blend.py --runs 20 [--parsenet DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from facert.backends import engine_for
from facert.backends.device import SHOWN_FLAGS, cpu_description, split_flags
from facert.models.registry import get_spec
from facert.stages.align.warp import estimate_affine, face_template, warp_crop
from facert.stages.blend.parse import FaceParser, parse_inputs, soft_mask
from facert.stages.blend.paste import paste_faces, paste_path

FRAME_SIZE = (1920, 1080)  # width, height
FACE_SIZE = 512
SCENARIOS = [(1.0, 1.0), (2.0, 1.0), (1.0, 2.0)]  # (crop scale, upscale)


def make_frame() -> np.ndarray:
    """A deterministic textured 1080p frame: (1080, 1920, 3) uint8 BGR."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (FRAME_SIZE[1] // 8, FRAME_SIZE[0] // 8, 3), dtype=np.uint8)
    return cv2.resize(small, FRAME_SIZE, interpolation=cv2.INTER_CUBIC)


def face_landmarks(scale: float, edge: bool = False) -> np.ndarray:
    """Template landmarks rotated 10 degrees, at ``scale`` crop px per frame px: (5, 2) frame px.

    Centred in the frame, or (``edge``) with the face's centre 100 frame pixels from its left edge.
    """
    angle = np.deg2rad(10.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    template = face_template(FACE_SIZE).astype(np.float64)
    centre = np.array([100.0 if edge else FRAME_SIZE[0] / 2, FRAME_SIZE[1] / 2])
    return (template - FACE_SIZE / 2) @ rotation.T / scale + centre


def interleaved_times(
    functions: dict[str, Callable[[], object]], runs: int
) -> dict[str, tuple[float, float]]:
    """(median, min) milliseconds of each function, run in turn so load hits all of them alike.

    Before each timed call the CPU caches are flushed (64 MB written, untimed), as a restoration
    network running between two pastes would: no contender finds another's data in cache.
    """
    flush = np.zeros(64 << 20, dtype=np.uint8)
    times: dict[str, list[float]] = {name: [] for name in functions}
    for function in functions.values():
        function()  # warm-up: first-call costs, scratch arrays
    for _ in range(runs):
        for name, function in functions.items():
            np.add(flush, 1, out=flush)
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: (1000 * statistics.median(v), 1000 * min(v)) for name, v in times.items()}


def facexlib_paste(
    frame: np.ndarray, landmarks: np.ndarray, upscale: float, logits: np.ndarray | None = None
) -> Callable[[], object] | None:
    """facexlib's helper, primed with the face, as a call that pastes; None without facexlib.

    With ``logits`` ((19, 512, 512) float32) it pastes with ``use_parse=True``, its ParseNet
    replaced by them: the mask and the paste alone are timed.
    """
    try:
        import facexlib.utils.face_restoration_helper as helper_module
        import torch
    except ImportError:
        return None
    parsed = None if logits is None else (torch.from_numpy(logits[None]), None)
    helper_module.init_detection_model = lambda *args, **kwargs: None  # landmarks are given
    helper_module.init_parsing_model = lambda *args, **kwargs: lambda image: parsed
    helper = helper_module.FaceRestoreHelper(
        upscale, face_size=FACE_SIZE, use_parse=logits is not None, device="cpu"
    )
    helper.read_image(frame)
    helper.all_landmarks_5 = [landmarks]
    helper.align_warp_face()
    helper.add_restored_face(helper.cropped_faces[0])
    background = upscaled(frame, upscale)

    def paste() -> object:
        helper.inverse_affine_matrices = []  # paste adds its offset to these in place
        helper.get_inverse_affine()
        return helper.paste_faces_to_input_image(upsample_img=background)

    return paste


def upscaled(frame: np.ndarray, upscale: float) -> np.ndarray:
    size = (int(frame.shape[1] * upscale), int(frame.shape[0] * upscale))
    return cv2.resize(frame, size, interpolation=cv2.INTER_LANCZOS4)


def parse_rows(
    frame: np.ndarray, landmarks: np.ndarray, upscale: float, logits: np.ndarray
) -> dict[str, Callable[[], object]]:
    """The parse path's per-scenario contenders: facexlib's mask + paste, facert's mask, and
    facert's paste under it (in place, as the pipeline pastes)."""
    affine = estimate_affine(landmarks, face_template(FACE_SIZE))
    face = warp_crop(frame, affine, FACE_SIZE)
    in_place = upscaled(frame, upscale)
    mask = soft_mask(logits.argmax(axis=0), FACE_SIZE)
    functions: dict[str, Callable[[], object]] = {}
    reference = facexlib_paste(frame, landmarks, upscale, logits)
    if reference is not None:
        functions["facexlib use_parse mask + paste (ParseNet excluded)"] = reference
    functions["facert parse mask (argmax + soft_mask)"] = lambda: soft_mask(
        logits.argmax(axis=0), FACE_SIZE
    )
    functions["facert paste_faces masks= (out=background)"] = lambda: paste_faces(
        in_place, [face], [affine], upscale, out=in_place, masks=[mask]
    )
    return functions


def parsenet_logits(folder: Path, frame: np.ndarray, runs: int) -> np.ndarray:
    """Time ParseNet on one face (facert's export; facexlib's PyTorch ParseNet when it imports),
    print the times, and return facert's logits: (19, 512, 512) float32."""
    graph = folder / "parsenet.onnx"
    if not graph.is_file():
        export_deterministic_parsenet(folder)
    face = warp_crop(frame, estimate_affine(face_landmarks(1.0), face_template(FACE_SIZE)), 512)
    with FaceParser(get_spec("parsenet"), engine_for(graph, threads=0)) as parser:
        functions: dict[str, Callable[[], object]] = {
            "facert ParseNet (parsenet.onnx, ONNX Runtime FP32)": lambda: parser.engine.run(
                {"image": parse_inputs(face[None])}
            )
        }
        reference = facexlib_parsenet(face)
        if reference is not None:
            functions["facexlib ParseNet (PyTorch FP32)"] = reference
        results = interleaved_times(functions, runs)
        logits = next(iter(parser.engine.run({"image": parse_inputs(face[None])}).values()))
    print(f"\n== ParseNet on one 512 face, {runs} interleaved runs, load {_load(os.getloadavg())}")
    for name, (median, fastest) in results.items():
        print(f"  {name}: median {median:.0f} ms, min {fastest:.0f} ms")
    return np.asarray(logits[0], dtype=np.float32)


def facexlib_parsenet(face: np.ndarray) -> Callable[[], object] | None:
    """facexlib's ParseNet (deterministic weights) on ``face`` as a call; None without facexlib."""
    try:
        import torch
        from facexlib.parsing.parsenet import ParseNet

        from facert.export.harness.fill import fill_deterministic
    except ImportError:
        return None
    model = fill_deterministic(ParseNet(in_size=512, out_size=512, parsing_ch=19)).eval()
    image = torch.from_numpy(parse_inputs(face[None]))

    def run() -> object:
        with torch.no_grad():
            return model(image)[0]

    return run


def export_deterministic_parsenet(folder: Path) -> None:
    """``folder/parsenet.onnx`` from deterministic weights (facert's exporter, one check face)."""
    import torch

    from facert.export.families.psfrgan.parsenet import ParseNet
    from facert.export.families.psfrgan.parser_export import ParseNetExporter
    from facert.export.harness.fill import deterministic_state_dict
    from facert.models.check_faces import default_faces

    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "parsing_parsenet.pth"
    torch.save(deterministic_state_dict(ParseNet()), source)
    ParseNetExporter(faces=default_faces()[:1])(get_spec("parsenet"), [source], folder)


def run_scenario(
    frame: np.ndarray,
    scale: float,
    upscale: float,
    runs: int,
    edge: bool,
    logits: np.ndarray | None = None,
) -> None:
    """Time the contenders on one scenario (with the parse path's when ``logits`` are given:
    ParseNet's output for one face) and print the results."""
    landmarks = face_landmarks(scale, edge)
    affine = estimate_affine(landmarks, face_template(FACE_SIZE))
    face = warp_crop(frame, affine, FACE_SIZE)
    background = upscaled(frame, upscale)
    in_place = background.copy()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from naive_blend import paste_faces_full_frame

    functions: dict[str, Callable[[], object]] = {}
    reference = facexlib_paste(frame, landmarks, upscale)
    if reference is not None:
        functions["facexlib paste_faces_to_input_image"] = reference
    functions["naive full-frame (bench/naive_blend.py)"] = lambda: paste_faces_full_frame(
        background, [face], [affine], upscale
    )
    functions["facert paste_faces (new array)"] = lambda: paste_faces(
        background, [face], [affine], upscale
    )
    functions["facert paste_faces (out=background)"] = lambda: paste_faces(
        in_place, [face], [affine], upscale, out=in_place
    )
    if logits is not None:
        functions.update(parse_rows(frame, landmarks, upscale, logits))
    load_before = os.getloadavg()
    results = interleaved_times(functions, runs)
    load_after = os.getloadavg()
    height, width = background.shape[:2]
    path = paste_path(affine, FACE_SIZE, upscale, background.shape)
    where = " on the left edge" if edge else ""
    print(
        f"\n== frame {width}x{height} (upscale {upscale}), one {FACE_SIZE} face at crop scale "
        f"{scale}{where}: facert's {path} path"
    )
    print(
        f"{runs} interleaved runs, OpenCV threads {cv2.getNumThreads()}, load average (1/5/15 min) "
        f"before {_load(load_before)}, after {_load(load_after)}"
    )
    for name, (median, fastest) in results.items():
        print(f"  {name}: median {median:.2f} ms, min {fastest:.2f} ms")
    reference_name = next(iter(results))
    for name in ("facert paste_faces (new array)", "facert paste_faces (out=background)"):
        ratio_median = results[reference_name][0] / results[name][0]
        ratio_min = results[reference_name][1] / results[name][1]
        print(
            f"  speed-up of {name} vs {reference_name}: "
            f"{ratio_median:.1f}x (medians), {ratio_min:.1f}x (mins)"
        )


def _load(load: tuple[float, float, float]) -> str:
    return "/".join(f"{value:.2f}" for value in load)


def main() -> None:
    parser = argparse.ArgumentParser(description="paste-back: facert vs facexlib")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--scale", type=float, help="one scenario: crop px per frame px")
    parser.add_argument("--upscale", type=float, default=1.0, help="with --scale")
    parser.add_argument("--edge", action="store_true", help="the face on the frame's left edge")
    parser.add_argument(
        "--parsenet",
        type=Path,
        metavar="DIR",
        help="time the parse path too, with DIR/parsenet.onnx (exported there if absent)",
    )
    parser.add_argument("--parse-runs", type=int, default=3, help="ParseNet runs (3)")
    args = parser.parse_args()
    has, lacks = split_flags(SHOWN_FLAGS)
    print(f"CPU: {cpu_description()}; flags: {' '.join(has)}; absent: {' '.join(lacks) or '-'}")
    frame = make_frame()
    logits = None
    if args.parsenet is not None:
        logits = parsenet_logits(args.parsenet, frame, args.parse_runs)
    scenarios = SCENARIOS if args.scale is None else [(args.scale, args.upscale)]
    for scale, upscale in scenarios:
        run_scenario(frame, scale, upscale, args.runs, args.edge, logits)


if __name__ == "__main__":
    main()
