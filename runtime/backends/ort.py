"""ONNX Runtime session wrapper: cheap constructor, explicit open/close, inputs checked at ``run``."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from facert.errors import ArtifactError, FacertError

log = logging.getLogger(__name__)

_ORT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(uint8)": np.uint8,
}


class OrtSession:
    """One ONNX model on ONNX Runtime's CPU execution provider.

    Construction only records the path; :meth:`open` (or ``with``) creates the session, :meth:`close`
    releases it and may be called twice. ``threads`` 0 lets ONNX Runtime choose. ``spin`` lets the
    session's worker threads busy-wait between runs (ONNX Runtime's default); it is off here because
    facert interleaves several sessions with numpy work, and spinning workers then steal the cores
    that work needs (MTCNN on 2 cores: 305 ms per 1080p frame spinning, 189 ms not).
    """

    def __init__(
        self,
        path: Path,
        *,
        threads: int = 0,
        providers: tuple[str, ...] = (),
        spin: bool = False,
    ) -> None:
        self.path = Path(path)
        self.threads = threads
        self.spin = spin
        self.providers = providers or ("CPUExecutionProvider",)
        self._session: Any = None
        self._inputs: dict[str, tuple[tuple[int | str | None, ...], Any]] = {}
        self.output_names: list[str] = []

    def open(self) -> OrtSession:
        if self._session is not None:
            return self
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry(
            "session.intra_op.allow_spinning", "1" if self.spin else "0"
        )
        try:
            self._session = ort.InferenceSession(
                str(self.path), sess_options=options, providers=list(self.providers)
            )
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph/NoSuchFile types
            first_line = (
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            )
            raise ArtifactError(
                f"ONNX Runtime cannot load it ({first_line})", path=str(self.path)
            ) from None
        self._inputs = {
            i.name: (tuple(i.shape), _ORT_TYPES.get(i.type)) for i in self._session.get_inputs()
        }
        self.output_names = [o.name for o in self._session.get_outputs()]
        return self

    def close(self) -> None:
        self._session = None

    def __enter__(self) -> OrtSession:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_session", None) is not None:
            warnings.warn(f"OrtSession({self.path}) was not closed", ResourceWarning, stacklevel=1)

    @property
    def input_names(self) -> list[str]:
        self._require_open()
        return list(self._inputs)

    def input_shape(self, name: str) -> tuple[int | str | None, ...]:
        self._require_open()
        return self._inputs[name][0]

    def _require_open(self) -> None:
        if self._session is None:
            raise RuntimeError(f"OrtSession({self.path}) is not open; call open() or use `with`")

    def _check(self, feed: dict[str, np.ndarray]) -> None:
        missing = set(self._inputs) - set(feed)
        extra = set(feed) - set(self._inputs)
        if missing or extra:
            raise FacertError(
                f"{self.path.name}: inputs expected {sorted(self._inputs)}, got {sorted(feed)}"
            )
        for name, array in feed.items():
            shape, dtype = self._inputs[name]
            if dtype is not None and array.dtype != dtype:
                raise FacertError(
                    f"{self.path.name}: input {name!r} must be {np.dtype(dtype).name}, "
                    f"got {array.dtype.name}"
                )
            if len(shape) != array.ndim or any(
                isinstance(d, int) and d != a for d, a in zip(shape, array.shape, strict=True)
            ):
                raise FacertError(
                    f"{self.path.name}: input {name!r} must have shape {list(shape)}, "
                    f"got {list(array.shape)}"
                )

    def run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model on ``feed`` (name -> array); returns every output by name."""
        self._require_open()
        self._check(feed)
        outputs = self._session.run(None, feed)
        return dict(zip(self.output_names, outputs, strict=True))
