"""Deterministic weights for parity tests: every tensor filled from its state-dict key alone.

The same key gives the same values in our modules and in the official code, so both can be run with
identical weights without any checkpoint. Rules (``key`` = the state-dict name, ``leaf`` = its last
part, values drawn from a standard normal generator seeded by the first 8 bytes of sha256(key)):

- integer tensors (``num_batches_tracked``): zeros;
- ``running_var``: ``1 + 0.1 * |z|`` (positive); ``running_mean``: ``0.1 * z``;
- tensors of 2 or more dimensions whose leaf ends in ``weight``: ``z / sqrt(fan_in)`` with
  ``fan_in = prod(shape[1:])`` (conv and linear weights, embeddings, codebooks);
- 1-D tensors whose leaf ends in ``weight`` (norm scales, noise strengths): ``1 + 0.1 * z``;
- everything else (biases, stored noise maps, constant inputs): ``0.1 * z`` for biases, ``z``
  otherwise.

The draw is made in float64 and cast to the tensor's dtype, so results do not depend on the device.
"""

from __future__ import annotations

import hashlib
import math

import torch


def fill_value(key: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """The deterministic tensor for state-dict entry ``key`` (see the module docstring)."""
    if not dtype.is_floating_point:
        return torch.zeros(shape, dtype=dtype)
    seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little") & (2**63 - 1)
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(shape, generator=generator, dtype=torch.float64)
    leaf = key.rsplit(".", 1)[-1]
    if leaf == "running_var":
        value = 1.0 + 0.1 * z.abs()
    elif leaf == "running_mean":
        value = 0.1 * z
    elif leaf.endswith("weight") and len(shape) >= 2:
        value = z / math.sqrt(math.prod(shape[1:]))
    elif leaf.endswith("weight"):
        value = 1.0 + 0.1 * z
    elif leaf.endswith("bias"):
        value = 0.1 * z
    else:
        value = z
    return value.to(dtype)


def deterministic_state_dict(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A state dict for ``module`` with every entry filled by :func:`fill_value`."""
    return {
        key: fill_value(key, tuple(tensor.shape), tensor.dtype)
        for key, tensor in module.state_dict().items()
    }


def fill_deterministic(module: torch.nn.Module) -> torch.nn.Module:
    """Load :func:`deterministic_state_dict` into ``module`` (strict) and return it."""
    module.load_state_dict(deterministic_state_dict(module), strict=True)
    return module


def equalized_state_dict(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """:func:`deterministic_state_dict` for layers with an equalized learning rate (GPEN's StyleGAN2).

    Such layers multiply their stored ``weight`` by ``scale`` (lr_mul / sqrt(fan_in)) and their
    ``bias`` by ``lr_mul`` at run time, so the plain fill would be scaled twice and every layer would
    shrink its input by sqrt(fan_in). Here the fill gives the *run-time* values: each submodule with
    a float ``scale`` attribute stores ``weight = fill / scale``, each with ``lr_mul`` stores ``bias =
    fill / lr_mul``. Buffers named ``kernel`` (fixed FIR filters, never learned) keep the module's own
    values. The same rules applied to the official module and to a port with the same names and
    attributes give both the same function.
    """
    state = deterministic_state_dict(module)
    own = module.state_dict()
    for key in own:
        if key.rsplit(".", 1)[-1] == "kernel":
            state[key] = own[key].detach().clone()
    for name, submodule in module.named_modules():
        prefix = f"{name}." if name else ""
        scale = getattr(submodule, "scale", None)
        if isinstance(scale, float) and f"{prefix}weight" in state:
            state[f"{prefix}weight"] = state[f"{prefix}weight"] / scale
        lr_mul = getattr(submodule, "lr_mul", None)
        if isinstance(lr_mul, float | int) and f"{prefix}bias" in state:
            state[f"{prefix}bias"] = state[f"{prefix}bias"] / lr_mul
    return state


SPECTRAL_POWER_STEPS = 5  # power iterations giving the fill's u and v (float64)


def spectral_state_dict(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """:func:`deterministic_state_dict` for convs under torch's spectral_norm (PSFR-GAN's generator).

    The plain fill would give ``weight_orig``, ``weight_u`` and ``weight_v`` standard normal values,
    so sigma = u . (W v) is a random number near zero and the eval-mode weight W / sigma explodes.
    Here each ``<prefix>weight_orig`` holds the fill of ``<prefix>weight`` (an ordinary conv weight),
    and u, v come from :data:`SPECTRAL_POWER_STEPS` power iterations on it started from the fill of
    ``<prefix>weight_u`` (what training leaves: sigma is about W's largest singular value).
    """
    state = deterministic_state_dict(module)
    for key in [k for k in state if k.endswith("weight_orig")]:
        prefix = key[: -len("weight_orig")]
        weight = fill_value(f"{prefix}weight", tuple(state[key].shape), state[key].dtype)
        matrix = weight.to(torch.float64).flatten(1)
        u = fill_value(f"{prefix}weight_u", (matrix.shape[0],), torch.float64)
        u = u / u.norm()
        v = matrix.T @ u
        for _ in range(SPECTRAL_POWER_STEPS):
            v = matrix.T @ u
            v = v / v.norm()
            u = matrix @ v
            u = u / u.norm()
        state[key] = weight
        state[f"{prefix}weight_u"] = u.to(weight.dtype)
        state[f"{prefix}weight_v"] = v.to(weight.dtype)
    return state
