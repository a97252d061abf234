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


def _machine_lines(document: dict[str, Any]) -> list[str]:
    machine = document["machine"]
    gpu = machine["gpu"]
    return [
        f"# facert bench: matrix {document['matrix']['name']}",
        "",
        f"- machine: {machine['cpu']}, {machine['logical_cores']} logical cores, "
        f"fingerprint `{machine['fingerprint']}`",
        f"- CPU features: {', '.join(machine['cpu_features']) or 'none'}; absent: "
        f"{', '.join(machine['cpu_features_absent']) or 'none'}",
        f"- GPU: {gpu.get('name') or 'none (' + str(gpu.get('reason')) + ')'}",
        f"- facert {machine['versions']['facert']} (commit {machine['git_commit']}), "
        f"onnxruntime {machine['versions']['onnxruntime']}, openvino {machine['versions']['openvino']}",
        f"- {document['created']}, load average {machine['load_average']}, threads "
        f"{machine['threads'] or 'all cores'}",
        "",
    ]


def _latency_lines(document: dict[str, Any]) -> list[str]:
    matrix = document["matrix"]
    lines = [
        f"## Latency (ms; {matrix['warmup']} warm-up, {matrix['repeats']} timed runs)",
        "",
        "| model | plan | batch | frame | detect p50 | align p50 | restore p50 | blend p50 "
        "| total p50 | p90 | p99 | faces/s | peak MiB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in document["latency"]:
        case = f"| {row['model']} | {row['plan']} | {row['batch']} | {row['frame']} |"
        if "error" in row:
            lines.append(f"{case} failed: {row['error']} |")
            continue
        stages = row["stages_ms"]
        cells = [f"{stages[s]['p50']:.1f}" for s in (*STACKED, "total")]
        lines.append(
            f"| {row['model']} | {_plan(row)} | {row['batch']} | {row['frame']} | "
            + " | ".join(cells)
            + f" | {stages['total']['p90']:.1f} | {stages['total']['p99']:.1f} | "
            f"{row['faces_per_s']:.2f} | {row['peak_memory_mib']:.0f} |"
        )
    return [*lines, ""]


def _accuracy_lines(document: dict[str, Any]) -> list[str]:
    lines = [
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
    return [*lines, ""]


def markdown(document: dict[str, Any]) -> str:
    """The report: the machine, the latency table, the accuracy table, the skipped plans."""
    lines = _machine_lines(document)
    if document["latency"]:
        lines += _latency_lines(document)
    if document["accuracy"]:
        lines += _accuracy_lines(document)
    if document["skipped"]:
        lines += ["## Not run here", ""]
        lines += [f"- {s['model']} {s['plan']}: {s['why']}" for s in document["skipped"]]
        lines.append("")
    return "\n".join(lines)


def _latency_panel(axes: Any, latency: list[dict[str, Any]]) -> None:
    labels = [f"{r['model']} {_plan(r)}\nb{r['batch']} {r['frame']}" for r in latency]
    bottoms = [0.0] * len(latency)
    for stage in STACKED:
        heights = [r["stages_ms"][stage]["p50"] for r in latency]
        axes.bar(range(len(latency)), heights, bottom=bottoms, label=stage)
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    totals = [r["stages_ms"]["total"] for r in latency]
    axes.errorbar(
        range(len(latency)),
        [t["p50"] for t in totals],
        yerr=[[t["p50"] - t["p10"] for t in totals], [t["p90"] - t["p50"] for t in totals]],
        fmt="none",
        ecolor="black",
        capsize=3,
    )
    axes.set_xticks(range(len(latency)), labels, rotation=60, ha="right", fontsize=7)
    axes.set_ylabel("median ms per frame (bar: p10..p90 end to end)")
    axes.set_title("latency per stage")
    axes.legend(fontsize=8)


def _accuracy_panel(axes: Any, accuracy: list[dict[str, Any]]) -> None:
    names = [f"{r['model']} {r['plan']}" for r in accuracy]
    values = [min(float(r["psnr_db"]), PSNR_CAP_DB) for r in accuracy]
    axes.barh(range(len(accuracy)), values, color="tab:green")
    axes.set_yticks(range(len(accuracy)), names, fontsize=8)
    axes.axvline(40.0, color="red", linestyle="--", label="gate 40 dB")
    axes.set_xlabel(f"PSNR vs FP32 on the check faces, dB (capped at {PSNR_CAP_DB:.0f})")
    axes.set_title("accuracy per model and precision")
    axes.legend(fontsize=8)


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
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=80)
    _latency_panel(left, [r for r in document["latency"] if "stages_ms" in r])
    _accuracy_panel(right, document["accuracy"])
    figure.suptitle(f"facert bench {document['matrix']['name']} on {document['machine']['cpu']}")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
