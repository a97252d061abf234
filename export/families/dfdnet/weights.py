"""Deterministic DFDNet weights in the official layout, for parity tests and goldens.

:func:`dfdnet_state_dict` turns the plain fill (:mod:`facert.export.harness.fill`, values from the
key names alone) of the official state dict into weights shaped like a trained file's:

- ``VggExtract.RGB_mean`` / ``RGB_std``: ImageNet's mean and std, what the official file holds;
- VGG19 conv weights x sqrt(2) (He scaling: the plain fill shrinks activations by half a power
  per ReLU, so 16 layers would leave conv5_4 near the AdaIN epsilon);
- spectral norm: ``weight_u``, ``weight_v`` from 30 power iterations (float64) started at the
  fill, what training leaves stored: sigma is then the largest singular value (the raw fill can
  make sigma ~ 0 or < 0; one step from it leaves sigma ~ |W v| for a random v, about a third of
  it, and activations grow 3x per layer);
- ``VggExtract.model.features.{j}.*`` equal to ``VggExtract.features.{i}.{j}.*`` (one tensor
  registered twice in the official module, so one value in a real file).

Only torch and the key names: the golden recipe loads this file by path in its scratch venv and
applies it to the official module's own fill.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
POWER_ITERATIONS = 30
_VGG = re.compile(r"^VggExtract\.features\.\d+\.(\d+)\.(weight|bias)$")


def dfdnet_state_dict(filled: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``filled`` (the plain fill of the official keys, or of the used ones) made trained-like."""
    state = {key: value.clone() for key, value in filled.items()}
    if "VggExtract.RGB_mean" in state:
        state["VggExtract.RGB_mean"] = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        state["VggExtract.RGB_std"] = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    for key in list(state):
        match = _VGG.match(key)
        if match is None:
            continue
        if match.group(2) == "weight":
            state[key] = state[key] * math.sqrt(2.0)
        twin = f"VggExtract.model.features.{match.group(1)}.{match.group(2)}"
        if twin in state:
            state[twin] = state[key].clone()
    for key in [k for k in state if k.endswith(".weight_orig")]:
        prefix = key[: -len("weight_orig")]
        weight = state[key].reshape(state[key].shape[0], -1).double()
        v = state[prefix + "weight_v"].double()
        v = v / v.norm()
        for _ in range(POWER_ITERATIONS):
            u = weight @ v
            u = u / u.norm()
            v = weight.T @ u
            v = v / v.norm()
        state[prefix + "weight_v"] = v.float()
        state[prefix + "weight_u"] = u.float()
    return state
