"""ONNX Runtime session: the first :class:`facert.backends.base.Engine`, on the CPU provider."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from facert.backends.base import HostEngine, TensorInfo, check_feed
from facert.errors import ArtifactError, UnsupportedError, first_line

log = logging.getLogger(__name__)

_ORT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(uint8)": np.uint8,
}


def _tensors(nodes: list[Any]) -> dict[str, TensorInfo]:
    """ONNX Runtime's NodeArg list -> {name: TensorInfo}, in the graph's order."""
    infos = {}
    for node in nodes:
        dtype = _ORT_TYPES.get(node.type)
        infos[node.name] = TensorInfo(tuple(node.shape), None if dtype is None else np.dtype(dtype))
    return infos


def load_session(path: Path, options: Any, providers: list[Any]) -> Any:
    """ONNX Runtime's session of the graph ``path`` with ``options`` on ``providers``; ArtifactError
    in one line naming the file when ONNX Runtime cannot load it."""
    import onnxruntime as ort

    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph/NoSuchFile types
        raise ArtifactError(
            f"ONNX Runtime cannot load it ({first_line(exc)})", path=str(path)
        ) from None


class OrtSession(HostEngine):
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
        self._inputs: dict[str, TensorInfo] = {}
        self._outputs: dict[str, TensorInfo] = {}

    def __repr__(self) -> str:
        return f"OrtSession({self.path})"

    @property
    def name(self) -> str:
        return str(self.path)

    def _acquire(self) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry(
            "session.intra_op.allow_spinning", "1" if self.spin else "0"
        )
        session = load_session(self.path, options, list(self.providers))
        self._inputs = _tensors(session.get_inputs())
        self._outputs = _tensors(session.get_outputs())
        self._session = session

    def _release(self) -> None:
        self._session = None

    @property
    def input_names(self) -> list[str]:
        return list(self.inputs)

    @property
    def output_names(self) -> list[str]:
        return list(self.outputs)

    def run(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the model on ``feed`` (name -> array); returns every output by name."""
        self._require_open()
        check_feed(self.path.name, self._inputs, feed)
        outputs = self._session.run(None, dict(feed))
        return dict(zip(self._outputs, outputs, strict=True))

    def run_device(self, feed: Mapping[str, Any], stream: Any = None) -> dict[str, Any]:
        """Not supported: this backend runs on host arrays only."""
        raise UnsupportedError(
            "the ort backend (ONNX Runtime, CPU) runs on host arrays only: use run(), or a GPU "
            "backend for device buffers",
            path=str(self.path),
        )
