"""Loading official checkpoints: weights_only, the checkpoint's own key, strict keys and shapes.

Every learned family loads its file through :func:`load_state_dict` and :func:`load_strict`, so a
wrong or damaged file always fails the same way: one line naming the file and what differs.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch

from facert.errors import WeightsError
from facert.models.registry import WeightFile


def load_state_dict(path: Path, weight: WeightFile) -> dict[str, torch.Tensor]:
    """Read ``path`` with ``torch.load(weights_only=True)`` and unwrap it as ``weight`` says.

    ``weight.state_dict_keys`` are tried in order (``params_ema`` then ``params``...); with none the
    file is the state dict itself. ``weight.strip_prefix`` is removed from keys that carry it, and
    keys without it are dropped (a RestoreFormer++ file holds ``vqvae.*`` plus training extras).
    """
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError("no such file", path=str(path)) from None
    except (
        pickle.UnpicklingError,
        RuntimeError,
        EOFError,
        zipfile.BadZipFile,
        ValueError,
        KeyError,  # a legacy (non-zip) file whose first pickle is not torch's magic number
    ) as exc:
        raise WeightsError(
            f"not a loadable torch checkpoint ({_load_failure(exc)})", path=str(path)
        ) from None
    if not isinstance(raw, Mapping):
        raise WeightsError(
            f"expected a dict of tensors, found {type(raw).__name__}", path=str(path)
        )
    state: object = raw
    if weight.state_dict_keys:
        found = next((k for k in weight.state_dict_keys if k in raw), None)
        if found is None:
            bare = bool(raw) and all(isinstance(v, torch.Tensor) for v in raw.values())
            hint = (
                f"; it is a bare state dict: save it as {{{weight.state_dict_keys[0]!r}: "
                "state_dict} (what the official loader reads)"
                if bare
                else ""
            )
            raise WeightsError(
                f"none of the keys {list(weight.state_dict_keys)} in the checkpoint "
                f"(top-level keys: {sorted(map(str, raw))[:3]}){hint}",
                path=str(path),
            )
        state = raw[found]
    if not isinstance(state, Mapping):
        raise WeightsError("the state dict is not a dict of tensors", path=str(path))
    if weight.strip_prefix:
        prefix = weight.strip_prefix
        state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    tensors = {str(k): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if len(tensors) != len(state):
        raise WeightsError("the state dict holds entries that are not tensors", path=str(path))
    if any(tensor.is_meta for tensor in tensors.values()):
        raise WeightsError("the tensors hold no data (saved from the meta device)", path=str(path))
    return tensors


def _load_failure(error: Exception) -> str:
    """The useful part of torch.load's error, one line: the weights-only unpickler's own reason
    (not torch's advice to retry with ``weights_only=False``), else the first sentence."""
    text = " ".join(str(error).split())
    marker = "WeightsUnpickler error:"
    if marker in text:
        reason = text.split(marker, 1)[1].split(" Check the documentation", 1)[0]
        reason = reason.split(". Please", 1)[0].strip()
        return f"torch.load(weights_only=True) refused it: {reason[:160]}"
    first = text.split(". ", 1)[0].rstrip(".")
    return first[:200] or type(error).__name__


def describe_mismatch(
    expected: Mapping[str, torch.Tensor], found: Mapping[str, torch.Tensor], limit: int = 3
) -> str | None:
    """A short description of key/shape differences, or None when they match exactly."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    shapes = [
        f"{k} {tuple(found[k].shape)} (expected {tuple(expected[k].shape)})"
        for k in expected
        if k in found and tuple(found[k].shape) != tuple(expected[k].shape)
    ]
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)):
        if items:
            more = f" and {len(items) - limit} more" if len(items) > limit else ""
            parts.append(f"{len(items)} {label}: {', '.join(items[:limit])}{more}")
    return "; ".join(parts) or None


def load_strict(
    module: torch.nn.Module, state: Mapping[str, torch.Tensor], path: Path | None = None
) -> None:
    """Load ``state`` into ``module`` requiring exactly the same keys and shapes.

    ``path`` names the file in the error; without it the error carries no path and the caller that
    knows the file may set ``error.path`` (see :func:`facert.export.harness.learned.export_learned`).
    """
    problem = describe_mismatch(module.state_dict(), state)
    if problem:
        raise WeightsError(
            f"keys do not match {type(module).__name__}: {problem}",
            path=str(path) if path is not None else None,
        )
    module.load_state_dict(state, strict=True)
