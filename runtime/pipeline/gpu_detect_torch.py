"""MTCNN's networks as torch modules on the GPU, behind the device-binding protocol (torch imported
when an engine opens; never by the CPU path).

The torch backend (:mod:`facert.backends.torch_gpu`) runs restorers; the detector's three small
networks run here, from the same state dicts the MTCNN export was built from (the cache's
``mtcnn/weights``, loaded by :func:`facert.export.families.mtcnn.export.load_network`), float32,
eager (P-Net's input size changes with every pyramid level). A run is queued on the stream it is
given; its outputs are tensors the engine holds until its next run.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from facert.backends.base import HostEngine, TensorInfo
from facert.errors import MissingDependencyError, UsageError, WeightsError
from facert.models.registry import get_spec
from facert.models.specs.mtcnn import INPUT_NAME, OUTPUT_NAMES
from facert.models.weights import cached_weights


class TorchNet(HostEngine):
    """MTCNN network ``name`` (pnet, rnet, onet) from the state dict ``weights`` on torch device
    ``device`` ("cuda:0"; "cpu" for the tests: no stream, bound views are torch CPU tensors)."""

    def __init__(self, name: str, weights: Path, device: str = "cuda:0") -> None:
        if name not in OUTPUT_NAMES:
            raise UsageError(f"no MTCNN network {name!r}; networks: {sorted(OUTPUT_NAMES)}")
        self.network = name
        self.weights = Path(weights)
        self.device = device
        self._torch: Any = None
        self._module: Any = None
        self._input: Any = None
        self._bound_shape: tuple[int, ...] = ()
        self._outputs_held: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"TorchNet({self.network}, {self.weights})"

    @property
    def name(self) -> str:
        return str(self.weights)

    def _acquire(self) -> None:
        try:
            import torch

            from facert.export.families.mtcnn.export import load_network
        except ImportError:
            raise MissingDependencyError(
                "MTCNN on torch needs PyTorch and facert's export code: pip install "
                "'facert[export]' (a CUDA build of torch for a GPU)"
            ) from None
        module = load_network(self.network, self.weights, get_spec("mtcnn"))
        self._module = module.to(torch.device(self.device))
        self._torch = torch
        self._inputs = {INPUT_NAME: TensorInfo((None, 3, None, None), np.dtype(np.float32))}
        self._outputs = {
            name: TensorInfo((None,), np.dtype(np.float32)) for name in OUTPUT_NAMES[self.network]
        }

    def _release(self) -> None:
        self._module = self._input = None
        self._outputs_held = {}

    def bind_inputs(self, shapes: Mapping[str, tuple[int, ...]]) -> dict[str, Any]:
        """A float32 tensor of the asked shape for the image input (reused while it fits)."""
        self._require_open()
        if set(shapes) != {INPUT_NAME}:
            raise UsageError(
                f"{self.network}: inputs expected [{INPUT_NAME!r}], got {sorted(shapes)}"
            )
        shape = tuple(int(d) for d in shapes[INPUT_NAME])
        count = int(np.prod(shape))
        if self._input is None or self._input.numel() < count:
            self._input = self._torch.empty(count, dtype=self._torch.float32, device=self.device)
        self._bound_shape = shape
        return {INPUT_NAME: self._input[:count].view(shape)}

    def run_bound(self, stream: Any) -> dict[str, Any]:
        """Queue the network on ``stream`` over the bound input; its outputs, contiguous."""
        import contextlib

        from facert.backends.cuda.memory import stream_handle

        self._require_open()
        torch = self._torch
        shape = self._bound_shape  # the view bind_inputs returned shares this storage
        if not shape:
            raise UsageError(f"{self.network}: bind_inputs before run_bound")
        on_stream: Any = contextlib.nullcontext()
        if self.device != "cpu":
            external = torch.cuda.ExternalStream(stream_handle(stream), device=self.device)
            on_stream = torch.cuda.stream(external)
        with torch.inference_mode(), on_stream:
            outputs = self._module(self._input[: int(np.prod(shape))].view(shape))
        self._outputs_held = {
            name: tensor.contiguous()
            for name, tensor in zip(OUTPUT_NAMES[self.network], outputs, strict=True)
        }
        return dict(self._outputs_held)


def torch_nets(cache_dir: Path, device: str = "cuda:0") -> dict[str, TorchNet]:
    """The three networks (not opened) from the cache's MTCNN weights."""
    found = cached_weights(get_spec("mtcnn"), cache_dir)
    if not found:
        raise WeightsError(
            "the MTCNN weights are not in the cache; run `facert models fetch mtcnn`"
        )
    paths = {path.stem: path for path in found}
    return {name: TorchNet(name, paths[name], device) for name in OUTPUT_NAMES}
