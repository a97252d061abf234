"""DFDNet (csxmli2016/DFDNet, branch ``whole``, ``UNetDictFace(64)``): a faithful port.

Same state-dict names and shapes as the official module for every tensor the network uses, so
``latest_net_G.pth`` loads unchanged; the official file also holds tensors the network never
uses, which :func:`load_dfdnet` checks (names and shapes) and leaves out, as the official
non-strict loader keeps them but never runs them (:data:`UNUSED_PREFIXES`).

Per face: VGG19 features of the 512 crop at 256/128/64/32 (:class:`~.layers.VGGFeat`); at each
scale, for each part (left eye, right eye, nose, mouth) the box's feature crop is bilinearly
resized to the dictionary's entry size, the dictionary AdaIN-ed to it (unbiased variance + 1e-5),
scored by a convolution with the crop, the best entry (softmax, argmax) nearest-resized back, and
``attention(entry - crop) * entry + crop`` written back into the features (parts in order, a later
part overwriting an earlier one where boxes overlap); MSDilate on conv5_4, four StyledUpBlocks
driven by the updated features (32 -> 512), the up4 head, Tanh.

``forward(image, boxes)``: image (N, 3, 512, 512) RGB [-1, 1]; boxes (N, 4, 4), per part
(x1, y1, x2, y2) integers in crop pixels (the official ``get_part_location``); faces one at a
time, as the official code (batch 1). The deployable form is :mod:`.export`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from facert.errors import WeightsError
from facert.export.families.dfdnet.dictionaries import (
    CHANNELS,
    FEATURE_SIZES,
    PARTS,
    PREFIXES,
    Dictionaries,
)
from facert.export.families.dfdnet.layers import (
    LEAKY,
    MSDilateBlock,
    SNConv2d,
    StyledUpBlock,
    UpResBlock,
    VGGFeat,
    attention_block,
)
from facert.export.harness.checkpoint import describe_mismatch

NGF = 64
# Official tensors the network never uses: torchvision's whole VGG19 (``VggExtract.model.*``:
# the features again under another name, the same tensors, and the 123.6 M-parameter
# classifier) and the to_rgb0..3 heads (their calls are commented out in the official forward).
UNUSED_PREFIXES = ("VggExtract.model.", "to_rgb")


def calc_mean_std(feat: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """The official ``calc_mean_std_4D``: per (N, C) mean and sqrt(unbiased var + eps)."""
    n, c = feat.shape[:2]
    flat = feat.reshape(n, c, -1)
    return flat.mean(2).view(n, c, 1, 1), (flat.var(2) + eps).sqrt().view(n, c, 1, 1)


def adain(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """The official ``adaptive_instance_normalization_4D`` (content: the dictionary)."""
    style_mean, style_std = calc_mean_std(style)
    content_mean, content_std = calc_mean_std(content)
    return (content - content_mean) / content_std * style_std + style_mean


def dictionary_part(crop: torch.Tensor, entries: torch.Tensor, block: nn.Module) -> torch.Tensor:
    """The official step on one part's feature ``crop`` (1, C, h, w) with its dictionary
    ``entries`` (K, C, S, S) and attention ``block``: the new values of the crop."""
    resized = F.interpolate(crop, entries.shape[2:], mode="bilinear", align_corners=False)
    normed = adain(entries, resized)
    score = F.softmax(F.conv2d(resized, normed).view(-1), dim=0)
    index = int(torch.argmax(score))
    swap = F.interpolate(normed[index : index + 1], (crop.shape[2], crop.shape[3]))
    return block(swap - crop) * swap + crop


class DFDNet(nn.Module):
    """The official ``UNetDictFace(64)``; dictionaries as non-persistent buffers ``dict_{part}_{size}``."""

    def __init__(self, dictionaries: Dictionaries) -> None:
        super().__init__()
        for prefix, _part in zip(PREFIXES, PARTS, strict=True):
            for size, channels in zip(FEATURE_SIZES, CHANNELS, strict=True):
                self.add_module(f"{prefix}_{size}", attention_block(channels))
        self.VggExtract = VGGFeat()
        self.MSDilate = MSDilateBlock(NGF * 8)
        self.up0 = StyledUpBlock(NGF * 8, NGF * 8)
        self.up1 = StyledUpBlock(NGF * 8, NGF * 4)
        self.up2 = StyledUpBlock(NGF * 4, NGF * 2)
        self.up3 = StyledUpBlock(NGF * 2, NGF)
        self.up4 = nn.Sequential(
            SNConv2d(NGF, NGF),
            nn.LeakyReLU(LEAKY),
            UpResBlock(NGF),
            UpResBlock(NGF),
            nn.Conv2d(NGF, 3, 3, 1, 1),
            nn.Tanh(),
        )
        for (part, size), array in dictionaries.items():
            self.register_buffer(f"dict_{part}_{size}", torch.from_numpy(array), persistent=False)

    def dictionary(self, part: str, size: int) -> torch.Tensor:
        return getattr(self, f"dict_{part}_{size}")

    def update(self, feature: torch.Tensor, size: int, boxes: torch.Tensor) -> torch.Tensor:
        """``feature`` (1, C, f, f) with the four parts' dictionary features written in;
        ``boxes`` (4, 4) int64 in 512 pixels."""
        updated = feature.clone()
        for prefix, part, box in zip(PREFIXES, PARTS, boxes, strict=True):
            x1, y1, x2, y2 = (int(v) for v in torch.div(box, 512 // size, rounding_mode="floor"))
            block = getattr(self, f"{prefix}_{size}")
            crop = feature[:, :, y1:y2, x1:x2]
            updated[:, :, y1:y2, x1:x2] = dictionary_part(crop, self.dictionary(part, size), block)
        return updated

    def forward(self, image: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        outputs = []
        for row in range(image.shape[0]):
            taps = self.VggExtract(image[row : row + 1])
            face_boxes = boxes[row].to(torch.int64)
            styles = [
                self.update(t, s, face_boxes) for t, s in zip(taps, FEATURE_SIZES, strict=True)
            ]
            x = self.MSDilate(taps[3])
            x = self.up0(x, styles[3])
            x = self.up1(x, styles[2])
            x = self.up2(x, styles[1])
            x = self.up3(x, styles[0])
            outputs.append(self.up4(x))
        return torch.cat(outputs)


def used_state(
    state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """``state`` without the official unused tensors (their names returned); other extras stay
    (and fail the key check)."""
    unused = [k for k in state if k.startswith(UNUSED_PREFIXES) and k not in expected]
    return {k: v for k, v in state.items() if k not in unused}, unused


def load_dfdnet(
    state: Mapping[str, torch.Tensor], dictionaries: Dictionaries, path: Path | None = None
) -> DFDNet:
    """A :class:`DFDNet` holding ``state`` (the official file's tensors; the unused ones are
    dropped), eval mode. :class:`WeightsError` (naming ``path``) when a used key or shape
    differs, or an unused official tensor has the wrong shape."""
    model = DFDNet(dictionaries)
    expected = model.state_dict()
    used, unused = used_state(state, expected)
    problem = describe_mismatch(expected, used) or unused_mismatch(state, unused)
    if problem:
        raise WeightsError(
            f"keys do not match DFDNet's UNetDictFace: {problem}",
            path=str(path) if path is not None else None,
        )
    model.load_state_dict(used, strict=True)
    return model.eval()


def unused_mismatch(state: Mapping[str, torch.Tensor], unused: list[str]) -> str | None:
    """A wrong shape among the unused official tensors (their names and shapes: :data:`UNUSED`)."""
    wrong = [k for k in unused if k in UNUSED and tuple(state[k].shape) != UNUSED[k]]
    unknown = [k for k in unused if k not in UNUSED]
    if wrong or unknown:
        return f"unexpected or misshapen: {', '.join((wrong + unknown)[:3])}"
    return None


def _unused_shapes() -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    with torch.device("meta"):
        vgg = VGGFeat()
    for key, tensor in vgg.state_dict().items():
        if key.startswith("features."):
            _, _block, index, leaf = key.split(".")
            shapes[f"VggExtract.model.features.{index}.{leaf}"] = tuple(tensor.shape)
    for index, (cout, cin) in {0: (4096, 25088), 3: (4096, 4096), 6: (1000, 4096)}.items():
        shapes[f"VggExtract.model.classifier.{index}.weight"] = (cout, cin)
        shapes[f"VggExtract.model.classifier.{index}.bias"] = (cout,)
    for index, channels in enumerate((NGF * 8, NGF * 4, NGF * 2, NGF)):
        for layer, cout in ((0, channels), (2, 3)):
            prefix = f"to_rgb{index}.{layer}."
            shapes[prefix + "bias"] = (cout,)
            shapes[prefix + "weight_orig"] = (cout, channels, 3, 3)
            shapes[prefix + "weight_u"] = (cout,)
            shapes[prefix + "weight_v"] = (channels * 9,)
    return shapes


UNUSED: dict[str, tuple[int, ...]] = _unused_shapes()


def official_shapes() -> dict[str, tuple[int, ...]]:
    """Every key of the official state dict and its shape: the used ones and :data:`UNUSED`."""
    with torch.device("meta"):
        model = DFDNet({})
    return {**{k: tuple(v.shape) for k, v in model.state_dict().items()}, **UNUSED}
