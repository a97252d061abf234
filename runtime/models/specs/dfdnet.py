"""DFDNet (csxmli2016/DFDNet, ECCV 2020): blind face restoration with multi-scale component dictionaries.

The official ``UNetDictFace(64)`` of branch ``whole``: VGG19 features of the aligned 512 crop; per
part (left eye, right eye, nose, mouth) and scale (256/128/64/32) the best entry of a k-means
dictionary of high-quality features (AdaIN-ed to the face), blended in by an attention block; a
decoder driven by the updated features. Input: the aligned 512 crop, RGB, [0, 255] onto [-1, 1]
(ToTensor + Normalize(0.5, 0.5)), and the four part boxes (the ``boxes`` extra input,
:mod:`facert.stages.parts`); output RGB in [-1, 1] (Tanh).

Files: ``latest_net_G.pth`` (the official test folder ``checkpoints/facefh_dictionary/``) and the 16
``DictionaryCenter512/{part}_{size}_center.npy``, published on Google Drive and Baidu only (README of
the ``whole`` branch), with no hash anywhere: ``facert models fetch dfdnet`` cannot download them; it
says where to get them and where to put them, and checks them once they are there.
"""

from facert.models.registry import ExtraInput, ModelSpec, WeightFile, register

DRIVE = "https://drive.google.com/drive/folders/1ks_IbobH6WVQ_Jy4oWTTGjSbMZVUSbl4"
BAIDU = "https://pan.baidu.com/s/1K4fzjPiezVSMl5NjHoJCGQ (code s9ht)"
DICTIONARY_FOLDER = "DictionaryCenter512"
MANUAL = (  # FOLDER: the model's weights folder in the cache
    f"DFDNet's files are on Google Drive ({DRIVE}) and Baidu ({BAIDU}) only, which facert cannot "
    "download or verify: get checkpoints/facefh_dictionary/latest_net_G.pth and the 16 .npy files "
    f"of {DICTIONARY_FOLDER}/ and put them at FOLDER/latest_net_G.pth and FOLDER/"
    f"{DICTIONARY_FOLDER}/{{left_eye,right_eye,nose,mouth}}_{{256,128,64,32}}_center.npy"
)
DICTIONARY_STEP = (
    "per part and scale: the box's window, its resize to the entry size, the AdaIN statistics, "
    "the scores against every entry, the argmax, the entry resized back, the attention update "
    "and its write-back, and the dictionaries themselves"
)
NOTES = (
    "No sha256 of the official files is published: facert accepts the files put into its cache "
    "(or given with --weights) on their keys and shapes, and records their sha256.",
    "Licence: the README of the master branch: CC BY-NC-SA 4.0 (attribution, non-commercial, "
    "share-alike); the whole branch, whose code facert ports, repeats none. The dictionaries are "
    "VGG features of FFHQ-like faces (the training data's own terms apply).",
    "Part boxes: 68-point landmarks (dlib's predictor, the `landmarks` extra) when dlib is "
    "importable, else a rule on the five alignment landmarks (facert.stages.parts). On 26 aligned "
    "real faces the 5-point boxes differ from the 68-point ones by 6.2 px on average, up to 45 px "
    "(the mouth; leave-one-out fit, bench/bench_dfdnet_boxes.py); with the deterministic test "
    "weights DFDNet's output then moves by 51.9-60.6 dB PSNR (6 faces; trained weights: not "
    "measured). 68-point is the default because it is the official rule on the official kind of "
    "landmarks; 5-point is the fallback without the extra. dlib's 68-point model was "
    "trained on iBUG 300-W, whose annotations are licensed for non-commercial use only. The "
    "official code uses FAN landmarks instead (its weights are downloaded at run time).",
    "Alignment: facert aligns every restorer on the FFHQ five-point template (eye centres, nose, "
    "mouth corners) of GFPGAN; the official DFDNet aligns dlib's five points (eye corners, nose "
    "base) to its own FFHQ template, which puts the eyes about 5 px lower in the 512 crop.",
    "Spectral norm is folded from the stored u, v (PyTorch's eval mode). The official test script "
    "never calls eval(): each call runs one power iteration first and keeps it for the next face "
    "(with converged u, v the outputs differ by 2.4e-4 at most: tests/golden/dfdnet).",
    "Export: one graph, the boxes as an input; the dictionary step in fixed windows of twice each "
    "part's dictionary size (a larger box is cut to it; the largest 68-point box on the 26 faces "
    "is 0.75 of it), so faces batch with the same rows as single runs. The dictionaries are graph "
    "constants: K x 6.24 MB of float32 for K entries per dictionary (K as stored; the files' K "
    "was not available here); past 2 GB the graph keeps its tensors in model.onnx.data beside it "
    "(listed and hashed in the manifest).",
    "FP16 graph: the dictionary step stays FP32 (the precision policy). The official score sums "
    "up to 204,800 products (C x S x S at 256) and reached 3.2e5 on the golden face, beyond "
    "float16's 65,504; facert's leaves out the term the same for every entry, and with the "
    "deterministic weights (nearly constant features) what is left stays small: unpinned, the "
    "FP16 form did not overflow there and reached the same dB. Trained weights could not be "
    "measured. On the 4 check faces: ONNX Runtime FP16 86.7-87.6 dB, PyTorch float16 (emulated) "
    "65.2-79.1 dB with one of 64 entry choices flipped (a 48 px face; float16 VGG features), "
    "OpenVINO BF16 60.4-61.6 dB. The pins cost the FP16 graph 113 MB; their time on OpenVINO "
    "BF16 was within the machine's noise (bench/dfdnet_precision.py, bench/README.md).",
)


DFDNET = register(
    ModelSpec(
        name="dfdnet",
        family="dfdnet",
        role="restorer",
        summary="DFDNet (csxmli2016/DFDNet): restoration with multi-scale component dictionaries",
        licence="CC BY-NC-SA 4.0 (non-commercial; see `facert models show dfdnet`)",
        input_size=512,
        color_order="RGB",
        input_range=(-1.0, 1.0),
        output_range=(-1.0, 1.0),
        weights=(WeightFile(filename="latest_net_G.pth", sha256="", url=DRIVE, manual=MANUAL),),
        extra_inputs=(
            ExtraInput(
                name="boxes",
                shape=(4, 4),
                help="per part (left eye, right eye, nose, mouth): x1, y1, x2, y2 in crop pixels",
            ),
        ),
        precision_policy=(
            f"The dictionary step in FP32 ({DICTIONARY_STEP}): its scores sum up to 204,800 "
            "products, which can pass float16's 65,504, its statistics sum squares, and its "
            "argmax picks one entry per part",
        ),
        onnx_files=("model.onnx", "model.fp16.onnx"),
        exporter="dfdnet",
        # No INT8 plans: they would quantize the dictionary step, which the policy keeps FP32.
        # OpenVINO BF16 keeps the FP16 graph's pinned ops f32 (gated at run time, >= 40 dB).
        cpu_plans=(("ort", "fp32"), ("openvino", "fp32"), ("openvino", "bf16")),
        notes=NOTES,
    )
)
