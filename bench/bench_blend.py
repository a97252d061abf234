"""Paste-back speed: facert.blend.paste_faces against facexlib's paste_faces_to_input_image.

One 1920x1080 frame, one 512x512 restored face placed at crop scale ``--scale`` (1: the face's crop
square spans 512 frame pixels), rotated 10 degrees. Both sides get the same upscaled background
(facexlib takes it as ``upsample_img``; at the same size its resize is a copy), so both times cover
the paste alone: the warps, the masks and the blend. Runs alternate between the contenders; it
prints the median and the minimum of ``--runs`` runs of each and their ratios (on a shared machine
the minimum is the better estimate of the work itself).

The reference is facexlib itself when it imports, else ``bench/naive_blend.py`` (the same algorithm
over the full frame, bit-identical to facexlib 0.3.0 on our golden data). facexlib runs in a
scratch environment outside the repository, with facert installed into it:

    python3 -m venv /work/scratch/<you>/venv
    echo /work/scratch/refenv/lib/python3.11/site-packages \
        > /work/scratch/<you>/venv/lib/python3.11/site-packages/refenv.pth   # torch, cv2, numpy...
    /work/scratch/<you>/venv/bin/pip install --no-deps facexlib==0.3.0
    /work/scratch/<you>/venv/bin/pip install --no-deps -e .
    /work/scratch/<you>/venv/bin/python bench/bench_blend.py

(Without refenv: ``pip install torch torchvision opencv-python-headless numpy scipy`` first.)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from facert.align import estimate_affine, face_template, warp_crop
from facert.blend import paste_faces

FRAME_SIZE = (1920, 1080)  # width, height
FACE_SIZE = 512


def make_frame() -> np.ndarray:
    """A deterministic textured 1080p frame: (1080, 1920, 3) uint8 BGR."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (FRAME_SIZE[1] // 8, FRAME_SIZE[0] // 8, 3), dtype=np.uint8)
    return cv2.resize(small, FRAME_SIZE, interpolation=cv2.INTER_CUBIC)


def face_landmarks(scale: float) -> np.ndarray:
    """Template landmarks rotated 10 degrees, at ``scale`` crop px per frame px, frame-centred."""
    angle = np.deg2rad(10.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    template = face_template(FACE_SIZE).astype(np.float64)
    centre = np.array([FRAME_SIZE[0] / 2, FRAME_SIZE[1] / 2])
    return (template - FACE_SIZE / 2) @ rotation.T / scale + centre


def interleaved_times(
    functions: dict[str, Callable[[], object]], runs: int
) -> dict[str, tuple[float, float]]:
    """(median, min) milliseconds of each function, run in turn so load hits all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for function in functions.values():
        function()  # warm-up: first-call costs, scratch arrays
    for _ in range(runs):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: (1000 * statistics.median(v), 1000 * min(v)) for name, v in times.items()}


def facexlib_paste(
    frame: np.ndarray, landmarks: np.ndarray, upscale: float
) -> Callable[[], object] | None:
    """facexlib's helper, primed with the face, as a call that pastes; None without facexlib."""
    try:
        import facexlib.utils.face_restoration_helper as helper_module
    except ImportError:
        return None
    helper_module.init_detection_model = lambda *args, **kwargs: None  # landmarks are given
    helper_module.init_parsing_model = lambda *args, **kwargs: None
    helper = helper_module.FaceRestoreHelper(upscale, face_size=FACE_SIZE, device="cpu")
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


def main() -> None:
    parser = argparse.ArgumentParser(description="paste-back: facert vs facexlib")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--upscale", type=float, default=1.0)
    parser.add_argument("--scale", type=float, default=1.0, help="crop px per frame px")
    args = parser.parse_args()
    frame = make_frame()
    landmarks = face_landmarks(args.scale)
    affine = estimate_affine(landmarks, face_template(FACE_SIZE))
    face = warp_crop(frame, affine, FACE_SIZE)
    background = upscaled(frame, args.upscale)
    in_place = background.copy()

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from naive_blend import paste_faces_full_frame

    functions: dict[str, Callable[[], object]] = {}
    reference = facexlib_paste(frame, landmarks, args.upscale)
    if reference is not None:
        functions["facexlib paste_faces_to_input_image"] = reference
    functions["naive full-frame (bench/naive_blend.py)"] = lambda: paste_faces_full_frame(
        background, [face], [affine], args.upscale
    )
    functions["facert paste_faces"] = lambda: paste_faces(
        background, [face], [affine], args.upscale
    )
    functions["facert paste_faces, out=background"] = lambda: paste_faces(
        in_place, [face], [affine], args.upscale, out=in_place
    )
    results = interleaved_times(functions, args.runs)
    height, width = background.shape[:2]
    print(
        f"frame {width}x{height} (upscale {args.upscale}), one {FACE_SIZE} face at crop scale "
        f"{args.scale}, OpenCV threads {cv2.getNumThreads()}, median of {args.runs} interleaved runs"
    )
    for name, (median, fastest) in results.items():
        print(f"{name}: median {median:.2f} ms, min {fastest:.2f} ms")
    reference_name = next(iter(results))
    reference, ours = results[reference_name], results["facert paste_faces"]
    print(
        f"speed-up vs {reference_name}: {reference[0] / ours[0]:.1f}x (medians), "
        f"{reference[1] / ours[1]:.1f}x (mins)"
    )


if __name__ == "__main__":
    main()
