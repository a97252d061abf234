"""The engine contract every inference backend implements, and the lifecycle every owner of one keeps.

:class:`Lifecycle` is the one place the lifetime rules live (style rule 1): a cheap constructor,
resources taken in :meth:`Lifecycle.open` (or ``with``), given back in :meth:`Lifecycle.close`,
``close()`` twice a no-op, ``__del__`` only warns. Engines, stages and the pipeline derive from it
and implement :meth:`Lifecycle._acquire` and :meth:`Lifecycle._release`, never ``open``/``close``.

:class:`Engine` is what a stage may ask of a backend: named inputs and outputs with their shapes and
dtypes, a run on host arrays whose inputs are checked first (:func:`check_feed`), and a run on device
buffers for the GPU backends (the ONNX Runtime CPU backend refuses it).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, TypeVar

import numpy as np

from facert.errors import FacertError

Dimension = int | str | None  # a fixed size, or a dynamic one (its name, or None when unnamed)
_Self = TypeVar("_Self", bound="Lifecycle")
_Engine = TypeVar("_Engine", bound="Engine")


class Lifecycle:
    """Explicit open/close for anything that holds a session, an engine or device memory.

    Subclasses keep their constructor cheap (record arguments only) and implement
    :meth:`_acquire` (take everything, or give back what was taken and raise) and :meth:`_release`.
    ``with`` always goes through this class's :meth:`open`, so a subclass that extends ``open``
    (a warm-up) or names a factory ``open`` (:class:`facert.pipeline.frame.Pipeline`) keeps the rules.
    """

    _opened = False  # a class default: __del__ of an object whose constructor raised still works

    def _acquire(self) -> None:
        """Take the resources; on failure give back whatever was taken, then raise."""

    def _release(self) -> None:
        """Give the resources back; called once per successful :meth:`_acquire`."""

    def open(self: _Self) -> _Self:
        """Acquire the resources; a second call while open does nothing. Returns ``self``."""
        if not self._opened:
            self._acquire()
            self._opened = True
        return self

    def close(self) -> None:
        """Release the resources; closing a closed (or never opened) object does nothing."""
        if self._opened:
            self._opened = False
            self._release()

    @property
    def is_open(self) -> bool:
        return self._opened

    def _require_open(self) -> None:
        if not self._opened:
            raise RuntimeError(f"{self!r} is not open; call open() or use `with`")

    def __enter__(self: _Self) -> _Self:
        return Lifecycle.open(self)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        if self._opened:
            warnings.warn(f"{self!r} was not closed", ResourceWarning, stacklevel=1)

    def __repr__(self) -> str:
        return type(self).__name__


class Openable(Protocol):
    def open(self) -> Any: ...

    def close(self) -> None: ...


def open_all(parts: Iterable[Openable]) -> None:
    """Open ``parts`` in order; when one fails, close those already opened and raise (for the
    :meth:`Lifecycle._acquire` of an owner of several parts)."""
    opened: list[Openable] = []
    try:
        for part in parts:
            part.open()
            opened.append(part)
    except BaseException:
        for part in opened:
            part.close()
        raise


@dataclass(frozen=True)
class TensorInfo:
    """One input or output of an engine: its shape (a dimension is an int, or a name or None when
    it is dynamic) and its numpy dtype (None when the backend's type has no numpy equivalent)."""

    shape: tuple[Dimension, ...]
    dtype: np.dtype[Any] | None


class HostEngine(Lifecycle):
    """What the CPU engines share: the named inputs and outputs their :meth:`_acquire` records
    (``_inputs``, ``_outputs``), readable once open."""

    _inputs: dict[str, TensorInfo]
    _outputs: dict[str, TensorInfo]

    @property
    def inputs(self) -> dict[str, TensorInfo]:
        self._require_open()
        return dict(self._inputs)

    @property
    def outputs(self) -> dict[str, TensorInfo]:
        self._require_open()
        return dict(self._outputs)


class Engine(Protocol):
    """One compiled or loaded graph on one backend (:class:`facert.backends.ort.OrtSession` first).

    Cheap to construct; :meth:`open` loads it, :meth:`close` frees it (twice is a no-op), as
    :class:`Lifecycle` says. ``inputs`` and ``outputs`` are only known once it is open.
    """

    @property
    def name(self) -> str:
        """What the engine runs, for messages (its graph file)."""
        ...

    @property
    def is_open(self) -> bool: ...

    def open(self: _Engine) -> _Engine: ...

    def close(self) -> None: ...

    def __enter__(self: _Engine) -> _Engine: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    @property
    def inputs(self) -> dict[str, TensorInfo]:
        """Every input by name, in the graph's order."""
        ...

    @property
    def outputs(self) -> dict[str, TensorInfo]:
        """Every output by name, in the graph's order."""
        ...

    def run(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run on host arrays (every input by name, checked by :func:`check_feed`); every output
        by name, as new host arrays."""
        ...

    def run_device(self, feed: Mapping[str, Any], stream: Any = None) -> dict[str, Any]:
        """Run on device buffers (``__cuda_array_interface__`` or DLPack objects by name) on
        ``stream``; outputs are buffers the engine holds until its next run. Backends without
        device memory raise :class:`facert.errors.UnsupportedError`."""
        ...


def check_feed(
    label: str, inputs: Mapping[str, TensorInfo], feed: Mapping[str, np.ndarray]
) -> None:
    """Raise :class:`FacertError` naming ``label`` unless ``feed`` holds exactly ``inputs``, each
    with its dtype and a shape that fits its fixed dimensions."""
    check_names(label, inputs, feed)
    for name, array in feed.items():
        check_input(label, name, inputs[name], array.dtype, array.shape)


def check_names(label: str, inputs: Mapping[str, TensorInfo], feed: Mapping[str, Any]) -> None:
    """Raise :class:`FacertError` naming ``label`` unless ``feed`` names exactly ``inputs``."""
    missing, extra = set(inputs) - set(feed), set(feed) - set(inputs)
    if missing or extra:
        raise FacertError(f"{label}: inputs expected {sorted(inputs)}, got {sorted(feed)}")


def check_input(
    label: str, name: str, info: TensorInfo, dtype: np.dtype[Any], shape: tuple[int, ...]
) -> None:
    """Raise :class:`FacertError` naming ``label`` unless an input ``name`` of ``dtype`` and
    ``shape`` (host or device memory) fits ``info``: its dtype and its fixed dimensions."""
    expected = info.shape
    if info.dtype is not None and dtype != info.dtype:
        raise FacertError(
            f"{label}: input {name!r} must be {np.dtype(info.dtype).name}, got {np.dtype(dtype).name}"
        )
    if len(expected) != len(shape) or any(
        isinstance(d, int) and d != a for d, a in zip(expected, shape, strict=True)
    ):
        raise FacertError(
            f"{label}: input {name!r} must have shape {list(expected)}, got {list(shape)}"
        )
