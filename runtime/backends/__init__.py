"""Inference backends. ``ort`` (ONNX Runtime) runs everywhere; ``trt`` arrives with the GPU work."""

from facert.backends.ort import OrtSession

__all__ = ["OrtSession"]
