"""ISPL: iterative sparse progressive restoration, a weight-free restorer named by the seed article.

No published method matches the article's description; facert implements it as described: coarse to
fine over an image pyramid, a fixed number of FISTA iterations per level on
``0.5 * ||k * x - y||^2 + lambda * ||W x||_1`` (k a Gaussian blur, W an orthonormal wavelet).
"""

from facert.registry import ModelOption, ModelSpec, register

ISPL = register(
    ModelSpec(
        name="ispl",
        family="ispl",
        role="restorer",
        summary="Iterative sparse progressive restoration (weight-free; deblur + denoise)",
        licence="Apache-2.0 (facert's own algorithm, no weights)",
        input_size=512,
        color_order="RGB",
        input_range=(0.0, 1.0),
        output_range=(0.0, 1.0),
        options=(
            ModelOption(
                "blur_sigma",
                0.0,
                0.0,
                8.0,
                "Gaussian blur width in photo pixels; 0 estimates it from the face",
                photo_pixels=True,
            ),
            ModelOption("lam", 0.01, 0.0, 0.5, "sparsity weight lambda of the wavelet L1 term"),
        ),
        exporter="facert.export.restorers.ispl:export_ispl",
    )
)
