"""WIPA: wavelet-based restoration of old prints, a weight-free restorer named by the seed article.

No published method matches the article's description (a 2022 face super-resolution network shares
the name with another meaning); facert implements it as described, as a torch module exported to ONNX
(``facert.export.families.wipa.net``): fading corrected on the wavelet approximation band (per-channel
black points, shared gain), thin bright or dark scratches located from the detail of the 1/2 and 1/4
scale approximations and filled from coarser levels, and grain removed by cycle-spun per-band
BayesShrink soft thresholding with noise estimated per level from the diagonal bands.

An old print is faded, scratched and grainy everywhere, not only on its faces: the three steps run on
the whole photo first (the frame stage, ``frame.onnx``, in 768-pixel tiles with the fading
statistics taken from the whole photo; :mod:`facert.stages.restore.frame`), the faces are detected on that
result, and the face graph adds a second scratch pass at the face's magnified scale, with ``fade``
and ``denoise`` 0 (done on the whole photo; a second grain pass lowered the faces' SSIM, measured).
Graph version 2: the frame stage, and the fading correction's gain limit keeping the white point.
"""

from facert.models.registry import FrameStage, ModelOption, ModelSpec, register

WIPA = register(
    ModelSpec(
        name="wipa",
        family="wipa",
        role="restorer",
        summary="Wavelet restoration (weight-free; denoise, scratch fill, fading correction)",
        licence="Apache-2.0 (facert's own algorithm, no weights)",
        input_size=512,
        color_order="RGB",
        input_range=(0.0, 1.0),
        output_range=(0.0, 1.0),
        crop_border="reflect101",  # no weights trained on a grey border: mirror the frame
        options=(
            ModelOption(
                "denoise",
                1.5,
                0.0,
                4.0,
                "multiplier of the per-band BayesShrink thresholds (0 keeps the grain)",
            ),
            ModelOption("scratch", 1.0, 0.0, 1.0, "strength of scratch filling (0 disables)"),
            ModelOption("fade", 1.0, 0.0, 1.0, "strength of fading correction (0 disables)"),
            ModelOption(
                "scratch_width",
                1.0,
                0.25,
                4.0,
                "expected scratch width in photo pixels (picks the detection scale)",
                photo_pixels=True,
            ),
        ),
        onnx_files=("model.onnx", "frame.onnx"),
        frame_stage=FrameStage(
            graph="frame.onnx", tile=768, margin=64, face_off=("fade", "denoise")
        ),
        exporter="wipa",
        graph_version=2,
        # --backend auto keeps ONNX Runtime FP32: per 512 face, 2 threads (AMD EPYC, 2026-12-05),
        # ORT 289 ms, OpenVINO FP32 261 ms (within noise), OpenVINO BF16 still compiling after 60 s;
        # no learned weights for INT8 to quantize.
        cpu_plans=(("ort", "fp32"),),
        notes=(
            "a face magnified s times into the crop carries grain and scratches s crop pixels wide; "
            "noise is estimated per wavelet level and scratch_width follows the magnification",
            "the whole photo is restored first (fading, scratches, grain), then the faces get a "
            "second scratch pass at their scale; fading assumes the darkest parts are neutral",
        ),
    )
)
