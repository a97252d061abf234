"""Float16 emulation on the CPU: float16 storage, float32 arithmetic inside each operation.

PyTorch's CPU float16 convolutions are reference loops (a 64-channel 3x3 convolution at 512x512
takes about a minute on a 2-core machine), so an FP16 network cannot be checked there as it is.
Under :func:`emulate_half` every operation that has a float16 tensor input runs in float32 on the
same (already float16-rounded) values, and its results are rounded to the dtype the operation would
have produced natively (float16 for float16 inputs, float32 where promotion gives float32). This is
how GPU FP16 kernels with float32 accumulation behave: every tensor between operations is float16,
so overflow past 65504 becomes inf and every intermediate carries float16 rounding. It does not
model kernels that also accumulate in float16.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map, tree_unflatten


def _is_half(value: object) -> bool:
    return isinstance(value, torch.Tensor) and value.dtype == torch.float16


def _upcast(value: object) -> object:
    return value.float() if _is_half(value) else value  # type: ignore[union-attr]


def _to_meta(value: object) -> object:
    if isinstance(value, torch.Tensor):
        return torch.empty_strided(value.shape, value.stride(), dtype=value.dtype, device="meta")
    return value


class _HalfEmulation(TorchDispatchMode):
    def __torch_dispatch__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        inputs, _ = tree_flatten((args, kwargs))
        mutates = func._schema.is_mutable  # type: ignore[attr-defined]
        if mutates or not any(_is_half(value) for value in inputs):
            return func(*args, **kwargs)
        native = func(*tree_map(_to_meta, args), **tree_map(_to_meta, kwargs))
        result = func(*tree_map(_upcast, args), **tree_map(_upcast, kwargs))
        native_flat, _ = tree_flatten(native)
        result_flat, spec = tree_flatten(result)
        cast = [
            value.to(reference.dtype) if isinstance(value, torch.Tensor) else value
            for value, reference in zip(result_flat, native_flat, strict=True)
        ]
        return tree_unflatten(cast, spec)


@contextmanager
def emulate_half() -> Iterator[None]:
    """Within this block, float16 operations on CPU tensors run as described in the module doc."""
    with _HalfEmulation():
        yield
