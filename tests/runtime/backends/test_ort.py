"""The engine contract on ONNX Runtime (facert.backends.ort.OrtSession): named inputs and outputs,
input checks at run, no device buffers; the factory (engine_for); stages handed their own engine.
Every engine here is a real ONNX Runtime session on a tiny real graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_graphs import restorer_graph

from facert.backends import Engine, OrtSession, engine_for
from facert.backends.base import TensorInfo
from facert.errors import ArtifactError, FacertError, UnsupportedError
from facert.models.artifacts import Artifact
from facert.stages.detect.mtcnn import MtcnnDetector
from facert.stages.restore.restorer import Restorer


@pytest.fixture
def graph(tmp_path: Path) -> Path:
    return restorer_graph(tmp_path / "scale.onnx", 4, parsing=False)


def test_ort_session_names_its_inputs_and_outputs(graph: Path) -> None:
    with OrtSession(graph) as session:
        assert session.inputs == {
            "image": TensorInfo(("N", 3, 4, 4), np.dtype(np.float32)),
            "gain": TensorInfo(("N",), np.dtype(np.float32)),
        }
        assert session.outputs == {"restored": TensorInfo(("N", 3, 4, 4), np.dtype(np.float32))}
        assert session.input_names == ["image", "gain"] and session.output_names == ["restored"]
        image = np.arange(96, dtype=np.float32).reshape(2, 3, 4, 4)
        out = session.run({"image": image, "gain": np.array([1.0, 0.5], np.float32)})
        # x1 and x0.5 are exact in float32
        np.testing.assert_array_equal(
            out["restored"], image * np.array([1, 0.5])[:, None, None, None]
        )


@pytest.mark.parametrize(
    ("feed", "message"),
    [
        ({"image": np.zeros((1, 3, 4, 4), np.float32)}, r"inputs expected \['gain', 'image'\]"),
        (
            {"image": np.zeros((1, 3, 4, 4), np.float64), "gain": np.ones(1, np.float32)},
            "input 'image' must be float32, got float64",
        ),
        (
            {"image": np.zeros((1, 3, 5, 4), np.float32), "gain": np.ones(1, np.float32)},
            r"input 'image' must have shape \['N', 3, 4, 4\], got \[1, 3, 5, 4\]",
        ),
        (
            {"image": np.zeros((3, 4, 4), np.float32), "gain": np.ones(1, np.float32)},
            "input 'image' must have shape",
        ),
    ],
)
def test_run_checks_its_inputs(graph: Path, feed: dict, message: str) -> None:
    with OrtSession(graph) as session, pytest.raises(FacertError, match="scale.onnx: " + message):
        session.run(feed)


def test_run_needs_an_open_session_and_host_arrays(graph: Path) -> None:
    session = OrtSession(graph)
    with pytest.raises(RuntimeError, match=r"OrtSession\(.*scale.onnx\) is not open"):
        session.run({})
    with session, pytest.raises(UnsupportedError, match="host arrays only"):
        session.run_device({})
    assert UnsupportedError.exit_code == 2


def test_a_broken_graph_is_an_artifact_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a graph")
    session = OrtSession(broken)
    with pytest.raises(ArtifactError, match="ONNX Runtime cannot load it"):
        session.open()
    assert not session.is_open


def test_the_factory_gives_a_closed_engine(graph: Path) -> None:
    engine: Engine = engine_for(graph, threads=1)
    assert isinstance(engine, OrtSession) and not engine.is_open and engine.name == str(graph)
    with engine:
        assert engine.is_open
    assert not engine.is_open


def test_a_stage_takes_the_engine_it_is_handed(mtcnn_artifact: Artifact) -> None:
    """Injection: the detector runs on the engines a test built, opens and closes them."""
    engines = {
        n: OrtSession(mtcnn_artifact.path(f"{n}.onnx"), threads=1) for n in ("pnet", "rnet", "onet")
    }
    detector = MtcnnDetector(engines)
    assert not any(e.is_open for e in engines.values())  # cheap
    with detector:
        assert all(detector.engines[n] is e and e.is_open for n, e in engines.items())
        assert detector.detect(np.zeros((64, 64, 3), np.uint8)) == []
    assert not any(e.is_open for e in engines.values())


def test_a_restorer_refusing_its_engine_closes_it(graph: Path) -> None:
    """A graph that does not fit the spec: the restorer closes the engine it was handed."""
    from facert.models.registry import get_spec

    ispl = Artifact(get_spec("ispl"), graph.parent, {})
    engine = OrtSession(graph)
    with pytest.raises(FacertError, match="do not match the ispl spec"):
        Restorer(ispl, engine).open()
    assert not engine.is_open
