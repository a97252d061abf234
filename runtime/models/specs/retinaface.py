"""RetinaFace (ResNet-50 and MobileNet-0.25): facexlib's face detectors, boxes + 5 landmarks.

The checkpoints are facexlib's release v0.1.0 files, the biubug6/Pytorch_Retinaface weights as
facexlib loads them (``module.`` prefixes stripped, strict keys). facert's port
(:mod:`facert.export.families.retinaface`) loads them unchanged and exports the network alone to
ONNX (BatchNorm folded, height and width dynamic); the anchors ("priors"), the decoding and the
suppression run in NumPy (:mod:`facert.stages.detect.retinaface_boxes`), as facexlib's
``detect_faces`` does them around its network.

Input: (1, 3, H, W) float32, BGR pixel levels minus :data:`MEAN_BGR` (no scaling). Outputs
(:data:`OUTPUT_NAMES`): box offsets (1, P, 4), face probabilities (1, P, 2) (softmax; column 1:
face) and landmark offsets (1, P, 10), P anchors.
"""

from facert.models.registry import ModelSpec, WeightFile, register

INPUT_NAME = "image"
OUTPUT_NAMES = ("loc", "conf", "landmarks")
MEAN_BGR = (104.0, 117.0, 123.0)  # subtracted from the B, G, R levels (facexlib's mean_tensor)
# Anchors (facexlib's cfg, the same for both backbones): per level, its stride and two sizes.
STEPS = (8, 16, 32)
MIN_SIZES = ((16, 32), (64, 128), (256, 512))
VARIANCES = (0.1, 0.2)  # centre offsets are in units of 0.1 anchor; log sizes in units of 0.2

RELEASE = "https://github.com/xinntao/facexlib/releases/download/v0.1.0/"
# facexlib publishes no hash. These sha256 are the ones other packagers record for the release
# files: an Arch Linux facexlib-model PKGBUILD lists both; the ResNet-50 one (109,497,761 bytes)
# also several projects' model manifests; the MobileNet one (1,789,735 bytes) is the Hugging Face
# LFS object id of a mirror of the facexlib file and the sha256 recorded for copies of
# biubug6/Pytorch_Retinaface's mobilenet0.25_Final.pth (the same file under another name).
LICENCE = (
    "MIT (facexlib code, Copyright (c) 2020 Xintao Wang; the network and weights come from "
    "biubug6/Pytorch_Retinaface, MIT); the weights were trained on WIDER FACE, whose images are "
    "released for research use: check its terms for commercial use"
)


def _weight(filename: str, sha256: str) -> WeightFile:
    # Plain state dicts; keys may carry DataParallel's ``module.`` prefix, which the family's
    # loader strips as facexlib's init_detection_model does (keys without it are kept).
    return WeightFile(filename=filename, sha256=sha256, url=RELEASE + filename)


def _spec(name: str, backbone: str, filename: str, sha256: str, summary: str) -> ModelSpec:
    return register(
        ModelSpec(
            name=name,
            family="retinaface",
            role="detector",
            summary=summary,
            licence=LICENCE,
            input_size=0,
            color_order="BGR",
            input_range=(0.0, 255.0),  # minus MEAN_BGR, in the detector
            weights=(_weight(filename, sha256),),
            onnx_files=("model.onnx",),
            exporter="retinaface",
            notes=(
                f"facexlib RetinaFace(network_name={backbone!r}); thresholds as facexlib's "
                "FaceRestoreHelper: score 0.97, NMS IoU 0.4.",
                "Landmark order as facexlib's (aligned onto the FFHQ template unchanged): the "
                "image-left eye first, which is facert's order.",
                "facert detects on a copy scaled so the smallest face asked for is still 16 "
                "pixels (the smallest anchor); facexlib runs on the whole frame.",
            ),
        )
    )


RETINAFACE_R50 = _spec(
    "retinaface-r50",
    "resnet50",
    "detection_Resnet50_Final.pth",
    "6d1de9c2944f2ccddca5f5e010ea5ae64a39845a86311af6fdf30841b0a5a16d",
    "RetinaFace ResNet-50 (facexlib v0.1.0): boxes + 5 landmarks, 27.3 M parameters",
)
RETINAFACE_MNET = _spec(
    "retinaface-mnet",
    "mobile0.25",
    "detection_mobilenet0.25_Final.pth",
    "2979b33ffafda5d74b6948cd7a5b9a7a62f62b949cef24e95fd15d2883a65220",
    "RetinaFace MobileNet-0.25 (facexlib v0.1.0): boxes + 5 landmarks, 0.43 M parameters",
)
