"""The export-form torch module of an export: what the ``torch`` backend runs (torch imported lazily).

An export's ONNX graphs are traced from its family's export-form module (:mod:`facert.export`):
a learned restorer's from ``build(state_dict, precision)`` (its family's
:class:`facert.export.harness.source_check.LearnedExporter`, configured from the spec) holding the
checkpoint's tensors, a weight-free one's (ISPL, WIPA) from its builder, whose structural
parameters the manifest records (``structure``). :class:`ModuleSource` names what rebuilds that
module: the spec, the checkpoint (the file the export was built from: its sha256 must be the
manifest's), and for tests a build of their own (a tiny configuration the spec does not describe).

Built at :data:`facert.export.precision.policy.FP16` the module is true float16 with the spec's
pinned ops (its precision policy) in float32, as the family's build places them; at ``FP32``
everything is float32, the reference the FP32 graph was traced from.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facert.errors import ArtifactError, MissingDependencyError, UsageError, WeightsError
from facert.io.files import sha256_of
from facert.models.artifacts import Artifact
from facert.models.registry import ModelSpec
from facert.models.weights import cached_weights

# exporter name -> "module:attribute": a learned family's LearnedExporter (its build_for(spec)),
# or a weight-free family's builder (spec -> module). Imported only when a module is built.
LEARNED = {
    "gfpgan": "facert.export.families.gfpgan.export:export_gfpgan",
    "gpen": "facert.export.families.gpen.export:export_gpen",
    "codeformer": "facert.export.families.codeformer.export:export_codeformer",
    "restoreformer": "facert.export.families.restoreformer.export:export_restoreformer",
}
WEIGHT_FREE = {
    "ispl": "facert.export.families.ispl.net:build_ispl",
    "wipa": "facert.export.families.wipa.net:build_wipa",
}


def import_torch() -> Any:
    """``torch``, or :class:`MissingDependencyError` in one line when it is not installed."""
    if importlib.util.find_spec("torch") is None:
        raise MissingDependencyError(
            "the torch backend needs PyTorch (torch): pip install 'facert[export]' (a CUDA build "
            "of torch for a GPU)"
        )
    return importlib.import_module("torch")


def _attribute(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class ModuleSource:
    """What rebuilds an export's torch module: ``spec``; ``checkpoint`` (a learned restorer's
    weights file, None for a weight-free one); ``build`` a learned family's build to use instead of
    the spec's (tests: tiny configurations); ``structure`` the weight-free structure the export
    recorded (checked against the builder's); ``label`` names it in messages."""

    spec: ModelSpec
    checkpoint: Path | None
    label: str
    build: Callable[..., Any] | None = None
    structure: dict[str, Any] | None = field(default=None, compare=False)


def module_source(
    export: Artifact,
    cache_dir: Path | None = None,
    weights: Path | None = None,
    build: Callable[..., Any] | None = None,
) -> ModuleSource:
    """The :class:`ModuleSource` of ``export``: its checkpoint is ``weights`` or the official file
    in ``cache_dir``; when the manifest records the source's sha256 the file must have it (the
    module must be the network the graphs hold). One-line errors name the file or the export."""
    spec, label = export.spec, str(export.folder)
    if spec.exporter in WEIGHT_FREE:
        if weights is not None:
            raise WeightsError(f"model {spec.name} takes no weights file", path=str(weights))
        structure = export.manifest.get("structure")
        return ModuleSource(spec, None, label, structure=structure)
    if spec.exporter not in LEARNED:
        raise UsageError(f"the torch backend runs restorers; {spec.name} is not one it builds")
    expected = export.source_sha256
    if weights is None:
        found = cached_weights(spec, cache_dir) if cache_dir is not None else None
        if not found or len(found) != 1 or (expected and sha256_of(found[0]) != expected):
            made_from = f" (sha256 {expected[:16]}...)" if expected else ""
            raise WeightsError(
                f"the torch backend builds {spec.name} from the checkpoint its export was made "
                f"from{made_from}, which is not in the cache; run `facert models fetch "
                f"{spec.name}` for the official one (another file: TorchEngine.from_export(..., "
                "weights=FILE))",
                path=label,
            )
        return ModuleSource(spec, found[0], label, build=build)
    if expected is not None and sha256_of(weights) != expected:
        raise WeightsError(
            f"not the checkpoint this export was built from (sha256 {expected[:16]}...)",
            path=str(weights),
        )
    return ModuleSource(spec, weights, label, build=build)


def build_module(source: ModuleSource, precision: Any) -> Any:
    """The export-form module of ``source`` at ``precision`` (a :class:`facert.export.precision.
    policy.Precision`), on the CPU, in eval mode with no gradients."""
    spec = source.spec
    if source.checkpoint is None:
        module = _attribute(WEIGHT_FREE[spec.exporter])(spec)
        built = module.structure() if hasattr(module, "structure") else None
        if source.structure is not None and built != source.structure:
            raise ArtifactError(
                f"exported with structure {source.structure}, this facert builds {built}; "
                f"run `facert models export {spec.name}` again",
                path=source.label,
            )
    else:
        from facert.export.harness.checkpoint import load_state_dict

        build = source.build or _attribute(LEARNED[spec.exporter]).build_for(spec)
        state = load_state_dict(source.checkpoint, spec.weights[0])
        try:
            module = build(state, precision)
        except WeightsError as error:
            error.path = error.path or str(source.checkpoint)
            raise
    module.eval()
    module.requires_grad_(False)
    return module
