"""facexlib's face parser (``parsing_parsenet.pth``): the mask of ``--mask parse``.

facexlib's ``FaceRestoreHelper(use_parse=True)`` (the paste-back GFPGAN, RestoreFormer++ and
CodeFormer use) parses each restored face with ParseNet (``ParseNet(in_size=512, out_size=512,
parsing_ch=19)``, PSFR-GAN's network, facert's port ``facert.export.families.psfrgan.parsenet``)
and pastes it under a mask made from the 19-class map (:mod:`facert.stages.blend.parse`). facert
exports ParseNet alone as ``parsenet.onnx``: ``image`` (N, 3, 512, 512) RGB [-1, 1] ->
``parsing`` logits (N, 19, 512, 512), FP32 (a float16 rounding of near-tied logits flips a pixel's
class).

The file: facexlib's release v0.2.2 asset, a plain state dict (238 keys, loaded strictly), 85,331,193
bytes. facexlib publishes no hash; the sha256 below is the one several unrelated projects record
for that URL (model manifests and download scripts that verify it, and the Hugging Face LFS object
of a mirror, whose object id is the file's sha256), which agree. PSFR-GAN's
``parse_multi_iter_90000.pth`` is the same class with the same keys: ``facert models export parsenet
--weights parse_multi_iter_90000.pth`` exports it too (as unofficial weights of this spec: the mask
then comes from PSFR-GAN's parser, and the manifest records that file's sha256).
"""

from facert.models.registry import ModelSpec, WeightFile, register

PARSENET = register(
    ModelSpec(
        name="parsenet",
        family="parsenet",  # PSFR-GAN's network (its port), a family and exporter of its own
        role="parser",
        summary="ParseNet face parsing (facexlib parsing_parsenet.pth): the mask of --mask parse",
        licence="MIT (facexlib code); the network and its training are PSFR-GAN's (CC BY-NC-SA "
        "4.0 code, CelebAMask-HQ parsing labels: non-commercial research use)",
        input_size=512,
        color_order="RGB",
        input_range=(-1.0, 1.0),
        weights=(
            WeightFile(
                filename="parsing_parsenet.pth",
                sha256="3d558d8d0e42c20224f13cf5a29c79eba2d59913419f945545d8cf7b72920de2",
                url="https://github.com/xinntao/facexlib/releases/download/v0.2.2/"
                "parsing_parsenet.pth",
            ),
        ),
        precision_policy=(
            "FP32 only: the mask is the argmax of the logits, and float16 rounding of two "
            "near-equal logits flips a pixel's class",
        ),
        onnx_files=("parsenet.onnx",),
        exporter="parsenet",
        cpu_plans=(("ort", "fp32"),),
        notes=(
            "sha256 from several projects that verify facexlib's v0.2.2 release asset (facexlib "
            "publishes none); they agree. 85,331,193 bytes.",
            "PSFR-GAN's parse_multi_iter_90000.pth is the same network and keys: pass it with "
            "--weights FILE to export it as this spec (unofficial weights, recorded by sha256).",
            "Used by --mask parse (facexlib's use_parse=True paste-back); not a restorer.",
        ),
    )
)
