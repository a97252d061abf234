"""What ``facert bench`` measures: a declared matrix of models x (backend, precision) plans x batch
sizes x frame sizes, and how many runs.

A matrix is data: :data:`DEFAULT` (a few minutes on 2 cores: the embedded restorers), :data:`FULL`
(for a release), or a JSON file of the same fields (:func:`load_matrix`). Models are named; with
``cached_models`` every other registered restorer whose export is already in the cache joins in
(learned models, and any model added to the registry later), none is exported or downloaded.

Latency cases are every (model, plan, batch, frame); accuracy rows every (model, plan): the batch
and the frame do not change a restorer's numbers. ``skip`` leaves out plans per model, with the
reason in the matrix itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from facert.backends.choice import Plan, check_choice
from facert.errors import UnknownModelError, UsageError
from facert.models.artifacts import find_artifact
from facert.models.registry import get_spec, list_specs

Frame = tuple[int, int]  # width, height in pixels


@dataclass(frozen=True)
class Matrix:
    """The runs of one benchmark. ``plans``: "backend precision" strings (``ort fp32`` first: it is
    the accuracy reference). ``batches``: faces per frame (the restorer's batch). ``warmup`` runs
    are discarded, ``repeats`` timed; ``rounds``: the repeats are split into this many rounds, the
    median of each round kept as the run-to-run noise (the spread a regression must leave)."""

    name: str
    models: tuple[str, ...]
    plans: tuple[str, ...]
    batches: tuple[int, ...]
    frames: tuple[Frame, ...]
    warmup: int = 1
    repeats: int = 6
    rounds: int = 3
    cached_models: bool = True
    skip: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for text in self.plans:
            plan = Plan.parse(text)
            check_choice(plan.backend, plan.precision)
            if "auto" in (plan.backend, plan.precision):
                raise UsageError(
                    f"matrix {self.name}: plan {text!r} must name a backend and precision"
                )
        if not self.plans or self.plans[0] != "ort fp32":
            raise UsageError(
                f"matrix {self.name}: the first plan must be 'ort fp32' (the reference)"
            )
        if min(self.batches, default=0) < 1 or min(self.repeats, self.rounds, self.warmup + 1) < 1:
            raise UsageError(f"matrix {self.name}: batches, repeats and rounds must be >= 1")
        if any("ort fp32" in plans for plans in self.skip.values()):
            raise UsageError(f"matrix {self.name}: 'ort fp32' (the reference) cannot be skipped")
        if self.repeats % self.rounds:
            raise UsageError(f"matrix {self.name}: repeats must be a multiple of rounds")
        for width, height in self.frames:
            if min(width, height) < 64:
                raise UsageError(f"matrix {self.name}: frame {width}x{height} is under 64 pixels")

    def to_json(self) -> dict[str, Any]:
        facts = asdict(self)
        facts["skip"] = {k: list(v) for k, v in self.skip.items()}
        return facts

    def model_names(self, cache_dir: Path) -> list[str]:
        """The named models, then (``cached_models``) every other registered restorer exported in
        ``cache_dir``. Raises :class:`UnknownModelError` for a named model not registered."""
        names = []
        for name in self.models:
            if get_spec(name).role != "restorer":
                raise UsageError(f"matrix {self.name}: {name} is not a restorer")
            names.append(name)
        if self.cached_models:
            for spec in list_specs("restorer"):
                if spec.name not in names and _exported(cache_dir, spec.name):
                    names.append(spec.name)
        return names

    def plans_for(self, model: str) -> list[Plan]:
        return [Plan.parse(p) for p in self.plans if p not in self.skip.get(model, ())]

    def latency_cases(self, models: list[str]) -> Iterator[tuple[str, Plan, int, Frame]]:
        for model in models:
            for plan in self.plans_for(model):
                for batch in self.batches:
                    for frame in self.frames:
                        yield model, plan, batch, frame


def _exported(cache_dir: Path, name: str) -> bool:
    try:
        find_artifact(cache_dir, get_spec(name))
    except (UsageError, UnknownModelError):
        return False
    return True


# The weight-free restorers have no learned weights for INT8 to quantize; OpenVINO's BF16
# compilation of WIPA did not finish in 60 s (bench/bench_cpu_backends.py, AMD EPYC, 2026-12-05).
WEIGHT_FREE_SKIP = {
    "ispl": ("ort int8", "openvino int8"),
    "wipa": ("openvino bf16", "ort int8", "openvino int8"),
}

DEFAULT = Matrix(
    name="default",
    models=("ispl", "wipa"),
    plans=("ort fp32", "ort fp16", "openvino fp32", "openvino bf16"),
    batches=(1, 2),
    frames=((640, 480),),
    warmup=1,
    repeats=6,
    rounds=3,
    skip=WEIGHT_FREE_SKIP,
)

FULL = Matrix(
    name="full",
    models=("ispl", "wipa"),
    plans=(
        "ort fp32",
        "ort fp16",
        "openvino fp32",
        "openvino bf16",
        "ort int8",
        "openvino int8",
    ),
    batches=(1, 2, 4),
    frames=((640, 480), (1280, 720), (1920, 1080)),
    warmup=2,
    repeats=20,
    rounds=5,
    skip=WEIGHT_FREE_SKIP,
)

MATRICES = {"default": DEFAULT, "full": FULL}


def load_matrix(name_or_path: str) -> Matrix:
    """:data:`DEFAULT` or :data:`FULL` by name, else a JSON file with :class:`Matrix`'s fields
    (``frames`` as [width, height] pairs; ``name`` defaults to the file's stem)."""
    if name_or_path in MATRICES:
        return MATRICES[name_or_path]
    path = Path(name_or_path)
    try:
        facts = json.loads(path.read_text())
    except OSError as exc:
        raise UsageError(
            f"not a matrix name ({', '.join(MATRICES)}) nor a readable file: {exc.strerror}",
            path=str(path),
        ) from None
    except ValueError as exc:
        raise UsageError(f"not valid JSON: {exc}", path=str(path)) from None
    return matrix_from_json(facts, path.stem, str(path))


def matrix_from_json(facts: Any, default_name: str, where: str) -> Matrix:
    if not isinstance(facts, dict):
        raise UsageError("a matrix file holds a JSON object", path=where)
    known = set(Matrix.__dataclass_fields__)
    unknown = sorted(set(facts) - known)
    if unknown:
        raise UsageError(f"unknown matrix fields {unknown}; known: {sorted(known)}", path=where)
    try:
        return Matrix(
            name=str(facts.get("name", default_name)),
            models=tuple(str(m) for m in facts["models"]),
            plans=tuple(str(p) for p in facts.get("plans", ["ort fp32"])),
            batches=tuple(int(b) for b in facts.get("batches", [1])),
            frames=tuple((int(w), int(h)) for w, h in facts.get("frames", [[640, 480]])),
            warmup=int(facts.get("warmup", 1)),
            repeats=int(facts.get("repeats", 6)),
            rounds=int(facts.get("rounds", 3)),
            cached_models=bool(facts.get("cached_models", False)),
            skip={str(k): tuple(str(p) for p in v) for k, v in facts.get("skip", {}).items()},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"bad matrix: {type(exc).__name__}: {exc}", path=where) from None
