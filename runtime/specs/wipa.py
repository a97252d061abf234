"""WIPA: wavelet-based restoration, a weight-free restorer named by the seed article.

No published method matches the article's description (a 2022 face super-resolution network shares
the name with another meaning); facert implements it as described: multi-level 2-D wavelet
decomposition, noise removed by per-band soft thresholding, scratches located in the detail bands and
filled from coarser levels, fading corrected on the approximation band.
"""

from facert.registry import ModelOption, ModelSpec, register

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
        options=(
            ModelOption("denoise", 1.0, 0.0, 4.0, "threshold multiplier on the estimated noise"),
            ModelOption("scratch", 1.0, 0.0, 1.0, "strength of scratch filling (0 disables)"),
            ModelOption("fade", 1.0, 0.0, 1.0, "strength of fading correction (0 disables)"),
        ),
        exporter="facert.export.restorers.wipa:export_wipa",
    )
)
