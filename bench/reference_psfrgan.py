"""The official PSFR-GAN networks timed per face, for bench_learned.py's side-by-side rows.

Runs in a scratch environment with torch and numpy only (facert is not needed there), on a copy of
chaofengc/PSFRGAN (``--psfrgan``): the official ``models`` package, whose ``utils.utils`` and
``models.loss`` imports (image I/O, torchvision's VGG for training) are replaced by empty stand-ins,
as tests/golden/psfrgan/recipe/make_golden.py does; nothing of theirs is changed. The networks are
built the official way at 512 (``define_P``, ``define_G(use_norm='spectral_norm')``, eval mode) with
facert's deterministic fill (export/harness/fill.py, loaded by path: cost does not depend on the
values) and run as ``enhance_faces`` does: ParseNet, the one-hot of the max, the generator, in
PyTorch eager under ``no_grad`` on ``--threads`` threads. One warm-up, then ``--runs`` runs of each
step in turn; prints one JSON line of medians in seconds: parsenet, generator, path (all three).

    /path/to/scratch/python bench/reference_psfrgan.py --psfrgan /path/to/PSFRGAN [--threads 2]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
import types
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def official(repo: Path) -> types.ModuleType:
    """The official ``models.networks`` module."""
    utils = types.ModuleType("utils")
    utils.utils = types.ModuleType("utils.utils")  # type: ignore[attr-defined]
    loss = types.ModuleType("models.loss")
    loss.PCPFeat = None  # type: ignore[attr-defined]
    sys.modules.update({"utils": utils, "utils.utils": utils.utils, "models.loss": loss})
    sys.path.insert(0, str(repo))
    from models import networks

    return networks


def fill_module() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("facert_fill", REPO / "export/harness/fill.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--psfrgan", type=Path, required=True, help="a copy of chaofengc/PSFRGAN")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    networks, fill = official(args.psfrgan), fill_module()
    opt = types.SimpleNamespace(Pnorm="bn", Gnorm="spade", Gin_size=512, Gout_size=512, gpu_ids=[])
    netP = networks.define_P(opt, isTrain=False)
    netG = networks.define_G(opt, isTrain=False, use_norm="spectral_norm")
    netP.load_state_dict(fill.deterministic_state_dict(netP))
    netG.load_state_dict(fill.spectral_state_dict(netG), strict=False)
    netP.eval(), netG.eval()
    lq = torch.rand(1, 3, 512, 512) * 2 - 1

    def path() -> torch.Tensor:
        parse_map, _ = netP(lq)
        onehot = (parse_map == parse_map.max(dim=1, keepdim=True)[0]).float()
        return netG(lq, onehot)

    with torch.no_grad():
        parse_map, _ = netP(lq)
        onehot = (parse_map == parse_map.max(dim=1, keepdim=True)[0]).float()
        steps = {"parsenet": lambda: netP(lq), "generator": lambda: netG(lq, onehot), "path": path}
        times: dict[str, list[float]] = {name: [] for name in steps}
        for run in range(args.runs + 1):
            for name, step in steps.items():
                start = time.perf_counter()
                step()
                if run:  # the first round warms up
                    times[name].append(time.perf_counter() - start)
    print(json.dumps({name: statistics.median(values) for name, values in times.items()}))


if __name__ == "__main__":
    main()
