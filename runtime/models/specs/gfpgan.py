"""GFP-GAN v1.2, v1.3 and v1.4 (TencentARC): U-Net + StyleGAN2 decoder with SFT, "clean" architecture.

All three checkpoints share one architecture and key set (GFPGANv1Clean, out_size 512,
channel_multiplier 2); the user supplies the official file (``--weights``) or fetches it from the
official release. Input: the aligned 512x512 crop, RGB, [0, 255] mapped onto [-1, 1] (GFPGANer's
``(x / 255 - 0.5) / 0.5``); output RGB in [-1, 1] (clamped by the runtime).

sha256 sources (the official release pages publish none): the Git LFS object ids of copies of the
files on Hugging Face (e.g. fofr/comfyui facerestore_models/GFPGANv1.4.pth, leonelhs/gfpgan
GFPGANv1.3.pth, Tzktz/GFP-GAN-FACE-ENHANCE-MODEL GFPGANCleanv1-NoCE-C2.pth; each 348,632,874 bytes),
which agree with the table of clibdev/GFPGAN-onnxruntime-demo's README and, for v1.4, with projects
that pin the official v1.3.0 release URL by this hash.
"""

from facert.models.registry import ModelSpec, WeightFile, register

RELEASES = "https://github.com/TencentARC/GFPGAN/releases/download"
LICENCE = (
    "Apache-2.0 (GFPGAN code and released models; third-party parts: `facert models show {name}`)"
)
NOTES = (
    "GFPGAN's LICENSE is Apache-2.0 except third-party parts: StyleGAN2 code derived under the "
    "NVIDIA Source Code License (non-commercial) and DFDNet-derived code (CC BY-NC-SA 4.0); the "
    "clean architecture facert ports uses neither's custom ops. No separate licence is stated for "
    "the weights, which were trained on FFHQ (CC BY-NC-SA 4.0 images).",
    "Exported with the checkpoint's stored noise maps (the official GFPGANer draws fresh noise on "
    "every call, so its outputs vary slightly from run to run).",
)
PRECISION_POLICY = (
    "StyleGAN2 style path in FP32: modulation, per-sample style rescaling, demodulation sums and "
    "rsqrt (float16 would overflow the sums and underflow eps=1e-8)",
)


def _weights(filename: str, sha256: str, tag: str) -> WeightFile:
    return WeightFile(
        filename=filename,
        sha256=sha256,
        url=f"{RELEASES}/{tag}/{filename}",
        state_dict_keys=("params_ema", "params"),
    )


def _spec(name: str, version: str, weights: WeightFile) -> ModelSpec:
    return register(
        ModelSpec(
            name=name,
            family="gfpgan",
            role="restorer",
            summary=f"GFP-GAN {version} (TencentARC): blind face restoration with a StyleGAN2 prior",
            licence=LICENCE.format(name=name),
            input_size=512,
            color_order="RGB",
            input_range=(-1.0, 1.0),
            output_range=(-1.0, 1.0),
            weights=(weights,),
            precision_policy=PRECISION_POLICY,
            onnx_files=("model.onnx", "model.fp16.onnx"),
            exporter="gfpgan",
            notes=NOTES,
        )
    )


GFPGAN_1_2 = _spec(
    "gfpgan-1.2",
    "v1.2",
    _weights(
        "GFPGANCleanv1-NoCE-C2.pth",
        "29e25ee90c170f4231163f4c83df6b59c968b73f3ce00cb884015ae005db083c",
        "v0.2.0",
    ),
)
GFPGAN_1_3 = _spec(
    "gfpgan-1.3",
    "v1.3",
    _weights(
        "GFPGANv1.3.pth",
        "c953a88f2727c85c3d9ae72e2bd4846bbaf59fe6972ad94130e23e7017524a70",
        "v1.3.0",
    ),
)
GFPGAN_1_4 = _spec(
    "gfpgan-1.4",
    "v1.4",
    _weights(
        "GFPGANv1.4.pth",
        "e2cd4703ab14f4d01fd1383a8a8b266f9a5833dacee8e6a79d3bf21a1b6be5ad",
        "v1.3.0",
    ),
)
