"""CodeFormer (Zhou et al., NeurIPS 2022): codebook lookup transformer, official release v0.1.0.

The weights are the official ``codeformer.pth`` (376,637,898 bytes, state dict under
``params_ema``), supplied by the user or fetched from the GitHub release. The sha256 below is the
one pinned, with that size, by several independent projects that download this release asset
(the file was not downloaded here). Licence: S-Lab License 1.0, non-commercial use only.

The fidelity weight ``w`` is an input of the exported graph, one value per face: 0 uses the codebook
alone (best quality), 1 fuses the most of the input's features (most faithful). Each fusion roughly
squares the decoder features' size (3.6e6 at w = 1 with facert.export.harness.fill weights: inf in float16),
so the export form carries them divided by a per-sample scale from the first fusion on
(facert.export.families.codeformer.scaled); every export checks FP32 parity and FP16 safety at w = 0,
0.5 and 1.

FP16 (measured at full size, facert.export.harness.fill weights and a checkpoint of the official class at
its default initialisation after torch seed 937): with the encoder in float16 the code logits move
enough to flip a code where the top two are almost tied, changing a 32x32 patch (official class,
graph version 2: 39.4 dB on grace_hopper.png at w = 0.5, export aborted). The policy below
keeps the whole code selection in float32, the encoder reading the image unrounded: float32 and
float64 runs of it differ by at most 6.6e-6 in the logits on the check faces, whose closest top-2
gap is 7.7e-5 (official class; fill: 1.3e-4), so no code flips and every check face passes.
Cost: 27.6% of the MACs in float32 (1.4% before), 49.4M of 94.1M parameters, an FP16 graph of
288 MB instead of 228 MB; on ONNX Runtime's CPU backend no time (4.45 s per 512 face, 4.47 s
before, 2 cores; bench/bench_precision.py).
"""

from facert.models.registry import ModelOption, ModelSpec, WeightFile, register

CODEFORMER_PTH = WeightFile(
    filename="codeformer.pth",
    sha256="1009e537e0c2a07d4cabce6355f53cb66767cd4b4297ec7a4a64ca4b8a5684b7",
    url="https://github.com/sczhou/CodeFormer/releases/download/v0.1.0/codeformer.pth",
    state_dict_keys=("params_ema",),
)

PRECISION_POLICY = (
    "encoder, whole (parameters and arithmetic), reading the float32 image input unrounded",
    "code prediction: feat_emb, position_emb, transformer, idx_pred_layer logits, argmax; codebook",
    "GroupNorm (all 72; parameters and arithmetic)",
    "spatial self-attention: q.k scores and softmax",
    "AdaIN statistics (mean, unbiased variance) and renormalisation",
    "fusion products dec * (1 + w * scale) + w * shift, and the per-sample scale the generator's "
    "features carry from the first fusion on (they stay below 64 in float16 for any w in [0, 1])",
)

CODEFORMER = register(
    ModelSpec(
        name="codeformer",
        family="codeformer",
        role="restorer",
        summary="CodeFormer v0.1.0: codebook lookup transformer with a fidelity knob (official weights)",
        licence="S-Lab License 1.0 (non-commercial use only; Copyright 2022 S-Lab)",
        input_size=512,
        color_order="RGB",
        input_range=(-1.0, 1.0),  # (x / 255 - 0.5) / 0.5, as inference_codeformer.py
        output_range=(-1.0, 1.0),  # clamp, then (y + 1) / 2 * 255
        weights=(CODEFORMER_PTH,),
        options=(
            ModelOption(
                "fidelity",
                0.5,
                0.0,
                1.0,
                "fidelity weight w: 0 = codebook only (quality), 1 = closest to the input",
                checked_values=(0.0, 0.5, 1.0),
            ),
        ),
        precision_policy=PRECISION_POLICY,
        onnx_files=("model.onnx", "model.fp16.onnx"),
        exporter="codeformer",
        # 2: GroupNorm written out with short reductions (export/families/codeformer/group_norm.py);
        # 3: the encoder and codebook pinned in float32 in the FP16 graph (code selection)
        graph_version=3,
    )
)
