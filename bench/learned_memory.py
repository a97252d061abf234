"""Peak memory of one face through a restorer, measured in a fresh process.

``python bench/learned_memory.py ort MODEL.onnx SIZE [--threads 2]`` loads the ONNX file into
facert's :class:`~facert.backends.ort.OrtSession` and runs one (1, 3, SIZE, SIZE) face;
``python bench/learned_memory.py torch CHECKPOINT LABEL`` loads the fill checkpoint into the faithful
module of bench model LABEL (``torch.load`` then ``load_state_dict``, as the official loaders do) and
runs one face in eager mode (``no_grad``, float32). Either prints one JSON line: the resident set
size peak (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) after the imports (``baseline``) and at
the end (``peak``), in MiB. :func:`measure` runs it as a subprocess and returns that dict.

The measuring process is a fork of the started one: Linux carries a process's ``ru_maxrss`` across
``execve``, so a process started by a large parent (this benchmark, holding models) would report the
parent's size; a fork starts its own count from its own (small) memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import traceback
from pathlib import Path


def rss_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def measure(mode: str, *arguments: str) -> dict[str, float]:
    """Run this file in a fresh Python process and return its measurement."""
    command = [sys.executable, str(Path(__file__).resolve()), mode, *arguments]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"memory probe failed: {' '.join(command)}\n{result.stderr[-2000:]}")
    values: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return values


def probe_ort(path: Path, size: int, threads: int) -> dict[str, float]:
    import numpy as np
    import onnxruntime  # noqa: F401  (imported before the baseline, as torch is in probe_torch)

    from facert.backends.ort import OrtSession

    baseline = rss_peak_mib()
    session = OrtSession(path, threads=threads).open()
    loaded = rss_peak_mib()
    feed = {name: np.full((1,), 0.5, np.float32) for name in session.input_names[1:]}
    feed[session.input_names[0]] = np.zeros((1, 3, size, size), np.float32)
    session.run(feed)
    peak = rss_peak_mib()
    session.close()
    return {"baseline": baseline, "loaded": loaded, "peak": peak}


def probe_torch(checkpoint: Path, label: str) -> dict[str, float]:
    import torch
    from learned_models import BY_LABEL

    torch.set_num_threads(2)
    model = BY_LABEL[label]
    with torch.device("meta"):
        model.build()  # imports the family's modules before the baseline, allocates nothing
    baseline = rss_peak_mib()
    payload = torch.load(checkpoint, map_location="cpu", weights_only=True)
    weight = model.spec.weights[0]
    state = payload[weight.state_dict_keys[0]] if weight.state_dict_keys else payload
    prefix = len(weight.strip_prefix)
    module = model.build()
    module.load_state_dict({k[prefix:]: v for k, v in state.items()}, strict=True)
    del payload, state
    loaded = rss_peak_mib()
    size = model.spec.input_size
    with torch.no_grad():
        model.call(module.eval(), torch.zeros(1, 3, size, size))
    return {"baseline": baseline, "loaded": loaded, "peak": rss_peak_mib()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["ort", "torch"])
    parser.add_argument("path", type=Path, help="model.onnx (ort) or the fill checkpoint (torch)")
    parser.add_argument("what", help="input size (ort) or bench model label (torch)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    child = os.fork()
    if child:
        _, status = os.waitpid(child, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
    try:
        if args.mode == "ort":
            values = probe_ort(args.path, int(args.what), args.threads)
        else:
            values = probe_torch(args.path, args.what)
        print(json.dumps(values), flush=True)
    except BaseException:
        traceback.print_exc()
        os._exit(1)
    os._exit(0)


if __name__ == "__main__":
    main()
