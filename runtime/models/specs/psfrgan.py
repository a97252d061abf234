"""PSFR-GAN (chaofengc/PSFRGAN): face parsing (ParseNet) guiding a SPADE generator.

The official test-time path (``test_enhance_single_unalign.enhance_faces``): the aligned 512 crop,
RGB, t / 255 * 2 - 1 -> ParseNet (19 classes) -> one-hot of the per-pixel max (every class tied at
the max) -> PSFRGenerator(crop, one-hot) -> RGB [-1, 1]. facert exports that path as ONE restorer
graph (``model.onnx`` and ``model.fp16.onnx``), so the runtime runs PSFR-GAN as any restorer, and
ParseNet alone as ``parsenet.onnx`` (FP32; the parse mask of a later paste-back, facexlib's
``use_parse``, whose ``parsing_parsenet.pth`` is the same network and keys).

Two files, both plain state dicts, from the v0.1.0 release: ``parse_multi_iter_90000.pth``
(ParseNet, 238 keys, loaded strictly by the official code) and ``psfrgan_epoch15_net_G.pth`` (the
generator under spectral norm: ``weight_orig``, ``weight_u``, ``weight_v`` per conv, 221 keys; the
official loader is ``strict=False``, facert's is strict and folds each conv's eval-mode weight
``weight_orig / (u . W v)`` at export). No sha256 of either is published anywhere facert could find:
``facert models fetch psfrgan`` refuses them; download both yourself and pass the folder holding
them with ``--weights FOLDER`` (or put them in the cache's ``psfrgan/weights/``), checked by their
keys and shapes and recorded by their sha256 in the manifest.
"""

from facert.models.registry import ModelSpec, WeightFile, register

RELEASE = "https://github.com/chaofengc/PSFRGAN/releases/download/v0.1.0"

PSFRGAN = register(
    ModelSpec(
        name="psfrgan",
        family="psfrgan",
        role="restorer",
        summary="PSFR-GAN (chaofengc/PSFRGAN): face parsing maps guide a SPADE generator",
        licence="CC BY-NC-SA 4.0 (code and released models; non-commercial)",
        input_size=512,
        color_order="RGB",
        input_range=(-1.0, 1.0),
        output_range=(-1.0, 1.0),
        weights=(
            WeightFile(
                filename="psfrgan_epoch15_net_G.pth",
                sha256="",
                url=f"{RELEASE}/psfrgan_epoch15_net_G.pth",
            ),
            WeightFile(
                filename="parse_multi_iter_90000.pth",
                sha256="",
                url=f"{RELEASE}/parse_multi_iter_90000.pth",
            ),
        ),
        precision_policy=(
            "ParseNet in FP32 (logits and the one-hot of their max): float16 rounding of two "
            "near-equal logits flips a pixel's class, and the generator's output with it",
            "SPADE instance norms in FP32: the variance of 512x512 maps sums squares that "
            "float16 would round away or overflow",
        ),
        onnx_files=("model.onnx", "model.fp16.onnx", "parsenet.onnx"),
        exporter="psfrgan",
        # No INT8 plans: they would quantize ParseNet, which the precision policy keeps FP32 (its
        # one-hot flips where logits are near-tied). OpenVINO BF16 keeps the FP16 graph's pins f32.
        cpu_plans=(("ort", "fp32"), ("openvino", "fp32"), ("openvino", "bf16")),
        notes=(
            "PSFRGAN's README licenses the work under CC BY-NC-SA 4.0 (non-commercial, share "
            "alike); the networks were trained on FFHQ (CC BY-NC-SA 4.0 images) with parsing "
            "masks from CelebAMask-HQ (non-commercial research use).",
            "No published sha256 for either file: `facert models fetch psfrgan` refuses them. "
            "Download parse_multi_iter_90000.pth and psfrgan_epoch15_net_G.pth from the v0.1.0 "
            "release and pass the folder holding them with --weights FOLDER (or put them in the "
            "cache's psfrgan/weights/): their keys and shapes are checked before the export.",
            "The generator's file holds spectral-norm u and v: facert folds the eval-mode weight "
            "weight_orig / (u . W v) into each conv (no power iteration, as the official eval).",
            "Deterministic: no noise anywhere; one network pass each for ParseNet and generator.",
            "The official post-processing truncates to uint8 (no rounding); facert rounds.",
        ),
    )
)
