"""RetinaFace port (facert.export.families.retinaface): facexlib's keys, its checkpoints' loading
rules, and its numbers (golden data from facexlib's own code: tests/golden/retinaface/README.md).

Head outputs are compared relative to their largest magnitude (at least 1). Tolerance 1e-4: the
same float32 network in two torch builds of the convolutions differs by ~1e-6 (MobileNet) to
~5e-5 (ResNet-50: 53 convolutions deep, sums of up to 4,608 terms); a wrong layer, slope or
layout moves outputs by 1e-2 and more. Detections after decoding and suppression must be the same
boxes (matched one to one), scores within 1e-4 and coordinates within 0.01 px
(tests/retinaface_weights.py says why).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from retinaface_weights import (  # noqa: E402
    GOLDEN,
    as_rows,
    assert_rows_close,
    golden,
    golden_state,
    write_checkpoint,
)

from facert.errors import WeightsError  # noqa: E402
from facert.export.families.retinaface.export import load_network  # noqa: E402
from facert.export.families.retinaface.net import VARIANTS, RetinaFace  # noqa: E402
from facert.models.registry import get_spec  # noqa: E402
from facert.stages.detect.retinaface import network_input  # noqa: E402
from facert.stages.detect.retinaface_boxes import decode, suppress  # noqa: E402
from facert.stages.faces import Face  # noqa: E402

HEAD_TOLERANCE = 1e-4
KEY_FILES = {"retinaface-r50": "keys_resnet50.txt", "retinaface-mnet": "keys_mobile0.25.txt"}
MD_SECTIONS = {"retinaface-r50": "retinaface_resnet50", "retinaface-mnet": "retinaface_mobile0.25"}


def _ours(name: str) -> list[str]:
    with torch.device("meta"):
        module = RetinaFace(VARIANTS[name])
    return [
        f"{key}\t{tuple(value.shape)}\t{str(value.dtype).removeprefix('torch.')}"
        for key, value in module.state_dict().items()
    ]


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_the_port_has_facexlibs_keys_shapes_and_order(name: str) -> None:
    official = (GOLDEN / KEY_FILES[name]).read_text().splitlines()
    assert _ours(name) == official
    # state-dict-keys.md: 456 keys / 27,293,600 parameters; 300 keys / 426,608 parameters.
    expected = {"retinaface-r50": (456, 27_293_600), "retinaface-mnet": (300, 426_608)}[name]
    with torch.device("meta"):
        parameters = sum(p.numel() for p in RetinaFace(VARIANTS[name]).parameters())
    assert (len(official), parameters) == expected


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_the_key_lists_equal_the_reference_sheet(name: str, shared_dir: Path) -> None:
    sheet = (shared_dir / "reference" / "state-dict-keys.md").read_text()
    block = sheet.split(f"## {MD_SECTIONS[name]}\n", 1)[1].split("```")[1].strip().splitlines()
    assert block == (GOLDEN / KEY_FILES[name]).read_text().splitlines()


@pytest.mark.parametrize("prefix", ["module.", ""])
def test_files_with_or_without_the_module_prefix_load_strictly(tmp_path: Path, prefix: str) -> None:
    path = write_checkpoint("mnet", tmp_path / "detection_mobilenet0.25_Final.pth", prefix)
    module = load_network(get_spec("retinaface-mnet"), path)
    state = golden_state("mnet")
    assert all(torch.equal(module.state_dict()[k], v) for k, v in state.items())


def test_a_wrong_file_fails_in_one_line_naming_it(tmp_path: Path) -> None:
    state = golden_state("mnet")
    del state["fpn.merge1.1.running_var"]
    path = tmp_path / "detection_mobilenet0.25_Final.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError) as caught:
        load_network(get_spec("retinaface-r50"), path)  # MobileNet tensors for ResNet-50
    message = str(caught.value)
    assert "\n" not in message and str(path) in message and "missing" in message


def port(variant: str) -> RetinaFace:
    module = RetinaFace(VARIANTS[f"retinaface-{variant}"])
    module.load_state_dict(golden_state(variant))
    return module.eval()


def check_case(module: RetinaFace, key: str, image: np.ndarray, every: int) -> None:
    """Head outputs (anchors ``::every`` as stored) and detections of case ``key``."""
    data = golden()
    blob = network_input(image, 1.0)
    with torch.no_grad():
        outputs = [t.numpy() for t in module(torch.from_numpy(blob))]
    for name, value in zip(("loc", "conf", "landmarks"), outputs, strict=True):
        reference = data[f"{key}_{name}"]
        scale = max(1.0, float(np.abs(reference).max()))
        assert np.abs(value[:, ::every] - reference).max() / scale <= HEAD_TOLERANCE, (key, name)
    boxes, scores, marks = decode(
        *outputs, blob.shape[2], blob.shape[3], float(data[f"{key}_threshold"])
    )
    kept = suppress(boxes, scores, 0.4)
    faces = [Face(box=boxes[i], score=float(scores[i]), landmarks=marks[i]) for i in kept]
    rows, expected = as_rows(faces), data[f"{key}_dets"]
    assert len(expected) >= 20, key
    assert_rows_close(rows, expected, key)


@pytest.mark.parametrize(
    "variant",
    ["mnet", pytest.param("r50", marks=pytest.mark.slow)],  # r50: 13 s filling weights
)
def test_small_inputs_match_facexlib(variant: str) -> None:
    module = port(variant)
    for name in ("grace_hopper_small", "astronaut_small"):
        check_case(module, f"{variant}_{name}", golden()[name], 1)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["mnet", "r50"])
def test_the_sample_photos_match_facexlib(
    variant: str, grace_hopper: np.ndarray, astronaut: np.ndarray
) -> None:
    import hashlib

    module = port(variant)
    for name, image in (("grace_hopper", grace_hopper), ("astronaut", astronaut)):
        assert hashlib.sha256(image.tobytes()).hexdigest() == str(golden()[f"{name}_sha256"])
        check_case(module, f"{variant}_{name}", image, 4)
