"""ISPL: iterative sparse progressive restoration, a weight-free restorer named by the seed article.

No published method matches the article's description; facert implements it as described, as a torch
module exported to ONNX (``facert.export.families.ispl.net``): coarse to fine over a 3-level image
pyramid, a fixed number of monotone FISTA iterations per level on
``0.5 * ||k * x - y||^2 + sum_j lambda_j * ||W_j x||_1`` (k a Gaussian blur of the given width, W the
orthonormal sym4 wavelet, so the proximal step is soft thresholding; ``lambda_j = lam`` times the
noise estimated on wavelet level j), each level starting from the upsampled result of the one below.

Around the graph the runtime makes it do no harm to faces that need no correction:

* the blur width is estimated on each face (:mod:`facert.stages.restore.blur`, photo pixels; 0 for a sharp face, so
  nothing is deconvolved) unless ``--option blur_sigma=X`` gives it; the runtime multiplies it by each
  face's magnification into the crop (a 1.5 px blur on a face magnified 3x is 4.5 crop pixels);
* JPEG blocking is removed around the faces first when the photo shows JPEG quantisation
  (:mod:`facert.stages.restore.jpeg`), so block edges are neither deconvolved nor taken for detail;
* only the correction (restored - input crop) is pasted into the photo (:mod:`facert.stages.restore.correction`).
"""

from facert.models.registry import ModelOption, ModelSpec, register

ISPL = register(
    ModelSpec(
        name="ispl",
        family="ispl",
        role="restorer",
        summary="Iterative sparse progressive restoration (weight-free; deblock, deblur, denoise)",
        licence="Apache-2.0 (facert's own algorithm, no weights)",
        input_size=512,
        color_order="RGB",
        input_range=(0.0, 1.0),
        output_range=(0.0, 1.0),
        crop_border="reflect101",  # no weights trained on a grey border: mirror the frame
        paste="correction",
        deblock_jpeg=True,
        options=(
            ModelOption(
                "blur_sigma",
                1.0,  # what the export checks run with; at run time the default is the estimate
                0.0,
                8.0,
                "Gaussian blur std in photo pixels; default auto: estimated per face (0 when "
                "sharp); 0 turns deblurring off; capped at 10.7 crop pixels",
                photo_pixels=True,
                estimated=True,
            ),
            ModelOption(
                "lam",
                0.25,
                0.0,
                4.0,
                "sparsity weight lambda, in units of the noise estimated per wavelet level",
            ),
        ),
        exporter="ispl",
        # --backend auto keeps ONNX Runtime FP32: per 512 face, 2 threads (AMD EPYC, 2026-12-05),
        # ORT 545 ms, OpenVINO FP32 1050 ms, OpenVINO BF16 768 ms and off by up to 0.2 of the
        # output range; no learned weights for INT8 to quantize.
        cpu_plans=(("ort", "fp32"),),
        notes=(
            "blur_sigma defaults to a per-face estimate (0 on a sharp face); "
            "JPEG blocking is removed around the faces first; only the correction is pasted",
        ),
    )
)
