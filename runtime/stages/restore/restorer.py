"""Restorer: one restoration model on ONNX Runtime, batched over the faces of an image.

The graph takes the aligned crops as its image input, (N, 3, S, S) float32 in the spec's colour
order and input range, plus one (N,) float32 input per run-time option of the spec (CodeFormer's
``fidelity``, ISPL's ``blur_sigma``...) and one (N, ...) input per extra input the spec declares
(a parsing map, component boxes). Options and extra inputs are given with each call: changing
them needs no new session. Options measured in photo pixels are multiplied by each
face's magnification into the crop, so a blur width means the same thing for a small and a large face.
An option the spec marks ``estimated`` (ISPL's ``blur_sigma``) is measured on each face's crop
(:data:`ESTIMATORS`) unless the user gives a value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np

from facert.backends import Engine, engine_for
from facert.backends.base import Lifecycle
from facert.backends.choice import Plan, check_choice, open_plan
from facert.backends.gpu_choice import GPU_BACKENDS
from facert.errors import UsageError
from facert.models.artifacts import FP16_GRAPH, Artifact
from facert.models.registry import ModelOption, ModelSpec
from facert.stages.align.warp import from_tensor, to_tensor
from facert.stages.restore.blur import estimate_blur

# Per-face estimators of ``estimated`` options: (crops (N, S, S, 3) uint8 BGR, scales (N,)) -> (N,)
# values in the option's own units (photo pixels for a photo_pixels option).
ESTIMATORS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "blur_sigma": estimate_blur,
}


def _graph_option(spec: ModelSpec, name: str, label: str) -> ModelOption:
    """The option ``name`` of ``spec`` (``label``: as the user wrote it); UsageError unless it is
    a graph input."""
    option = spec.option(name)
    if not option.graph_input:
        raise UsageError(f"option {label} of {spec.name} is fixed when the model is exported")
    return option


def check_range(option: ModelOption, value: float, label: str) -> float:
    """``value`` of ``option`` (``label``: as the user wrote its name); UsageError outside its range."""
    if not option.minimum <= value <= option.maximum:
        raise UsageError(
            f"option {label}={value:g} is outside [{option.minimum:g}, {option.maximum:g}]"
        )
    return value


def parse_options(spec: ModelSpec, assignments: Iterable[str]) -> dict[str, float]:
    """``["name=value", ...]`` -> {name: value}, checked against the spec's options and ranges.

    ``name=auto`` asks for the per-face estimate of an ``estimated`` option (its default): it adds
    nothing to the result."""
    values: dict[str, float] = {}
    for item in assignments:
        name, sep, raw = item.partition("=")
        if not sep:
            raise UsageError(f"--option expects NAME=VALUE, got {item!r}")
        option = _graph_option(spec, name.strip(), name)
        if option.estimated and raw.strip() == "auto":
            values.pop(option.name, None)
            continue
        try:
            value = float(raw)
        except ValueError:
            raise UsageError(f"option {name}={raw!r} is not a number") from None
        values[option.name] = check_range(option, value, name)
    return values


def option_feed(
    spec: ModelSpec, values: Mapping[str, np.ndarray], scales: np.ndarray
) -> dict[str, np.ndarray]:
    """The graph inputs of per-face option ``values`` ((N,) each, in the options' own units):
    float32, photo-pixel options multiplied by each face's ``scales`` (crop pixels per photo pixel)."""
    feed = {}
    for name, per_face in values.items():
        per_face = np.asarray(per_face, np.float32).copy()
        if spec.option(name).photo_pixels:
            per_face *= np.asarray(scales, np.float32)
        feed[name] = per_face
    return feed


PRECISIONS = ("auto", "fp32", "fp16")  # the export's own graphs, on ONNX Runtime
# What "auto" picks on the CPU ONNX Runtime backend: FP32. ONNX Runtime's CPU
# provider has no float16 convolution: it turns the FP16 graph's convolutions back into float32 ones
# with casts around them (GFPGAN: every Conv float32 after its optimisation, 64 -> 138 Casts; ORT
# 1.32), so the FP16 graph costs float16's accuracy and buys no speed: per 512 face, 2 threads,
# GFPGAN 2.54 s vs 2.02 s FP32, CodeFormer 4.46 s vs 4.38 s (bench/bench_precision.py, load < 2).
# The FP16 graph is built and checked as the source of GPU FP16 engines.
AUTO_PRECISION = "fp32"


def graph_file(artifact: Artifact, precision: str) -> str:
    """The ONNX file of ``artifact`` to run at ``precision`` (auto, fp32, fp16); UsageError when
    it has none (an FP16 graph the export refused, or a model built in FP32 only)."""
    if precision not in PRECISIONS:
        raise UsageError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if (AUTO_PRECISION if precision == "auto" else precision) == "fp32":
        return artifact.spec.onnx_files[0]
    if FP16_GRAPH in artifact.files:
        return FP16_GRAPH
    if FP16_GRAPH not in artifact.spec.onnx_files:
        why = f"{artifact.spec.name} is built in FP32 only"
    else:
        why = f"the export refused it: {artifact.fp16_refused or 'it is not listed'}"
    raise UsageError(
        f"no FP16 graph ({why}); run with --precision fp32 or auto", path=str(artifact.folder)
    )


class Restorer(Lifecycle):
    """Aligned face crops in, restored crops out, through one exported model on ``engine``.

    The restorer owns ``engine`` (from :func:`facert.backends.engine_for`, or a test's own): it
    opens it in :meth:`open`, checks its inputs against the spec, and closes it in :meth:`close`.
    ``options`` overrides the spec's defaults for its run-time options in every call (a call may
    override them again); an ``estimated`` option given neither here nor in a call is measured per
    face (:meth:`face_options`). ``max_batch`` bounds how many faces go through the network at once
    (1 when the spec says the model does not batch).
    """

    def __init__(
        self,
        artifact: Artifact,
        engine: Engine,
        *,
        options: Mapping[str, float] | None = None,
        max_batch: int = 4,
    ) -> None:
        self.spec = artifact.spec
        self.artifact = artifact
        self.engine = engine
        self.options = {o.name: o.default for o in self.spec.options if o.graph_input}
        self.options.update(options or {})
        self.estimated = [
            o.name
            for o in self.spec.options
            if o.graph_input and o.estimated and o.name not in (options or {})
        ]
        unknown = [name for name in self.estimated if name not in ESTIMATORS]
        if unknown:
            raise UsageError(f"{self.spec.name}: no estimator for option(s) {unknown}")
        self.max_batch = max_batch if self.spec.batches else 1
        self.plan = Plan("ort", "fp32")  # what runs it, for messages (from_artifact sets it)
        self._image_input = ""

    @classmethod
    def from_artifact(
        cls,
        artifact: Artifact,
        *,
        options: Mapping[str, float] | None = None,
        threads: int = 0,
        max_batch: int = 4,
        precision: str = "auto",
        backend: str = "ort",
        cache_dir: Path | None = None,
        report: Callable[[str], None] | None = None,
        weights: Path | None = None,
    ) -> Restorer:
        """A restorer (not opened) on the engine that runs ``artifact`` with ``backend`` at
        ``precision`` (:mod:`facert.backends.choice`; on ``ort`` at auto/fp32/fp16 the export's own
        graph, :func:`graph_file`). Compiled artifacts go into ``cache_dir`` (default: the cache
        holding ``artifact``); ``report`` receives the progress lines of building them; ``weights``
        is the checkpoint ``artifact`` was exported from (the torch backend rebuilds its module
        from it; None: the official one in the cache)."""
        check_choice(backend, precision)
        on_cpu = backend not in GPU_BACKENDS  # a GPU backend's fp16 is its own, not ORT's graph
        if on_cpu and (precision == "fp16" or (backend == "ort" and precision in PRECISIONS)):
            engine = engine_for(artifact.path(graph_file(artifact, precision)), threads=threads)
            plan = Plan("ort", AUTO_PRECISION if precision == "auto" else precision)
        else:
            cache = cache_dir if cache_dir is not None else artifact.folder.parent.parent
            engine, plan = open_plan(
                cache, artifact, backend, precision, threads, report, weights=weights
            )
        restorer = cls(artifact, engine, options=options, max_batch=max_batch)
        restorer.plan = plan
        return restorer

    def __repr__(self) -> str:
        return f"Restorer({self.engine.name})"

    def _acquire(self) -> None:
        """Open the engine and check its inputs against the spec."""
        self.engine.open()
        inputs = self.engine.inputs
        extras = {extra.name: extra for extra in self.spec.extra_inputs}
        names = [n for n in inputs if n not in self.options and n not in extras]
        size = self.spec.input_size
        if (
            len(names) != 1
            or set(self.options) - set(inputs)
            or set(extras) - set(inputs)
            or tuple(inputs[names[0]].shape[1:]) != (3, size, size)
            or any(tuple(inputs[n].shape[1:]) != e.shape for n, e in extras.items())
        ):
            self.engine.close()
            shapes = {n: list(info.shape) for n, info in inputs.items()}
            wanted = f"options {sorted(self.options)}"
            if extras:
                wanted += f", extra inputs {sorted(extras)}"
            raise UsageError(
                f"{self.artifact.folder}: graph inputs {shapes} do not match the {self.spec.name} "
                f"spec (image (N, 3, {size}, {size}), {wanted}); export the model again"
            )
        self._image_input = names[0]

    def _release(self) -> None:
        self.engine.close()

    def open(self, *, warm_up: bool = False) -> Restorer:
        """Open the engine and check it; ``warm_up`` runs one face through it so that the first
        real call does not pay the backend's first-run costs."""
        super().open()
        if warm_up:
            size = self.spec.input_size
            extras = {
                e.name: np.zeros((1, *e.shape), np.dtype(e.dtype)) for e in self.spec.extra_inputs
            }
            self.restore(np.zeros((1, size, size, 3), np.uint8), extras=extras)
        return self

    def call_options(self, options: Mapping[str, float] | None) -> dict[str, float]:
        """The option values of one call: this restorer's, overridden by ``options`` (each a
        graph-input option of the spec, within its range, else :class:`UsageError`)."""
        values = dict(self.options)
        for name, value in (options or {}).items():
            values[name] = check_range(_graph_option(self.spec, name, name), float(value), name)
        return values

    def face_options(
        self,
        crops: np.ndarray,
        scales: np.ndarray,
        options: Mapping[str, float] | None = None,
    ) -> dict[str, np.ndarray]:
        """Each run-time option's value per face, (N,) float32 in the option's own units: the
        value given in ``options`` (this call), at construction, or the spec's default, or the
        estimate on ``crops`` ((N, S, S, 3) uint8 BGR, the crops the network will see; ``scales``
        (N,) crop pixels per photo pixel) for an ``estimated`` option given in neither."""
        given = self.call_options(options)
        values = {name: np.full(len(crops), value, np.float32) for name, value in given.items()}
        for name in self.estimated:
            if name in (options or {}):
                continue
            option = self.spec.option(name)
            estimate = ESTIMATORS[name](crops, np.asarray(scales, np.float32))
            values[name] = np.clip(estimate, option.minimum, option.maximum).astype(np.float32)
        return values

    def _extra_feed(
        self, extras: Mapping[str, np.ndarray] | None, count: int
    ) -> dict[str, np.ndarray]:
        """The spec's extra inputs, each (count, *shape) in its dtype, checked."""
        declared = {extra.name: extra for extra in self.spec.extra_inputs}
        given = dict(extras or {})
        if set(given) != set(declared):
            raise UsageError(
                f"{self.spec.name}: extra inputs expected {sorted(declared)}, got {sorted(given)}"
            )
        feed = {}
        for name, extra in declared.items():
            array = np.ascontiguousarray(given[name], dtype=np.dtype(extra.dtype))
            if array.shape != (count, *extra.shape):
                raise UsageError(
                    f"{self.spec.name}: extra input {name!r} must have shape "
                    f"{[count, *extra.shape]} (one per face), got {list(array.shape)}"
                )
            feed[name] = array
        return feed

    def _option_feed(
        self, values: Mapping[str, np.ndarray], scales: np.ndarray
    ) -> dict[str, np.ndarray]:
        return option_feed(self.spec, values, scales)

    @property
    def image_input(self) -> str:
        """The name of the engine's image input (known once open)."""
        self._require_open()
        return self._image_input

    def restore(
        self,
        crops: np.ndarray,
        scales: np.ndarray | None = None,
        values: Mapping[str, np.ndarray] | None = None,
        *,
        options: Mapping[str, float] | None = None,
        extras: Mapping[str, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Restore aligned crops.

        ``crops``: (N, S, S, 3) uint8 BGR, S = spec.input_size. ``scales``: (N,) crop pixels per
        photo pixel of each face (from the alignment), 1 if None. ``values``: the option values per
        face as :meth:`face_options` returns them; else computed here with ``options`` (this
        call's option values, by name). ``extras``: the spec's extra inputs, (N, *shape) each.
        Returns (N, S, S, 3) uint8 BGR.
        """
        self._require_open()
        if values is not None and options is not None:
            raise UsageError("give the option values per face (values) or per call (options)")
        count = len(crops)
        extra_feed = self._extra_feed(extras, count)
        if count == 0:
            return crops.copy()
        scales = np.ones(count, np.float32) if scales is None else np.asarray(scales, np.float32)
        values = self.face_options(crops, scales, options) if values is None else values
        results = []
        for start in range(0, count, self.max_batch):
            part = slice(start, start + self.max_batch)
            feed = self._option_feed(
                {k: np.asarray(v)[part] for k, v in values.items()}, scales[part]
            )
            feed.update({name: array[part] for name, array in extra_feed.items()})
            feed[self._image_input] = to_tensor(crops[part], self.spec)
            output = next(iter(self.engine.run(feed).values()))
            results.append(from_tensor(output, self.spec))
        return np.concatenate(results, axis=0)
