"""The human side of a benchmark document: a Markdown report and a PNG plot beside the JSON.

The plot (matplotlib, Agg: no display needed) has two panels: the median latency of each stage per
latency case, stacked (detect, align, restore, blend; error bar: the end-to-end p10..p90), and the
PSNR against FP32 of each accuracy row (capped at 100 dB: equal outputs are infinite).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from facert.errors import MissingDependencyError

STACKED = ("detect", "align", "restore", "blend")
PSNR_CAP_DB = 100.0


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if math.isfinite(value) else str(value)
    return str(value)


def _plan(row: dict[str, Any]) -> str:
    """The plan asked for, and what ran when the runtime fell back (a gate refusal)."""
    return row["plan"] if row["ran"] == row["plan"] else f"{row['plan']} (ran {row['ran']})"


def markdown(document: dict[str, Any]) -> str:
    """The report: the machine, the latency table, the accuracy table, the skipped plans."""
    machine = document["machine"]
    lines = [
        f"# facert bench: matrix {document['matrix']['name']}",
        "",
        f"- machine: {machine['cpu']}, {machine['logical_cores']} logical cores, "
        f"fingerprint `{machine['fingerprint']}`",
        f"- CPU features: {', '.join(machine['cpu_features']) or 'none'}; absent: "
        f"{', '.join(machine['cpu_features_absent']) or 'none'}",
        f"- GPU: {machine['gpu'].get('name') or 'none (' + str(machine['gpu'].get('reason')) + ')'}",
        f"- facert {machine['versions']['facert']} (commit {machine['git_commit']}), "
        f"onnxruntime {machine['versions']['onnxruntime']}, openvino {machine['versions']['openvino']}",
        f"- {document['created']}, load average {machine['load_average']}, threads "
        f"{machine['threads'] or 'all cores'}",
        "",
    ]
    if document["latency"]:
        warm = document["matrix"]
        lines += [
            f"## Latency (ms; {warm['warmup']} warm-up, {warm['repeats']} timed runs)",
            "",
            "| model | plan | batch | frame | detect p50 | align p50 | restore p50 | blend p50 "
            "| total p50 | p90 | p99 | faces/s | peak MiB |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row in document["latency"]:
            if "error" in row:
                lines.append(
                    f"| {row['model']} | {row['plan']} | {row['batch']} | {row['frame']} "
                    f"| failed: {row['error']} |"
                )
                continue
            stages = row["stages_ms"]
            cells = [f"{stages[s]['p50']:.1f}" for s in (*STACKED, "total")]
            lines.append(
                f"| {row['model']} | {_plan(row)} | {row['batch']} | {row['frame']} | "
                + " | ".join(cells)
                + f" | {stages['total']['p90']:.1f} | {stages['total']['p99']:.1f} | "
                f"{row['faces_per_s']:.2f} | {row['peak_memory_mib']:.0f} |"
            )
        lines.append("")
    if document["accuracy"]:
        lines += [
            "## Accuracy on the check faces (against ONNX Runtime FP32)",
            "",
            "| model | plan | ISA path | gate | PSNR dB | min PSNR dB | min SSIM | NaN/Inf "
            "| quality PSNR dB | quality SSIM |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row in document["accuracy"]:
            lines.append(
                f"| {row['model']} | {row['plan']} | {row['isa_path']} | {row['gate']} | "
                f"{_cell(row['psnr_db'])} | {_cell(row['psnr_db_min'])} | {row['ssim_min']:.4f} | "
                f"{row['nan']}/{row['inf']} | {row['quality_psnr_db']:.2f} | {row['quality_ssim']:.4f} |"
            )
        lines.append("")
    if document["skipped"]:
        lines += ["## Not run here", ""]
        lines += [f"- {s['model']} {s['plan']}: {s['why']}" for s in document["skipped"]]
        lines.append("")
    return "\n".join(lines)


def plot(document: dict[str, Any], path: Path) -> None:
    """Write the two-panel PNG of ``document`` to ``path``."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingDependencyError(
            "the bench plot needs matplotlib: pip install 'facert[demo]'"
        ) from None
    latency = [r for r in document["latency"] if "stages_ms" in r]
    accuracy = document["accuracy"]
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=80)
    labels = [f"{r['model']} {_plan(r)}\nb{r['batch']} {r['frame']}" for r in latency]
    bottoms = [0.0] * len(latency)
    for stage in STACKED:
        heights = [r["stages_ms"][stage]["p50"] for r in latency]
        left.bar(range(len(latency)), heights, bottom=bottoms, label=stage)
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    totals = [r["stages_ms"]["total"] for r in latency]
    left.errorbar(
        range(len(latency)),
        [t["p50"] for t in totals],
        yerr=[[t["p50"] - t["p10"] for t in totals], [t["p90"] - t["p50"] for t in totals]],
        fmt="none",
        ecolor="black",
        capsize=3,
    )
    left.set_xticks(range(len(latency)), labels, rotation=60, ha="right", fontsize=7)
    left.set_ylabel("median ms per frame (bar: p10..p90 end to end)")
    left.set_title("latency per stage")
    left.legend(fontsize=8)
    names = [f"{r['model']} {r['plan']}" for r in accuracy]
    values = [min(float(r["psnr_db"]), PSNR_CAP_DB) for r in accuracy]
    right.barh(range(len(accuracy)), values, color="tab:green")
    right.set_yticks(range(len(accuracy)), names, fontsize=8)
    right.axvline(40.0, color="red", linestyle="--", label="gate 40 dB")
    right.set_xlabel(f"PSNR vs FP32 on the check faces, dB (capped at {PSNR_CAP_DB:.0f})")
    right.set_title("accuracy per model and precision")
    right.legend(fontsize=8)
    figure.suptitle(f"facert bench {document['matrix']['name']} on {document['machine']['cpu']}")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
