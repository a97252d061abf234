"""RestoreFormer (CVPR 2022) and RestoreFormer++ (TPAMI 2023), Zhouxia Wang et al.

Both are ``VQVAEGANMultiHeadTransformer`` of wzhouxiff/RestoreFormerPlusPlus: RestoreFormer with
8 heads and decoder cross-attention at 16x16; RestoreFormer++ with 4 heads and cross-attention at 16x16
and 32x32. The official inference (``RestoreFormer/RestoreFormer.py``) feeds an aligned 512x512 face
as RGB in [-1, 1] (``img / 255``, then ``normalize(0.5, 0.5)``) and maps the output back with
``tensor2img(min_max=(-1, 1))`` (clamp to [-1, 1], then to [0, 255]).

Weight files and where their sha256 came from (the files could not be downloaded here):

- RestoreFormer++: ``RestoreFormer++.ckpt`` from the RestoreFormer++ release v1.0.0, a
  PyTorch-Lightning checkpoint, weights under ``state_dict`` with the prefix ``vqvae.``
  (the official loader strips it). sha256 from the Git-LFS pointer of the same file in the Hugging
  Face repository rippertnt/upscale (commit b06888c4, size 294,028,815 bytes, the size the GitHub
  release serves), and the same value pinned by a second, unrelated project in the search index.
- RestoreFormer: ``RestoreFormer.pth`` from the GFPGAN release v1.3.4 - the file GFPGAN's
  ``inference_gfpgan.py -v RestoreFormer``, AUTOMATIC1111's web UI, spandrel and ComfyUI face-restore
  nodes download. GFPGAN's loader reads ``params_ema`` (else ``params``), strict, no prefix.
  sha256 pinned by the AUR package python-gfpgan 1.3.8 (PKGBUILD) and by the Git-LFS pointer in the
  Hugging Face repository aigchacker/realesrgan-x4 (commit 7dbcca1, size 290,785,322 bytes).
  The RestoreFormer++ release also ships a v1 ``RestoreFormer.ckpt`` (Lightning layout, sha256
  4a193c716bc27cc0533d1b9307100c671e7b584ffa3ba6648182fea4b3228dff, 290,861,237 bytes, from the
  rippertnt/upscale pointer only); ``RESTOREFORMER_V1_CKPT`` describes it, and
  :func:`facert.export.families.restoreformer.export.restoreformer_state_dict` reads either layout.

Licences: both repositories' code is Apache-2.0 and the release weights carry no other terms; the
networks were trained on FFHQ, whose images are CC BY-NC-SA 4.0.

FP16 (measured with facert.export.harness.fill weights on the two real test faces, full size): with the
encoder in float16 too, the latent moves by ~0.2% and the codebook choice flips where the two
nearest codes are almost tied (0-3 of 256 positions per face), each flip changing a 32x32 patch:
32.6-59.9 dB against FP32. Keeping the encoder (31% of the MACs) in float32, as the policy below
does, gives identical codes and 59.8-60.1 dB, provided the encoder reads the image unrounded (the
FP16 graph takes float32 input): on the harness's default faces, rounding the image to float16
alone flips one code on 3 of 4 faces (44.3-47.6 dB instead of 68.6-69.9). Peak |activation| in
float16 was ~24.
"""

from facert.models.registry import ModelSpec, WeightFile, register

PRECISION_POLICY = (
    "encoder and quant_conv in float32 (parameters and arithmetic; the float16 input is widened at "
    "the encoder's entry and its features reach the decoder's attention norms in float32)",
    "every GroupNorm: parameters and arithmetic in float32",
    "attention scores, softmax and weighted sum computed in float32",
    "codebook distances, argmin and lookup in float32, codebook kept float32",
)

RESTOREFORMER_PP_CKPT = WeightFile(
    filename="RestoreFormer++.ckpt",
    sha256="613fe52805f86bf8c2bffff08ae9f7a0b99f408be1bf221767af6183038be3a2",
    url="https://github.com/wzhouxiff/RestoreFormerPlusPlus/releases/download/v1.0.0/RestoreFormer%2B%2B.ckpt",
    state_dict_keys=("state_dict",),
    strip_prefix="vqvae.",
)

RESTOREFORMER_V1_PTH = WeightFile(
    filename="RestoreFormer.pth",
    sha256="07404d446d62ca3d5ed38b1de09a947a1e77d46dbccec961a74d713a8f24ace0",
    url="https://github.com/TencentARC/GFPGAN/releases/download/v1.3.4/RestoreFormer.pth",
    state_dict_keys=("params_ema", "params"),
)

RESTOREFORMER_V1_CKPT = WeightFile(
    filename="RestoreFormer.ckpt",
    sha256="4a193c716bc27cc0533d1b9307100c671e7b584ffa3ba6648182fea4b3228dff",
    url="https://github.com/wzhouxiff/RestoreFormerPlusPlus/releases/download/v1.0.0/RestoreFormer.ckpt",
    state_dict_keys=("state_dict",),
    strip_prefix="vqvae.",
)


def _restoreformer_spec(name: str, summary: str, licence: str, weight: WeightFile) -> ModelSpec:
    return ModelSpec(
        name=name,
        family="restoreformer",
        role="restorer",
        summary=summary,
        licence=licence,
        input_size=512,
        color_order="RGB",
        input_range=(-1.0, 1.0),
        output_range=(-1.0, 1.0),
        template="ffhq5",
        weights=(weight,),
        precision_policy=PRECISION_POLICY,
        batches=True,
        onnx_files=("model.onnx", "model.fp16.onnx"),
        exporter="restoreformer",
    )


RESTOREFORMER = register(
    _restoreformer_spec(
        "restoreformer",
        "RestoreFormer (CVPR 2022): codebook + multi-head cross-attention, 72.7 M params",
        "Apache-2.0 (wzhouxiff/RestoreFormer, TencentARC/GFPGAN); trained on FFHQ (CC BY-NC-SA 4.0)",
        RESTOREFORMER_V1_PTH,
    )
)

RESTOREFORMER_PP = register(
    _restoreformer_spec(
        "restoreformer-pp",
        "RestoreFormer++ (TPAMI 2023): multi-scale cross-attention, 73.5 M params",
        "Apache-2.0 (wzhouxiff/RestoreFormerPlusPlus); trained on FFHQ (CC BY-NC-SA 4.0)",
        RESTOREFORMER_PP_CKPT,
    )
)
