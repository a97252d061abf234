"""facert.export: the build-time half (needs torch and onnx, the ``export`` extra).

PyTorch re-implementations of every network that load the official checkpoints unchanged, their
export to ONNX with a parity check, and the manifest of every artifact. The runtime never imports
this package except to build an artifact on request (``facert models export``).
"""
