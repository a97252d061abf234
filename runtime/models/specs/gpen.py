"""GPEN-BFR 256, 512 and 1024 (yangxy/GPEN, Alibaba DAMO): blind face restoration, GAN prior embedded.

All three are GPEN's ``FullGenerator`` (style_dim 512, 8-layer mapping MLP, encoder features
concatenated into a StyleGAN2 decoder); the checkpoints are plain state dicts (FaceGAN loads the file
itself, ``--key`` None). Sizes: 256 uses channel_multiplier 1, narrow 0.5 (demo.py's comment); 512
and 1024 use channel_multiplier 2, narrow 1 (demo.py's defaults; ModelScope's pipeline for 1024).
Input: the aligned S x S crop, RGB, [0, 255] mapped onto [-1, 1] (FaceGAN.img2tensor: /255,
(x - 0.5) / 0.5, BGR -> RGB); output RGB in [-1, 1] (clamped by the runtime).

Files and sha256 sources (the official pages publish no hashes):

- GPEN-BFR-256.pth (75,573,183 bytes) and GPEN-BFR-512.pth (284,085,738 bytes): the URLs of GPEN's
  README. sha256 = the Git LFS object ids of copies on Hugging Face: 512 from akhaliq/GPEN-BFR-512,
  vinthony/videoretalking and ygtxr1997/ReliableSwap_Demo (third_party/GPEN/weights), which agree;
  256 from ygtxr1997/ReliableSwap_Demo only (the same commit that holds the agreeing 512 file).
- GPEN-BFR-1024: published only on ModelScope (iic/cv_gpen_image-portrait-enhancement-hires,
  formerly damo/..., file pytorch_model.pt), as GPEN's README says. No hash of it was found, so
  the spec pins none: ``facert models fetch`` refuses it and ``--weights FILE`` accepts a file whose
  keys and shapes match (see :class:`facert.models.registry.WeightFile`).
"""

from facert.models.registry import ModelSpec, WeightFile, register

OSS = "https://public-vigen-video.oss-cn-shanghai.aliyuncs.com/robin/models"
MODELSCOPE = (
    "https://modelscope.cn/api/v1/models/iic/cv_gpen_image-portrait-enhancement-hires/repo"
    "?Revision=master&FilePath="
)
LICENCE = (
    "none granted (README until 2026-03: academic and non-commercial use only; see "
    "`facert models show {name}`)"
)
NOTES = (
    "GPEN's repository (yangxy/GPEN) carries no licence file. Its README stated \"(c) Alibaba, "
    '2021. For academic and non-commercial use only." until commit 2c73670 (2026-03-10) removed '
    "the sentence without a replacement; the README also calls GPEN-BFR-512 'not our best model due "
    "to commercial issues'. Its StyleGAN2 code derives from rosinality/stylegan2-pytorch (MIT) and "
    "its CUDA ops from NVIDIA's StyleGAN2 (NVIDIA Source Code License, non-commercial); facert "
    "ports neither's CUDA code. The weights were trained on FFHQ (CC BY-NC-SA 4.0 images).",
    "Deterministic: GPEN injects the encoder's features where StyleGAN2 injects noise, so there is "
    "no random noise to store (the official FullGenerator draws none either).",
    "The official post-processing truncates to uint8 (no rounding); facert rounds.",
)
PRECISION_POLICY = (
    "StyleGAN2 style path in FP32: modulation, per-sample style rescaling, demodulation sums and "
    "rsqrt (float16 would overflow the sums and underflow eps=1e-8)",
    "mapping path in FP32: final_linear, PixelNorm and the 8-layer style MLP (squared latents "
    "would overflow float16; a few small matrix products per face)",
)


def _spec(size: int, weights: WeightFile, extra_notes: tuple[str, ...] = ()) -> ModelSpec:
    return register(
        ModelSpec(
            name=f"gpen-bfr-{size}",
            family="gpen",
            role="restorer",
            summary=f"GPEN-BFR-{size} (yangxy/GPEN): blind face restoration with an embedded "
            "StyleGAN2 prior",
            licence=LICENCE.format(name=f"gpen-bfr-{size}"),
            input_size=size,
            color_order="RGB",
            input_range=(-1.0, 1.0),
            output_range=(-1.0, 1.0),
            weights=(weights,),
            precision_policy=PRECISION_POLICY,
            onnx_files=("model.onnx", "model.fp16.onnx"),
            exporter="gpen",
            notes=NOTES + extra_notes,
        )
    )


GPEN_BFR_256 = _spec(
    256,
    WeightFile(
        filename="GPEN-BFR-256.pth",
        sha256="56ba6ed9d19e1e1c2ec36bc63e1ef9d54ed1bc544b4f8f0769222660d255ddc5",
        url=f"{OSS}/GPEN-BFR-256.pth",
    ),
)
GPEN_BFR_512 = _spec(
    512,
    WeightFile(
        filename="GPEN-BFR-512.pth",
        sha256="f1002c41add95b0decad69604d80455576f7187dd99ca16bd611bcfd44c10b51",
        url=f"{OSS}/GPEN-BFR-512.pth",
    ),
)
GPEN_BFR_1024 = _spec(
    1024,
    WeightFile(filename="pytorch_model.pt", sha256="", url=f"{MODELSCOPE}pytorch_model.pt"),
    (
        "GPEN-BFR-1024 is published on ModelScope only (iic/cv_gpen_image-portrait-enhancement-"
        "hires, file pytorch_model.pt; the model card's own terms apply). No sha256 of it was "
        "found: `facert models fetch` refuses it; download it yourself and pass --weights FILE, "
        "which is checked by its keys and shapes and recorded by its sha256 in the manifest.",
    ),
)
