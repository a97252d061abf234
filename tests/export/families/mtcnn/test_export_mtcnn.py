"""MTCNN's torch nets against the facenet-pytorch weights, and the ONNX export against the nets."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from facert.backends.ort import OrtSession  # noqa: E402
from facert.config import Settings  # noqa: E402
from facert.errors import WeightsError  # noqa: E402
from facert.export.families.mtcnn.export import PARITY_TOLERANCE, load_network, parity_inputs  # noqa: E402
from facert.export.families.mtcnn.net import NETWORKS, SplitPReLU, export_form  # noqa: E402
from facert.models.artifacts import Artifact  # noqa: E402
from facert.models.registry import get_spec  # noqa: E402
from facert.models.specs.mtcnn import INPUT_NAME, OUTPUT_NAMES  # noqa: E402
from facert.models.weights import cached_weights  # noqa: E402

SPEC = get_spec("mtcnn")


@pytest.fixture(scope="module")
def weight_files(settings: Settings) -> dict[str, Path]:
    paths = cached_weights(SPEC, settings.cache_dir)
    if paths is None:
        pytest.skip("MTCNN weights are not cached; run `facert models fetch mtcnn`")
    return {path.stem: path for path in paths}


@pytest.mark.parametrize("name", list(NETWORKS))
def test_official_state_dict_has_exactly_our_keys_and_shapes(
    name: str, weight_files: dict[str, Path]
) -> None:
    official = torch.load(weight_files[name], map_location="cpu", weights_only=True)
    ours = NETWORKS[name]().state_dict()
    assert {k: tuple(v.shape) for k, v in official.items()} == {
        k: tuple(v.shape) for k, v in ours.items()
    }
    loaded = load_network(name, weight_files[name], SPEC)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in official.items())


def test_a_wrong_file_is_refused_naming_it(weight_files: dict[str, Path]) -> None:
    with pytest.raises(WeightsError, match=r"onet\.pt.*keys do not match RNet"):
        load_network("rnet", weight_files["onet"], SPEC)


def test_manifest_records_opset_and_parity(mtcnn_artifact: Artifact) -> None:
    facts = mtcnn_artifact.manifest
    assert facts["opset"] == 17 and facts["precision_policy"] == []
    for name in NETWORKS:
        assert 0 <= facts["parity"][f"{name}_max_abs_diff"] <= PARITY_TOLERANCE


@pytest.mark.parametrize("name", list(NETWORKS))
def test_onnx_matches_torch_on_photo_patches(
    name: str, mtcnn_artifact: Artifact, weight_files: dict[str, Path], grace_hopper: np.ndarray
) -> None:
    """Our own rerun of the export's check, on grace_hopper (RGB) patches: P-Net on three frame
    sizes (odd ones and a batch of 2, through the dynamic axes), R-Net/O-Net on 16 crops."""
    module = load_network(name, weight_files[name], SPEC)
    photo = cv2.cvtColor(grace_hopper, cv2.COLOR_BGR2RGB)
    with OrtSession(mtcnn_artifact.path(f"{name}.onnx"), threads=2) as session:
        assert session.input_names == [INPUT_NAME]
        assert session.output_names == list(OUTPUT_NAMES[name])
        for batch in parity_inputs(name, photo):
            with torch.no_grad():
                expected = [t.numpy() for t in module(torch.from_numpy(batch))]
            actual = session.run({INPUT_NAME: batch})
            for output, reference in zip(OUTPUT_NAMES[name], expected, strict=True):
                assert actual[output].shape == reference.shape
                # float32 convolutions summed in another order: ~1e-6 seen; 1e-4 still catches a
                # wrong layer or weight layout (those move outputs by 1e-2 or more)
                np.testing.assert_allclose(actual[output], reference, rtol=0, atol=PARITY_TOLERANCE)


def test_split_prelu_gives_the_same_numbers() -> None:
    prelu = torch.nn.PReLU(6)
    with torch.no_grad():
        prelu.weight.copy_(torch.tensor([-1.3, -0.2, 0.0, 0.25, 1.0, 1.2]))  # the weights' range
    maps = torch.randn(2, 6, 5, 7, generator=torch.Generator().manual_seed(0)) * 100
    maps[0, :, 0, 0] = 0.0
    with torch.no_grad():
        assert torch.equal(SplitPReLU(prelu)(maps), prelu(maps))  # bit for bit: one rounding each


@pytest.mark.parametrize(
    ("name", "split", "dense", "first_channels"),
    [("pnet", 3, 0, 10), ("rnet", 3, 1, 32), ("onet", 4, 1, 32)],
)
def test_export_form_splits_map_prelus_and_pads_rnet(
    name: str, split: int, dense: int, first_channels: int, mtcnn_artifact: Artifact
) -> None:
    """The feature maps' PReLUs are traced in split form and R-Net's first layer is padded to 32
    channels (ONNX Runtime keeps both in its blocked layout); the dense layers' PReLUs stay PRelu
    nodes. The ONNX-against-torch parity test above holds the numbers."""
    onnx = pytest.importorskip("onnx")
    form = export_form(NETWORKS[name]())
    kinds = [type(child) for child in form.children()]
    assert (kinds.count(SplitPReLU), kinds.count(torch.nn.PReLU)) == (split, dense)
    assert form.conv1.out_channels == first_channels == form.conv2.in_channels
    graph = onnx.load(str(mtcnn_artifact.path(f"{name}.onnx"))).graph
    assert [node.op_type for node in graph.node].count("PRelu") == dense


def test_pnet_map_size_follows_the_input(mtcnn_artifact: Artifact) -> None:
    with OrtSession(mtcnn_artifact.path("pnet.onnx")) as session:
        for height, width in ((12, 12), (13, 40), (101, 57)):
            image = np.zeros((1, 3, height, width), np.float32)
            probabilities = session.run({INPUT_NAME: image})["probabilities"]
            # conv 3x3, max-pool 2/2 rounding up, conv 3x3, conv 3x3
            expected = (-(-(height - 2) // 2) - 4, -(-(width - 2) // 2) - 4)
            assert probabilities.shape == (1, 2, *expected)
            np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)  # softmax


def test_cli_export_writes_a_checked_artifact(
    tmp_path: Path, weight_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from facert.cli.main import main
    from facert.models.artifacts import check_artifact

    assert main(["models", "export", "mtcnn", "-o", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "out")
    artifact = check_artifact(SPEC, tmp_path / "out")
    assert sorted(artifact.manifest["files"]) == ["onet.onnx", "pnet.onnx", "rnet.onnx"]
    assert artifact.manifest["parity"]["inputs"] == "matplotlib:grace_hopper.jpg"
