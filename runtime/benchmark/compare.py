"""``facert bench --compare BASELINE.json``: what changed since a baseline, and whether it regressed.

The rules (README.md, "Benchmarks and regressions", says the same):

- **Latency** is compared only when both documents carry the same machine fingerprint
  (:mod:`facert.benchmark.machine`) and thread setting; otherwise only accuracy is, and the table
  says so. A stage of a case (model, plan, batch, frame) regressed when its new median is
  **outside the baseline's measured spread** (above the baseline's p90 over its repeated runs: the
  run-to-run noise of that same run) **and more than** :data:`LATENCY_TOLERANCE` **(10 %) slower**
  than the baseline's median **and** at least :data:`LATENCY_FLOOR_MS` (2 ms) slower: millisecond
  stages are scheduler noise on a shared machine (align went from 1.2 to 1.9 ms between two runs
  at load 8).
- **Accuracy** rows (model, plan) are compared only where both ran on the **same ISA path**
  (:func:`facert.benchmark.machine.isa_path`: fp32 everywhere; bf16 on ``amx_bf16`` or
  ``avx512_bf16`` or emulated; int8 on ``amx_int8``, ``avx512_vnni``...): a BF16 row of an AMX
  machine is not held to an AVX-512 machine's numbers, nor the other way round; such rows are
  listed as not compared. A row regressed when its PSNR against FP32 or its quality PSNR against
  the clean faces dropped by more than :data:`ACCURACY_TOLERANCE_DB` (0.1 dB), PSNR above
  :data:`PSNR_CEILING_DB` (60 dB) counting as 60 dB, or when NaN/Inf values appeared where the
  baseline had none.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facert.errors import UsageError

LATENCY_TOLERANCE = 0.10
LATENCY_FLOOR_MS = 2.0
ACCURACY_TOLERANCE_DB = 0.1
# PSNR against FP32 above this counts as this: uint8 outputs that differ by one level in a few
# pixels (OpenVINO FP32: 91 dB for ISPL, 99 dB for WIPA) move by whole dB with any kernel change.
PSNR_CEILING_DB = 60.0
ACCURACY_METRICS = ("psnr_db", "quality_psnr_db")
SCHEMA = "facert-bench/1"


def load_document(path: Path) -> dict[str, Any]:
    """A benchmark document; :class:`UsageError` (one line, exit 2) when it is missing, not JSON,
    or not a facert-bench/1 document."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(
            f"cannot read the benchmark file: {exc.strerror}", path=str(path)
        ) from None
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"not valid JSON ({exc})", path=str(path)) from None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        found = document.get("schema") if isinstance(document, dict) else type(document).__name__
        raise UsageError(f"not a {SCHEMA} document (schema: {found!r})", path=str(path))
    for key, kind in (("machine", dict), ("accuracy", list), ("latency", list)):
        if not isinstance(document.get(key), kind):
            raise UsageError(f"{SCHEMA} document without a valid {key!r}", path=str(path))
    if not isinstance(document["machine"].get("fingerprint"), str):
        raise UsageError(f"{SCHEMA} document without a machine fingerprint", path=str(path))
    return document


@dataclass
class Change:
    part: str  # "latency" or "accuracy"
    case: str
    metric: str
    before: float | None
    after: float | None
    verdict: str  # "ok", "REGRESSION", "better", "new", "gone", "not compared: ..."

    def line(self) -> str:
        def show(value: float | None) -> str:
            return "-" if value is None else f"{value:.3f}" if math.isfinite(value) else str(value)

        change = ""
        if self.before is not None and self.after is not None:
            if self.part == "latency" and self.before > 0:
                change = f"{100 * (self.after / self.before - 1):+.1f}%"
            elif math.isfinite(self.before) and math.isfinite(self.after):
                change = f"{self.after - self.before:+.3f}"
        return (
            f"{self.part:8s} {self.case:44s} {self.metric:16s} {show(self.before):>10s} "
            f"{show(self.after):>10s} {change:>8s}  {self.verdict}"
        )


@dataclass
class Comparison:
    same_machine: bool
    notes: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.verdict == "REGRESSION"]

    def table(self) -> str:
        head = (
            f"{'part':8s} {'case':44s} {'metric':16s} {'baseline':>10s} {'now':>10s} "
            f"{'change':>8s}  verdict"
        )
        lines = [*self.notes, head, *(c.line() for c in self.changes)]
        count = len(self.regressions)
        lines.append(f"{count} regression{'s' * (count != 1)}" if count else "no regression")
        return "\n".join(lines)


def _float(value: Any) -> float:
    return float(value)  # "inf" (JSON has no infinity) -> inf


def _latency_key(row: dict[str, Any]) -> str:
    return f"{row['model']} {row['plan']} b{row['batch']} {row['frame']}"


def compare_latency(baseline: list[dict[str, Any]], current: list[dict[str, Any]]) -> list[Change]:
    before = {_latency_key(r): r for r in baseline if "stages_ms" in r}
    changes = []
    for row in current:
        key = _latency_key(row)
        if "stages_ms" not in row:
            changes.append(Change("latency", key, "total", None, None, "failed: " + row["error"]))
            continue
        if key not in before:
            changes.append(
                Change(
                    "latency", key, "total p50 ms", None, row["stages_ms"]["total"]["p50"], "new"
                )
            )
            continue
        for stage, now in row["stages_ms"].items():
            then = before[key]["stages_ms"].get(stage)
            if then is None:
                continue
            median, spread_high = now["p50"], then["p90"]
            slower = median - then["p50"]
            regressed = (
                median > spread_high
                and median > (1 + LATENCY_TOLERANCE) * then["p50"]
                and slower >= LATENCY_FLOOR_MS
            )
            faster = median < then["p10"] and median < (1 - LATENCY_TOLERANCE) * then["p50"]
            verdict = "REGRESSION" if regressed else "better" if faster else "ok"
            changes.append(Change("latency", key, f"{stage} p50 ms", then["p50"], median, verdict))
    return changes


def compare_accuracy(baseline: list[dict[str, Any]], current: list[dict[str, Any]]) -> list[Change]:
    before = {f"{r['model']} {r['plan']}": r for r in baseline}
    changes = []
    for row in current:
        key = f"{row['model']} {row['plan']}"
        then = before.get(key)
        if then is None:
            changes.append(Change("accuracy", key, "psnr_db", None, _float(row["psnr_db"]), "new"))
            continue
        if then.get("isa_path") != row.get("isa_path"):
            why = f"not compared: ISA path {then.get('isa_path')} then, {row.get('isa_path')} now"
            changes.append(
                Change(
                    "accuracy", key, "psnr_db", _float(then["psnr_db"]), _float(row["psnr_db"]), why
                )
            )
            continue
        for metric in ACCURACY_METRICS:
            old = min(_float(then[metric]), PSNR_CEILING_DB)
            new = min(_float(row[metric]), PSNR_CEILING_DB)
            dropped = new < old - ACCURACY_TOLERANCE_DB
            gained = new > old + ACCURACY_TOLERANCE_DB
            verdict = "REGRESSION" if dropped else "better" if gained else "ok"
            changes.append(Change("accuracy", key, metric, old, new, verdict))
        bad, had = row["nan"] + row["inf"], then["nan"] + then["inf"]
        verdict = "REGRESSION" if bad > had == 0 else "ok"
        changes.append(Change("accuracy", key, "nan+inf", float(had), float(bad), verdict))
    return changes


def compare(baseline: dict[str, Any], current: dict[str, Any]) -> Comparison:
    """The changes from ``baseline`` to ``current`` (two loaded documents) under the rules above."""
    old, new = baseline["machine"]["fingerprint"], current["machine"]["fingerprint"]
    threads = baseline["machine"].get("threads"), current["machine"].get("threads")
    result = Comparison(same_machine=old == new)
    if result.same_machine and threads[0] != threads[1]:
        result.notes.append(
            f"same machine ({new}) but {threads[0]} threads then, {threads[1]} now: accuracy only, "
            "latency not compared"
        )
    elif result.same_machine:
        result.notes.append(f"same machine ({new}): latency compared")
        result.changes += compare_latency(baseline["latency"], current["latency"])
    else:
        result.notes.append(
            f"different machine (baseline {old}, this run {new}): accuracy only, latency not compared"
        )
    result.changes += compare_accuracy(baseline["accuracy"], current["accuracy"])
    measured = {c.case for c in result.changes}
    for row in baseline["accuracy"]:
        key = f"{row['model']} {row['plan']}"
        if key not in measured and current["accuracy"]:
            result.changes.append(
                Change("accuracy", key, "psnr_db", _float(row["psnr_db"]), None, "gone")
            )
    return result
