"""The ``parsenet`` spec's exporter (facexlib's ``parsing_parsenet.pth`` -> ``parsenet.onnx``) on
a tiny ParseNet (tests/tiny_parsenet.py: 512 px, few channels, deterministic fill).

Tolerance: ONNX Runtime vs PyTorch logits within 1e-4 of their scale (float32 convolutions summed
in another order differ by a few ulps a layer), as the export itself checks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from tiny_export import FACES  # noqa: E402
from tiny_parsenet import TINY, tiny_file, tiny_spec  # noqa: E402

from facert.backends.ort import OrtSession  # noqa: E402
from facert.errors import ExportError, WeightsError  # noqa: E402
from facert.export.exporters import exporter_for  # noqa: E402
from facert.export.families.psfrgan.parsenet import load_parsenet  # noqa: E402
from facert.export.families.psfrgan.parser_export import ParseNetExporter  # noqa: E402
from facert.models.check_faces import load_faces  # noqa: E402
from facert.models.registry import get_spec  # noqa: E402


@pytest.mark.slow  # 512 px logits: 10-40 s on 2 cores
def test_exports_the_logits_graph(tmp_path: Path) -> None:
    spec, source = tiny_spec(), tiny_file(tmp_path / "parsing_parsenet.pth")
    facts = ParseNetExporter(TINY, faces=FACES)(spec, [source], tmp_path)
    parity = facts["parity"]
    assert parity["ort_fp32_vs_torch_max_abs"] <= 1e-4 * parity["output_scale"]
    assert parity["fp32_batch_vs_single_max_abs"] <= 1e-4 * parity["output_scale"]
    assert facts["graph"] == {"inputs": ["image"], "outputs": ["parsing"]}
    assert parity["source"] == "parsing_parsenet.pth"
    faces = load_faces(spec, FACES, 2)[0]
    with torch.no_grad():
        logits = load_parsenet(torch.load(source, weights_only=True), TINY)(
            torch.from_numpy(faces)
        )[0].numpy()
    with OrtSession(tmp_path / "parsenet.onnx") as session:
        parsing = session.run({"image": faces})["parsing"]
    assert parsing.shape == (2, 19, 512, 512)
    assert np.abs(parsing - logits).max() <= 1e-4 * max(1.0, float(np.abs(logits).max()))


def test_refuses_a_file_that_is_not_parsenet_in_one_line(tmp_path: Path) -> None:
    other = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(3, 3, 3, 3)}, other)
    with pytest.raises(WeightsError) as caught:
        ParseNetExporter(TINY).check_sources(tiny_spec(), [other])
    assert caught.value.path == str(other) and "\n" not in str(caught.value)
    assert not list(tmp_path.glob("*.onnx"))


def test_refuses_another_size_and_is_the_specs_exporter() -> None:
    with pytest.raises(ExportError, match="not 512"):
        ParseNetExporter(TINY.__class__(in_size=256, out_size=256)).build(get_spec("parsenet"))
    assert isinstance(exporter_for(get_spec("parsenet")), ParseNetExporter)
