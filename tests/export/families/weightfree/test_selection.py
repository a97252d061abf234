"""kth_largest: TopK only up to TensorRT's limit, an exact bisection above it, in torch and ONNX."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from facert.export.families.weightfree.selection import (  # noqa: E402
    TOPK_LIMIT,
    bisected_kth_largest,
    kth_largest,
)
from facert.export.harness.onnx import write_onnx  # noqa: E402


def rows(n: int) -> dict[str, torch.Tensor]:
    """(2, 3, n) float32 rows of every kind the bisection must get exactly right (batch 2)."""
    g = torch.Generator().manual_seed(n)
    shape = (2, 3, n)
    spread = 10 ** (torch.rand(shape, generator=g) * 60 - 30)  # 1e-30 .. 1e30
    return {
        "magnitudes": torch.randn(shape, generator=g).abs(),
        "signed": torch.randn(shape, generator=g),
        "negative": -5 - torch.rand(shape, generator=g),
        "spread": spread * torch.randn(shape, generator=g).sign(),
        "ties": torch.randint(0, 5, shape, generator=g).float() * 0.1,
        "two values": (torch.rand(shape, generator=g) > 0.5).float(),
        "neighbouring floats": 1 + torch.randint(0, 8, shape, generator=g).float() * 2**-23,
        "mostly zero": torch.where(torch.rand(shape, generator=g) < 0.6, 0.0, spread),
        "constant": torch.full(shape, 0.37),
        "zeros": torch.zeros(shape),
    }


@pytest.mark.parametrize("n", [4000, 32768])
def test_bisection_equals_topk_exactly(n: int) -> None:
    """Exact (==), not within a tolerance: the bisection ends on neighbouring floats and returns
    an entry of the row, for every row whose k-th largest is 0, its minimum or a normal float."""
    for name, values in rows(n).items():
        for k in (1, 2, n // 3, n // 2, n // 2 + 1, n - 1, n):
            expected = torch.topk(values, k, dim=-1).values[..., -1]
            assert torch.equal(bisected_kth_largest(values, k), expected), (name, k)


def test_rows_are_independent() -> None:
    values = rows(8192)["magnitudes"]
    together = bisected_kth_largest(values, 4096)
    alone = torch.stack([bisected_kth_largest(values[i : i + 1], 4096)[0] for i in range(2)])
    assert torch.equal(together, alone)


class _Median(torch.nn.Module):
    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        return kth_largest(values, self.k)


@pytest.mark.parametrize(("n", "topk_nodes"), [(2048, 1), (65536, 0)])
def test_exported_graph_keeps_topk_only_up_to_the_limit(
    tmp_path: Path, n: int, topk_nodes: int
) -> None:
    onnx = pytest.importorskip("onnx")
    path = tmp_path / "median.onnx"
    values = rows(n)["magnitudes"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_onnx(
            _Median(n // 2),
            [values[:1]],
            path,
            input_names=["values"],
            output_names=["median"],
            dynamic_axes={"values": {0: "batch"}, "median": {0: "batch"}},
        )
    nodes = [node.op_type for node in onnx.load(str(path)).graph.node]
    assert nodes.count("TopK") == topk_nodes
    assert (n // 2 > TOPK_LIMIT) == (topk_nodes == 0)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for name, batch in rows(n).items():  # the dynamic batch of 2; ONNX Runtime's float32 == torch's
        (median,) = session.run(None, {"values": batch.numpy()})
        expected = torch.topk(batch, n // 2, dim=-1).values[..., -1].numpy()
        assert np.array_equal(median, expected), name


class _TopK(_Median):
    def forward(self, values: torch.Tensor) -> torch.Tensor:
        return torch.topk(values, self.k, dim=-1).values[..., -1]


@pytest.mark.parametrize(("module", "builds"), [(_Median, True), (_TopK, False)])
def test_tensorrt_rtx_builds_the_bisection_and_refuses_a_large_topk(
    tmp_path: Path, module: type[_Median], builds: bool
) -> None:
    """The median of a 256x256 band (k = 32768), batch 1..4, strongly typed, built for the RTX
    desktops without a GPU (~1 s); ``torch.topk`` there is refused (K > 3840). To be switched to
    facert.export.trt's builder."""
    trt = pytest.importorskip("tensorrt_rtx")
    path = tmp_path / "median.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_onnx(
            module(32768),
            [torch.rand(1, 3, 65536)],
            path,
            input_names=["values"],
            output_names=["median"],
            dynamic_axes={"values": {0: "batch"}, "median": {0: "batch"}},
        )
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    assert trt.OnnxParser(network, logger).parse_from_file(str(path))
    config = builder.create_builder_config()
    config.num_compute_capabilities = 1
    config.set_compute_capability(trt.ComputeCapability.SM86, 0)
    profile = builder.create_optimization_profile()
    profile.set_shape("values", (1, 3, 65536), (1, 3, 65536), (4, 3, 65536))
    config.add_optimization_profile(profile)
    assert (builder.build_serialized_network(network, config) is not None) == builds
