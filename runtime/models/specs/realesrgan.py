"""Real-ESRGAN x2 and x4 (xinntao/Real-ESRGAN): the background upsampler of learned face restorers.

Not a face restorer: an ``upsampler`` takes whole frames (in tiles, any size) and returns them 2 or
4 times larger, restored (denoised, deblurred, JPEG artefacts removed). facert runs it on the rest
of the photo for ``--background restore`` with a learned face restorer.

The network is BasicSR's RRDBNet (num_feat 64, num_block 23, num_grow_ch 32); x2 pixel-unshuffles
its input by 2 first (``facert.export.families.realesrgan.net``). Input: RGB in [0, 1] (the official
RealESRGANer: /255, BGR -> RGB); output RGB, clamped to [0, 1] by the runtime. Exported as
``model.onnx`` (FP32) and ``model.fp16.onnx`` (float16, for GPU engines; checked >= 40 dB against
FP32 on photo tiles, left out when it falls short), batch, height and width free: tiles of one
shape may run as one batch.

Files: the official release assets (v0.1.0 RealESRGAN_x4plus.pth, 67,040,989 bytes; v0.2.1
RealESRGAN_x2plus.pth, 67,061,725 bytes), weights under ``params_ema``. The repository publishes no
hashes; the sha256 below are those several independent projects record for the same release URLs
(an Arch Linux AUR PKGBUILD for python-realesrgan with both, and others that say they hashed the
official download), which agree.
"""

from facert.models.registry import ModelSpec, WeightFile, register

RELEASES = "https://github.com/xinntao/Real-ESRGAN/releases/download"
LICENCE = "BSD-3-Clause (Real-ESRGAN code and weights; BasicSR's RRDBNet code: Apache-2.0)"
NOTES = (
    "a background upsampler, not a face restorer: used by --background restore with a learned "
    "face restorer; runs tiled with overlap, so memory stays bounded on 4K frames",
    "sha256 from the AUR python-realesrgan PKGBUILD and other projects that hashed the official "
    "release asset (the repository publishes none); they agree",
)


def _spec(scale: int, filename: str, release: str, sha256: str) -> ModelSpec:
    return register(
        ModelSpec(
            name=f"realesrgan-x{scale}",
            family="realesrgan",
            role="upsampler",
            summary=f"Real-ESRGAN x{scale} (xinntao/Real-ESRGAN, {filename}): whole-photo "
            "restoration and upscaling",
            licence=LICENCE,
            input_size=0,
            color_order="RGB",
            input_range=(0.0, 1.0),
            output_range=(0.0, 1.0),
            weights=(
                WeightFile(
                    filename=filename,
                    sha256=sha256,
                    url=f"{RELEASES}/{release}/{filename}",
                    state_dict_keys=("params_ema", "params"),
                ),
            ),
            onnx_files=("model.onnx", "model.fp16.onnx"),
            exporter="realesrgan",
            scale=scale,
            batches=True,  # tiles of one shape run as a batch (Upsampler's ``batch``)
            cpu_plans=(("ort", "fp32"),),
            notes=NOTES,
        )
    )


REALESRGAN_X2 = _spec(
    2,
    "RealESRGAN_x2plus.pth",
    "v0.2.1",
    "49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb",
)
REALESRGAN_X4 = _spec(
    4,
    "RealESRGAN_x4plus.pth",
    "v0.1.0",
    "4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1",
)
