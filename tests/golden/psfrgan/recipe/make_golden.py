"""Golden outputs and key lists of the OFFICIAL PSFR-GAN networks (run in a scratch env).

Imports chaofengc/PSFRGAN's own ``models`` package from a copy of the official repository; its
``utils.utils`` (cv2, scikit-image, PIL: image I/O and colour maps) and ``models.loss`` (torchvision
VGG, training only) are replaced in ``sys.modules`` by empty stand-ins before the import, as nothing
they hold is used by ParseNet, PSFRGenerator, ``define_P`` or ``define_G``; no file of theirs is
changed. Weights come from facert's ``export/harness/fill.py`` (values from the key names alone, so
our port gets identical weights): ``deterministic_state_dict`` for ParseNet, ``spectral_state_dict``
for the generator (spectral-norm u and v from power iterations on the filled weight). They are
written to temporary files and loaded the official way: ``define_P(opt, weight_path=...)``
(``torch.load`` + strict ``load_state_dict``) and ``define_G(opt, use_norm='spectral_norm')`` +
``load_state_dict(torch.load(...), strict=False)`` (``EnhanceModel.load_pretrain_models``). The
input is grace_hopper_512.png (RGB, t / 255 * 2 - 1, as ``enhance_faces``), for the small
configuration (64) the mean of its 8 x 8 blocks; the test-time path is ``enhance_faces``' own:
parse_map = netP(lq)[0]; one-hot = (parse_map == max over classes).float(); output = netG(lq,
one-hot).

    python tests/golden/psfrgan/recipe/make_golden.py --psfrgan /path/to/PSFRGAN

writes golden.npz and keys_generator.txt / keys_parsenet.txt (the official classes built on the meta
device) into --out. bench/reference_psfrgan.py times the same official networks.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[4]
FACE = REPO / "tests" / "data" / "faces" / "grace_hopper_512.png"
SMALL = 64


def load_by_path(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def official(repo: Path):
    """The official ``models.networks`` and ``models.psfrnet`` modules."""
    utils = types.ModuleType("utils")
    utils.utils = types.ModuleType("utils.utils")
    loss = types.ModuleType("models.loss")
    loss.PCPFeat = None
    sys.modules.update({"utils": utils, "utils.utils": utils.utils, "models.loss": loss})
    sys.path.insert(0, str(repo))
    from models import networks, psfrnet

    return networks, psfrnet


def options(size: int) -> types.SimpleNamespace:
    return types.SimpleNamespace(
        Pnorm="bn", Gnorm="spade", Gin_size=size, Gout_size=size, gpu_ids=[]
    )


def nets(networks, psfrnet, fill, size: int, folder: Path):
    """(netP, netG) built and loaded the official way, with the fill's weights."""
    if size == 512:
        netP = networks.define_P(options(size), isTrain=False)
        netG = networks.define_G(options(size), isTrain=False, use_norm="spectral_norm")
    else:  # the official classes at a small size and width (define_P/define_G fix the widths)
        netP = networks.ParseNet(
            size,
            size,
            16,
            16,
            19,
            res_depth=2,
            relu_type="LeakyReLU",
            norm_type="bn",
            ch_range=[8, 32],
        )
        netG = psfrnet.PSFRGenerator(
            3,
            3,
            in_size=size,
            out_size=size,
            relu_type="LeakyReLU",
            parse_ch=19,
            norm_type="spade",
            ch_range=[16, 64],
        )
        networks.apply_norm(netG, "spectral_norm")
    torch.save(fill.deterministic_state_dict(netP), folder / "P.pth")
    torch.save(fill.spectral_state_dict(netG), folder / "G.pth")
    netP.load_state_dict(torch.load(folder / "P.pth"))
    result = netG.load_state_dict(torch.load(folder / "G.pth"), strict=False)
    assert not result.missing_keys and not result.unexpected_keys, result
    return netP.eval(), netG.eval()


def face(size: int) -> torch.Tensor:
    """(1, 3, S, S) float32: enhance_faces' t / 255 * 2 - 1 of the RGB face; the small size is
    the mean of each 8 x 8 block of that (stored in the golden as ``small_input``)."""
    from PIL import Image

    rgb = np.asarray(Image.open(FACE).convert("RGB"))
    lq = (torch.tensor(rgb.transpose(2, 0, 1).copy()) / 255.0 * 2 - 1).unsqueeze(0).float()
    return lq if size == 512 else torch.nn.functional.avg_pool2d(lq, 512 // size)


def enhance(netP, netG, lq: torch.Tensor):
    with torch.no_grad():
        parse_map, _ = netP(lq)
        onehot = (parse_map == parse_map.max(dim=1, keepdim=True)[0]).float()
        return parse_map, onehot, netG(lq, onehot)


def key_rows(module: torch.nn.Module) -> str:
    rows = [
        f"{k}\t{tuple(v.shape)}\t{str(v.dtype).removeprefix('torch.')}"
        for k, v in module.state_dict().items()
    ]
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--psfrgan", type=Path, required=True, help="a copy of chaofengc/PSFRGAN")
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "golden" / "psfrgan")
    args = parser.parse_args()
    torch.set_num_threads(2)
    fill = load_by_path("facert_fill", REPO / "export" / "harness" / "fill.py")
    networks, psfrnet = official(args.psfrgan)
    with torch.device("meta"):
        (args.out / "keys_parsenet.txt").write_text(key_rows(networks.define_P(options(512))))
        netG = networks.define_G(options(512), use_norm="spectral_norm")
        (args.out / "keys_generator.txt").write_text(key_rows(netG))
    arrays = {}
    with tempfile.TemporaryDirectory() as folder:
        for size in (SMALL, 512):
            netP, netG = nets(networks, psfrnet, fill, size, Path(folder))
            lq = face(size)
            logits, onehot, out = enhance(netP, netG, lq)
            classes = int((onehot.sum(1) > 0).sum()), int(onehot.sum(1).max())
            print(
                size,
                "classes used",
                len(onehot[0].sum((1, 2)).nonzero()),
                "max ties",
                classes[1],
                "out range",
                float(out.min()),
                float(out.max()),
                "std",
                float(out.std()),
            )
            name = "small" if size == SMALL else "full"
            arrays[f"{name}_labels"] = logits.argmax(1).numpy().astype(np.uint8)
            if size == SMALL:
                arrays["small_input"], arrays["small_output"] = lq.numpy(), out.numpy()
                arrays["small_logits"] = logits.numpy()
            else:
                arrays["full_output"] = out.numpy().astype(np.float16)
                arrays["full_center"] = out[:, :, 224:288, 224:288].numpy().copy()
    np.savez_compressed(args.out / "golden.npz", **arrays)


if __name__ == "__main__":
    main()
