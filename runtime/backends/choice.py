"""Which engine runs a restorer here: ``--backend`` and ``--precision``, the compiled artifacts a
choice needs (built and gated once per machine), and the automatic choice.

A :class:`Plan` is a (backend, precision) pair. ``ort fp32`` (ONNX Runtime on the export's FP32
graph) runs everywhere and is the reference; ``ort fp16`` runs the export's FP16 graph; the others
need a compiled artifact (:mod:`facert.models.compiled`), built on first use into the cache and
kept with its accuracy-gate numbers (:mod:`facert.models.gate`):

========================  ===================================================================
``openvino fp32|bf16``    kind ``openvino``: the ops kept in f32 (pins.json) + OpenVINO's model cache
``ort int8``              kind ``int8-qdq``: a statically quantized QDQ graph (:mod:`.ort_int8`)
``openvino int8``         kind ``openvino`` built from that INT8 graph
========================  ===================================================================

An artifact whose gate failed is refused in one line; an explicit choice then falls back to FP32
on the same backend. ``--backend auto`` (the default) measures, once per machine and model, every
plan the spec allows (``ModelSpec.cpu_plans``) that this machine can run (the package is installed,
the CPU has the instructions: BF16 needs AMX-BF16 or AVX512-BF16, INT8 needs VNNI or AMX-INT8) and
the user did not rule out (``--precision``), and takes the fastest that passes the gate if it beats
ONNX Runtime FP32 by :data:`AUTO_MIN_SPEEDUP`; otherwise ONNX Runtime FP32. The choice and its
measurements are cached (``<model>/compiled/choice/<digest>.json``), keyed by the export, the CPU
fingerprint, the versions involved and the thread count; ``facert doctor`` prints them.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.util
import json
import logging
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facert import __version__
from facert.backends.base import Engine
from facert.backends.device import CpuTarget, cpu_description, cpu_fingerprint, cpu_flags
from facert.backends.gpu_choice import GPU_BACKENDS, gpu_engine, gpu_precision, gpu_unavailable
from facert.backends.openvino import LOWERINGS, OpenVinoEngine, openvino_version, pinned_ops
from facert.backends.ort import OrtSession
from facert.errors import ArtifactError, FacertError, GateError, UsageError
from facert.io.files import write_atomic
from facert.models.artifacts import FP16_GRAPH, FP32_GRAPH, Artifact
from facert.models.cache import model_dir
from facert.models.compiled import CompiledArtifact, CompiledKey, find_compiled
from facert.models.compiling import compile_graph, compiled_key
from facert.models.gate import GateReference, GateResult, gate_feed, run_gate

BACKENDS = ("auto", "ort", "openvino", *GPU_BACKENDS)
PRECISIONS = ("auto", "fp32", "fp16", "bf16", "int8")
AUTO_MIN_SPEEDUP = 1.1  # below this a faster plan is within a busy machine's noise: keep ORT FP32
PROBE_RUNS = 3  # timed runs per plan (after one warm-up); the median is compared
BF16_FLAGS = ("amx_bf16", "avx512_bf16")
INT8_FLAGS = ("amx_int8", "avx512_vnni", "avx_vnni", "asimddp", "i8mm")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plan:
    backend: str
    precision: str

    def __str__(self) -> str:
        return f"{self.backend} {self.precision}"

    @classmethod
    def parse(cls, text: str) -> Plan:
        backend, _, precision = text.partition(" ")
        return cls(backend, precision)


ORT_FP32 = Plan("ort", "fp32")


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    if module in sys.modules:  # imported already, or blocked (None)
        return sys.modules[module] is not None
    return importlib.util.find_spec(module) is not None


def unavailable(plan: Plan, flags: Iterable[str] | None = None) -> str | None:
    """Why ``plan`` cannot run well on this machine (a package missing, an instruction set the
    precision needs), or None. ``flags``: the CPU's (default: :func:`cpu_flags`)."""
    if plan.backend in GPU_BACKENDS:
        return gpu_unavailable(plan.backend)
    flags = set(cpu_flags() if flags is None else flags)
    if plan.backend == "openvino" and openvino_version() is None:
        return "openvino is not installed (pip install 'facert[openvino]')"
    if plan.precision == "int8" and not installed("onnx"):
        return "building INT8 graphs needs onnx (pip install 'facert[int8]')"
    if plan.precision == "bf16" and not flags & set(BF16_FLAGS):
        return f"the CPU has no BF16 instructions ({' or '.join(BF16_FLAGS)})"
    if plan.precision == "int8" and not flags & set(INT8_FLAGS):
        return f"the CPU has no INT8 dot-product instructions ({', '.join(INT8_FLAGS)})"
    return None


def check_choice(backend: str, precision: str) -> None:
    """UsageError for a backend or precision facert does not know, or a pair no backend runs."""
    if backend not in BACKENDS:
        raise UsageError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if precision not in PRECISIONS:
        raise UsageError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if backend == "ort" and precision == "bf16":
        raise UsageError("ONNX Runtime has no BF16 CPU path: --backend openvino --precision bf16")
    if backend == "openvino" and precision == "fp16":
        raise UsageError("float16 on a CPU runs the FP16 graph: --backend ort --precision fp16")
    if backend in GPU_BACKENDS and precision in ("bf16", "int8"):
        raise UsageError(f"--backend {backend} runs fp16 or fp32, not {precision}")


class Chooser:
    """The engines of one export on this machine: ``engine(plan)`` builds what a plan needs,
    ``choose(precision)`` is ``--backend auto``. ``report`` receives progress lines (a CLI prints
    them on stderr); library code never prints."""

    def __init__(
        self,
        cache_dir: Path,
        export: Artifact,
        *,
        threads: int = 0,
        report: Callable[[str], None] | None = None,
        weights: Path | None = None,
    ) -> None:
        self.cache_dir = cache_dir
        self.export = export
        self.weights = weights  # the export's checkpoint, for the torch backend's module
        self.spec = export.spec
        self.threads = threads
        self.report = report or log.info
        self._reference: GateReference | None = None

    # -- engines -----------------------------------------------------------------------------

    def engine(self, plan: Plan) -> Engine:
        """The engine (not opened) that runs ``plan``; builds and gates its artifact the first
        time. Raises :class:`GateError` when the artifact failed its gate."""
        graph = self.export.path(FP32_GRAPH)
        if plan == ORT_FP32:
            return OrtSession(graph, threads=self.threads)
        if plan == Plan("ort", "fp16"):
            return OrtSession(self.export.path(FP16_GRAPH), threads=self.threads)
        if plan == Plan("ort", "int8"):
            return OrtSession(_passed(self.int8_artifact()).path, threads=self.threads)
        if plan.backend in GPU_BACKENDS:
            return gpu_engine(
                self.cache_dir, self.export, plan.backend, plan.precision, self.weights
            )
        if plan.backend == "openvino":
            artifact, source = self.openvino_artifact(plan.precision)
            checked = _passed(artifact)
            return self.openvino_engine(source, plan.precision, checked.path, checked.folder)
        raise UsageError(f"no engine runs {plan}")

    def openvino_engine(
        self, source: Path, precision: str, pins: Path, folder: Path, lowering: str | None = None
    ) -> OpenVinoEngine:
        """The OpenVINO engine of ``source`` as the pins file ``pins`` says (``lowering``: the
        file's unless given), with OpenVINO's model cache in ``folder``."""
        facts = json.loads(pins.read_text())
        return OpenVinoEngine(
            source,
            precision=precision,
            threads=self.threads,
            keep_f32=facts["keep_f32"],
            lowering=lowering or facts["lowering"],
            cache_dir=folder / "model-cache",
        )

    def reference(self) -> GateReference:
        """ORT FP32's outputs on the check faces (computed once, shared by every gate)."""
        if self._reference is None:
            with OrtSession(self.export.path(FP32_GRAPH), threads=self.threads) as session:
                self._reference = GateReference(self.spec, session)
        return self._reference

    def gate(self, engine: Engine) -> dict[str, Any]:
        """``engine`` (closed; opened and closed here) through the accuracy gate: its JSON."""
        reference = self.reference()
        with engine:
            result = run_gate(reference, engine)
        return result.to_json()

    def _cached(self, key: CompiledKey, what: str) -> CompiledArtifact | None:
        try:
            return find_compiled(self.cache_dir, self.spec, key)
        except ArtifactError:
            self.report(f"building {what} of {self.spec.name} and checking it (once per machine)")
            return None

    def int8_artifact(self) -> CompiledArtifact:
        """The INT8 QDQ graph of the export, quantized and gated on first use."""
        from facert.backends.ort_int8 import Int8Quantizer

        quantizer = Int8Quantizer(self.spec)
        key = compiled_key(self.export, FP32_GRAPH, quantizer, precision="int8")
        found = self._cached(key, "the INT8 graph")
        if found is not None:
            return found
        return compile_graph(
            self.cache_dir,
            self.export,
            key,
            quantizer,
            check=lambda target: self.gate(OrtSession(target, threads=self.threads)),
        )

    def openvino_artifact(self, precision: str) -> tuple[CompiledArtifact, Path]:
        """The OpenVINO artifact at ``precision`` and the ONNX file it compiles (the FP32 graph,
        or for int8 the INT8 graph), built and gated on first use."""
        preparer = OpenVinoPreparer()
        if precision == "int8":
            int8 = _passed(self.int8_artifact())
            source = int8.path
            key = CompiledKey(
                kind=preparer.kind,
                source_graph=f"{int8.key.kind}/{int8.path.name}",
                source_sha256=str(int8.manifest["file"]["sha256"]),
                backend=preparer.backend,
                backend_version=preparer.version(),
                device=preparer.device(),
                precision="int8",
            )
        else:
            source = self.export.path(FP32_GRAPH)
            key = compiled_key(self.export, FP32_GRAPH, preparer, precision=precision)
        found = self._cached(key, f"the OpenVINO {precision} engine")
        if found is not None:
            return found, source

        def check(target: Path) -> dict[str, Any]:
            """Gate the first lowering that passes (bf16: "whole", then "islands"); the pins
            file then names it."""
            tried = LOWERINGS if precision == "bf16" else LOWERINGS[:1]
            for lowering in tried:
                engine = self.openvino_engine(source, precision, target, target.parent, lowering)
                result = self.gate(engine)
                facts = json.loads(target.read_text())
                target.write_text(json.dumps({**facts, "lowering": lowering}) + "\n")
                if result["passed"]:
                    break
                shutil.rmtree(target.parent / "model-cache", ignore_errors=True)  # its blob
                self.report(f"  {precision} ({lowering}): {GateResult.from_json(result).summary()}")
            return {**result, "lowering": lowering}

        built = compile_graph(
            self.cache_dir, self.export, key, preparer, source=source, check=check
        )
        return built, source

    # -- the automatic choice ----------------------------------------------------------------

    def candidates(self, precision: str = "auto") -> tuple[list[Plan], dict[str, str]]:
        """The plans ``--backend auto`` measures (ORT FP32 first) and why the others are left out."""
        plans, skipped = [], {}
        for backend, wanted in self.spec.cpu_plans:
            plan = Plan(backend, wanted)
            if precision not in ("auto", wanted):
                skipped[str(plan)] = f"--precision {precision}"
            elif (why := unavailable(plan)) is not None:
                skipped[str(plan)] = why
            else:
                plans.append(plan)
        if ORT_FP32 not in plans and precision in ("auto", "fp32"):
            plans.insert(0, ORT_FP32)
        return plans, skipped

    def choice_path(self, plans: list[Plan]) -> Path:
        facts = {
            "export": self.export.graph_sha256(FP32_GRAPH),
            "device": cpu_fingerprint(),
            "versions": _versions(),
            "threads": self.threads,
            "plans": [str(p) for p in plans],
        }
        digest = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]
        return model_dir(self.cache_dir, self.spec) / "compiled" / "choice" / f"{digest}.json"

    def choose(self, precision: str = "auto") -> Plan:
        """``--backend auto`` at ``precision``: the cached choice, else measured now."""
        if precision == "fp16":
            return Plan("ort", "fp16")
        plans, skipped = self.candidates(precision)
        if plans == [ORT_FP32] or not plans:
            return plans[0] if plans else ORT_FP32
        path = self.choice_path(plans)
        try:
            return Plan.parse(json.loads(path.read_text())["chosen"])
        except (OSError, ValueError, KeyError):
            pass
        self.report(
            f"choosing the fastest CPU engine for {self.spec.name} on this machine among "
            f"{', '.join(map(str, plans))} (once; --backend ort skips this)"
        )
        record = self.measure(plans)
        record["skipped"] = skipped
        write_atomic(path, lambda tmp: tmp.write_text(json.dumps(record, indent=2) + "\n"))
        self.report(f"{self.spec.name}: {record['why']}")
        return Plan.parse(record["chosen"])

    def measure(self, plans: list[Plan]) -> dict[str, Any]:
        """Gate and time each plan; the record :meth:`choose` caches."""
        rows: list[dict[str, Any]] = []
        for plan in plans:
            row: dict[str, Any] = {"plan": str(plan)}
            try:
                engine = self.engine(plan)
                row["ms"] = self.probe(engine)
            except GateError as exc:
                row["refused"] = str(exc)
            except FacertError as exc:
                row["failed"] = str(exc)
            rows.append(row)
            self.report(f"  {plan}: " + _row_text(row))
        baseline = next((r["ms"] for r in rows if r["plan"] == str(ORT_FP32) and "ms" in r), None)
        timed = [r for r in rows if "ms" in r]
        best = min(timed, key=lambda r: r["ms"]) if timed else {"plan": str(ORT_FP32)}
        chosen, why = best["plan"], "fastest that passed the gate"
        if baseline is not None and chosen != str(ORT_FP32):
            speedup = baseline / best["ms"]
            if speedup < AUTO_MIN_SPEEDUP:
                chosen = str(ORT_FP32)
                why = f"{best['plan']} only {speedup:.2f}x faster than ort fp32: kept ort fp32"
            else:
                why = f"{chosen}, {speedup:.2f}x faster than ort fp32, passed the gate"
        elif chosen == str(ORT_FP32):
            why = "ort fp32: nothing else was faster and passed the gate"
        return {
            "chosen": chosen,
            "why": why,
            "measured": rows,
            "cpu": cpu_description(),
            "device": cpu_fingerprint(),
            "versions": _versions(),
            "threads": self.threads,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }

    def probe(self, engine: Engine) -> float:
        """Milliseconds per face at batch 1 (median of :data:`PROBE_RUNS` after a warm-up) on the
        first check face at the default options."""
        reference = self.reference()
        with engine:
            feed = gate_feed(self.spec, engine, reference.faces[:1], reference.cases[0])
            engine.run(feed)
            times = []
            for _ in range(PROBE_RUNS):
                start = time.perf_counter()
                engine.run(feed)
                times.append(time.perf_counter() - start)
        return round(1000 * statistics.median(times), 1)


def _row_text(row: dict[str, Any]) -> str:
    if "ms" in row:
        return f"{row['ms']:.0f} ms per face"
    return str(row.get("refused") or row.get("failed"))


def _passed(artifact: CompiledArtifact) -> CompiledArtifact:
    gate = artifact.manifest.get("gate")
    if isinstance(gate, dict) and not gate.get("passed", False):
        result = GateResult.from_json(gate)
        raise GateError(
            f"refused by the accuracy gate: {result.summary()}", path=str(artifact.folder)
        )
    return artifact


def _versions() -> dict[str, str | None]:
    import onnxruntime

    return {
        "facert": __version__,
        "onnxruntime": str(onnxruntime.__version__),
        "openvino": openvino_version(),
        "onnx": "present" if installed("onnx") else None,
    }


class OpenVinoPreparer(CpuTarget):
    """The :class:`facert.models.compiling.Compiler` of ``openvino`` artifacts: ``pins.json``, the
    ops kept in f32 (from the export's FP16 graph, for bf16) and the bf16 lowering that passed the
    gate (:data:`facert.backends.openvino.LOWERINGS`); the compiled model itself lives in OpenVINO's
    model cache beside it (``model-cache/``), written when the gate first compiles it."""

    kind = "openvino"
    backend = "openvino"
    filename = "pins.json"
    converts_precision = True

    def version(self) -> str:
        return openvino_version() or "not installed"

    def compile(
        self, source: Path, target: Path, precision: str, batch_profile: tuple[int, int, int] | None
    ) -> None:
        if batch_profile is not None:
            raise UsageError("openvino artifacts keep the graph's dynamic batch: no profile")
        fp16 = source.parent / FP16_GRAPH
        pins = pinned_ops(fp16) if precision == "bf16" and fp16.is_file() else []
        target.write_text(json.dumps({"lowering": LOWERINGS[0], "keep_f32": pins}) + "\n")


def open_plan(
    cache_dir: Path,
    export: Artifact,
    backend: str,
    precision: str,
    threads: int = 0,
    report: Callable[[str], None] | None = None,
    weights: Path | None = None,
) -> tuple[Engine, Plan]:
    """The engine (not opened) and plan for ``--backend backend --precision precision``
    (``weights``: the export's checkpoint, as :func:`facert.backends.gpu_choice.gpu_engine` takes).

    ``auto`` measures once per machine (:meth:`Chooser.choose`). An explicit plan that needs a
    missing package raises in one line; one whose artifact fails the accuracy gate is reported in
    one line and replaced by FP32 on the same backend.
    """
    check_choice(backend, precision)
    chooser = Chooser(cache_dir, export, threads=threads, report=report, weights=weights)
    say = chooser.report
    if backend == "auto":
        plan = chooser.choose(precision)
        if precision not in ("auto", plan.precision):
            _, skipped = chooser.candidates(precision)
            reasons = "; ".join(f"{k}: {v}" for k, v in skipped.items() if k.endswith(precision))
            say(
                f"warning: no {precision} engine for {export.spec.name} here ({reasons}); "
                f"running {plan}"
            )
    else:
        if backend in GPU_BACKENDS:
            plan = Plan(backend, gpu_precision(export, precision))
        else:
            plan = Plan(backend, "fp32" if precision == "auto" else precision)
        why = unavailable(plan)
        if why is not None and plan.precision == "bf16" and plan.backend == "openvino":
            say(f"warning: {why}: OpenVINO runs this bf16 request in f32")
        elif why is not None and plan != ORT_FP32:
            raise UsageError(f"cannot run {plan}: {why}")
    try:
        return chooser.engine(plan), plan
    except GateError as exc:
        fallback = Plan(plan.backend, "fp32")
        say(f"warning: {plan} of {export.spec.name}: {exc}; running {fallback}")
        return chooser.engine(fallback), fallback
