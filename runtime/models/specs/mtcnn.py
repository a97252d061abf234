"""MTCNN: the default detector (P-Net, R-Net, O-Net cascade with 5 landmarks).

The weights are the MIT-licensed ones that ship inside the facenet-pytorch wheel on PyPI. facert
downloads that wheel with ``pip download --no-deps`` (never installs or imports it), checks its
sha256 and copies the three ``.pt`` state dicts into the cache.
"""

from facert.models.registry import ModelSpec, WeightFile, register

# The graphs' tensor names, shared by the exporter and the detector. Inputs are (N, 3, H, W) float32
# RGB, (pixel - 127.5) / 128; see facert.export.families.mtcnn.net for the output layouts.
INPUT_NAME = "image"
OUTPUT_NAMES: dict[str, tuple[str, ...]] = {
    "pnet": ("offsets", "probabilities"),
    "rnet": ("offsets", "probabilities"),
    "onet": ("offsets", "landmarks", "probabilities"),
}
CROP_SIZES = {"rnet": 24, "onet": 48}  # R-Net and O-Net take square crops of these sizes

FACENET_WHEEL = WeightFile(
    filename="facenet_pytorch-2.6.0-py3-none-any.whl",
    sha256="ecb82b27beb226d106f2219efe8f829b01b87a8595badd01545679bdb9f19cca",
    url=(
        "https://files.pythonhosted.org/packages/ed/2e/"
        "2d56386bc2f834cdc683743903852cf1428b4e5ee119f16cf808b589d3cd/"
        "facenet_pytorch-2.6.0-py3-none-any.whl"
    ),
    pip_requirement="facenet-pytorch==2.6.0",
    extract=(
        "facenet_pytorch/data/pnet.pt",
        "facenet_pytorch/data/rnet.pt",
        "facenet_pytorch/data/onet.pt",
    ),
)

MTCNN = register(
    ModelSpec(
        name="mtcnn",
        family="mtcnn",
        role="detector",
        summary="MTCNN cascade (P/R/O-Net), boxes + 5 landmarks; weights from facenet-pytorch 2.6.0",
        licence="MIT (facenet-pytorch, Copyright (c) 2019 Timothy Esler)",
        input_size=0,
        color_order="RGB",
        input_range=(-1.0, 1.0),  # (x - 127.5) / 128, as facenet-pytorch feeds its nets
        weights=(FACENET_WHEEL,),
        onnx_files=("pnet.onnx", "rnet.onnx", "onet.onnx"),
        exporter="mtcnn",
        graph_version=2,  # 2: export_form (split PReLUs, R-Net padded to 32 channels): same numbers
    )
)
