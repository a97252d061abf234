"""TensorRT engines built from facert's ONNX exports (build time; needs a TensorRT flavour).

- :mod:`.flavour`: TensorRT for RTX and enterprise TensorRT, and every API difference between them;
- :mod:`.profiles`: the optimization profile (batch, P-Net's height and width);
- :mod:`.layers`: per-layer precisions and the check that the FP32 pins held;
- :mod:`.builder`: :class:`TrtCompiler`, the ``trt-plan`` compiler.

The runtime reaches this package only through :mod:`facert.models.trt_plans` (``facert models
build``); running a plan is :mod:`facert.backends.trt`'s.
"""
