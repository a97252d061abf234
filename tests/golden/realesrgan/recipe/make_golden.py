"""Golden data for the Real-ESRGAN RRDBNet port, from the OFFICIAL BasicSR RRDBNet (see ../README.md).

Run in a scratch environment outside the repository (torch, numpy, opencv), with a BasicSR checkout:

    python tests/golden/realesrgan/recipe/make_golden.py --basicsr DIR --photo grace_hopper.jpg

``DIR`` holds ``basicsr/archs/rrdbnet_arch.py`` and ``basicsr/archs/arch_util.py`` as published.
``arch_util.py`` imports torchvision and BasicSR's compiled ops at module level, so only the three
functions ``rrdbnet_arch.py`` uses (``default_init_weights``, ``make_layer``, ``pixel_unshuffle``) are
taken from it, by their source text, unchanged; ``ARCH_REGISTRY.register()`` is a no-op decorator.
Weights: ``export/harness/fill.py`` (values from the key names alone, so our port gets the same).
Writes ``golden.npz`` and ``keys_x2.txt``, ``keys_x4.txt`` next to ../README.md.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import torch

HERE = Path(__file__).resolve().parent
GOLDEN = HERE.parent
REPO = GOLDEN.parents[2]
SIZE = (40, 48)  # (width, height) of the input: the whole photo, INTER_AREA
# output name prefix: (num_feat, num_block, num_grow_ch); "" is Real-ESRGAN's, "small_" a reduced one
CONFIGS = {"": (64, 23, 32), "small_": (16, 2, 8)}


def load_by_path(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def official_rrdbnet(basicsr: Path) -> type:
    """The official RRDBNet class, its module run with the three arch_util functions it needs."""
    util_source = (basicsr / "basicsr/archs/arch_util.py").read_text()
    wanted = {"default_init_weights", "make_layer", "pixel_unshuffle"}
    tree = ast.parse(util_source)
    parts = [
        ast.get_source_segment(util_source, n)
        for n in tree.body
        if getattr(n, "name", "") in wanted
    ]
    util = types.ModuleType("basicsr.archs.arch_util")
    exec(
        "import torch\nfrom torch import nn\nfrom torch.nn import init\nfrom torch.nn.modules.batchnorm import _BatchNorm\n"
        + "\n\n".join(parts),
        util.__dict__,
    )
    registry = types.ModuleType("basicsr.utils.registry")
    registry.ARCH_REGISTRY = types.SimpleNamespace(register=lambda: lambda cls: cls)
    for name in ("basicsr", "basicsr.utils", "basicsr.archs"):
        sys.modules[name] = types.ModuleType(name)
    sys.modules["basicsr.utils.registry"] = registry
    sys.modules["basicsr.archs.arch_util"] = util
    source = (basicsr / "basicsr/archs/rrdbnet_arch.py").read_text()
    source = source.replace("from .arch_util import", "from basicsr.archs.arch_util import")
    module = types.ModuleType("basicsr.archs.rrdbnet_arch")
    exec(compile(source, "rrdbnet_arch.py", "exec"), module.__dict__)
    return module.RRDBNet


def write_keys(model: torch.nn.Module, path: Path) -> None:
    lines = [
        f"{key}\t{tuple(value.shape)}\t{str(value.dtype).removeprefix('torch.')}"
        for key, value in model.state_dict().items()
    ]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--basicsr", type=Path, required=True)
    parser.add_argument("--photo", type=Path, required=True)
    args = parser.parse_args()
    rrdbnet = official_rrdbnet(args.basicsr)
    fill = load_by_path("facert_fill", REPO / "export" / "harness" / "fill.py")
    photo = cv2.resize(cv2.imread(str(args.photo)), SIZE, interpolation=cv2.INTER_AREA)
    # RealESRGANer.pre_process: /255, BGR -> RGB, (1, 3, H, W) float32.
    image = torch.from_numpy(photo[:, :, ::-1].astype(np.float32).transpose(2, 0, 1) / 255.0)[None]
    arrays = {"input": image.numpy()}
    for scale in (2, 4):
        with torch.device("meta"):
            write_keys(
                rrdbnet(3, 3, scale=scale, num_feat=64, num_block=23, num_grow_ch=32),
                GOLDEN / f"keys_x{scale}.txt",
            )
        for prefix, (feat, blocks, grow) in CONFIGS.items():
            model = rrdbnet(3, 3, scale=scale, num_feat=feat, num_block=blocks, num_grow_ch=grow)
            model.load_state_dict(fill.deterministic_state_dict(model), strict=True)
            with torch.no_grad():
                first, second = model.eval()(image), model(image)
            assert torch.equal(first, second)  # deterministic
            arrays[f"{prefix}x{scale}_output"] = first.numpy()
            print(
                f"{prefix}x{scale}: output {tuple(first.shape)}, range [{first.min():.3f}, {first.max():.3f}], std {first.std():.3f}"
            )
    np.savez_compressed(GOLDEN / "golden.npz", **arrays)
    print(f"torch {torch.__version__}, numpy {np.__version__}, opencv {cv2.__version__}")


if __name__ == "__main__":
    main()
