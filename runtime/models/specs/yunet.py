"""YuNet (OpenCV Zoo ``face_detection_yunet_2023mar``): a small anchor-free face detector.

The zoo ships the network as ONNX (ShiqiYu/libfacedetection.train's ``yunet_s_640_640.onnx``, the same
bytes), fixed at 1 x 3 x 640 x 640. Every layer after the input is size-agnostic (convolutions,
nearest x2 resizes, reshapes to ``[1, -1, k]``), so facert's export only frees the input's height
and width (:mod:`facert.export.families.yunet.export`) and runs it at the frame's own size padded
to a multiple of 32, as OpenCV's ``FaceDetectorYN`` does. Input: BGR, raw levels 0..255.
Decoding: :mod:`facert.stages.detect.yunet`.
"""

from facert.models.registry import ModelSpec, WeightFile, register

INPUT_NAME = "input"
STRIDES = (8, 16, 32)
# Output heads, per stride: class and objectness scores (sigmoid already applied), box (centre
# offset and log size in stride units) and five landmarks (offsets in stride units).
HEADS = ("cls", "obj", "bbox", "kps")
DIVISOR = (
    32  # the input's height and width are padded (zeros, right and bottom) to multiples of this
)

ZOO_FILE = WeightFile(
    filename="face_detection_yunet_2023mar.onnx",
    # The Git LFS object id of the zoo's file (= its sha256), 232,589 bytes.
    sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    url=(
        "https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/"
        "face_detection_yunet_2023mar.onnx"
    ),
)

YUNET = register(
    ModelSpec(
        name="yunet",
        family="yunet",
        role="detector",
        summary="YuNet 2023mar (OpenCV Zoo): anchor-free detector, boxes + 5 landmarks, 53k weights",
        licence="MIT (OpenCV Zoo's licence of the model; the same network in ShiqiYu/libfacedetection.train is Apache-2.0)",
        input_size=0,
        color_order="BGR",
        input_range=(0.0, 255.0),
        weights=(ZOO_FILE,),
        onnx_files=("model.onnx",),
        exporter="yunet",
        notes=(
            "Trained for faces of about 10 to 300 pixels (the zoo's README); facert detects on a "
            "copy scaled so that the smallest face asked for (min_face_size) is still 10 pixels "
            "and the largest is within reach, and maps boxes and landmarks back.",
            "Landmark order as OpenCV's FaceDetectorYN: the subject's right eye (the image-left "
            "one) first, which is facert's order (left eye as seen in the image first).",
        ),
    )
)
