"""Where ONNX Runtime spends a learned restorer's time, and how fast this machine multiplies.

:func:`ort_profile` runs one ``model.onnx`` with ONNX Runtime's profiler, under the session options
of facert's :class:`~facert.backends.ort.OrtSession` (intra-op threads, no spinning, all graph
optimisations: convolutions become NCHWc ``Conv`` nodes), and returns the milliseconds per operator
type of one run after a warm-up. :func:`matmul_gflops` times ``torch.mm`` on 4096x4096 float32
matrices: the practical FP32 ceiling of the cores, to compare convolution throughput against.
"""

from __future__ import annotations

import collections
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def ort_profile(path: Path, feed: dict[str, np.ndarray], threads: int) -> dict[str, float]:
    """Milliseconds per operator type (``Conv``, ``ReorderInput``...) of one profiled run."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    with tempfile.TemporaryDirectory() as folder:
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(folder) / "ort")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        session.run(None, feed)
        session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    last_run = max(e["ts"] for e in events if e.get("name") == "model_run")
    totals: collections.Counter[str] = collections.Counter()
    for event in events:
        kernel = event.get("cat") == "Node" and event["name"].endswith("_kernel_time")
        if kernel and event["ts"] >= last_run:
            totals[event["args"]["op_name"]] += event["dur"] / 1000.0
    return dict(totals.most_common())


def matmul_gflops(threads: int, repeats: int = 5) -> float:
    """The fastest of ``repeats`` 4096^3 float32 products through torch.mm, in GFLOP/s."""
    import torch

    torch.set_num_threads(threads)
    left, right = torch.randn(4096, 4096), torch.randn(4096, 4096)
    torch.mm(left, right)
    fastest = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(left, right)
        fastest = min(fastest, time.perf_counter() - start)
    return 2 * 4096**3 / fastest / 1e9
