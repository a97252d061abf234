"""``facert models list | show NAME | fetch NAME | export NAME``."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from typing import Any

from facert.cli.models_show import show_lines
from facert.config import Settings
from facert.errors import ArtifactError
from facert.models.artifacts import Artifact, read_manifest
from facert.models.cache import exported_sources
from facert.models.provenance import weights_label
from facert.models.registry import ModelSpec, get_spec, list_specs
from facert.models.weights import cached_weights, fetch_weights


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "models",
        help="list, show, fetch and export models",
        description="Manage the model cache.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list", help="every model, its role, size, licence and cache state"
    )
    listing.set_defaults(run=run_list)
    show = actions.add_parser(
        "show",
        help="one model: summary, licence, notes, options, weights and its exports",
    )
    show.add_argument("name", help="model name (see `facert models list`)")
    show.set_defaults(run=run_show)
    fetch = actions.add_parser("fetch", help="download a model's official weights (sha256 checked)")
    fetch.add_argument("name", help="model name (see `facert models list`)")
    fetch.set_defaults(run=run_fetch)
    export = actions.add_parser("export", help="export a model to ONNX (needs facert[export])")
    export.add_argument("name", help="model name (see `facert models list`)")
    export.add_argument(
        "--weights",
        type=Path,
        help="checkpoint to export from: the official file, or one with the same keys and shapes",
    )
    export.add_argument(
        "-o", "--output", type=Path, help="folder to write (default: the cache, by checkpoint)"
    )
    export.add_argument(
        "--check-faces",
        type=Path,
        metavar="DIR",
        help="also check a learned restorer's export on the aligned face images in DIR "
        "(listed in its manifest); its fixed check faces are checked always",
    )
    export.set_defaults(run=run_export)
    _add_build(actions)


def _add_build(actions: Any) -> None:
    build = actions.add_parser(
        "build",
        help="build TensorRT plans of a model (needs facert[tensorrt-rtx] or facert[tensorrt])",
        description="Build a TensorRT plan of every graph of a model's export (exported first when "
        "needed) into the cache. TensorRT for RTX builds without a GPU, for the compute "
        "capabilities named (default: the RTX desktops, 8.6 8.9 12.0); TensorRT builds on the GPU "
        "it will run on.",
    )
    build.add_argument("name", help="model name (see `facert models list`)")
    build.add_argument("--weights", type=Path, help="checkpoint whose export to build from")
    build.add_argument(
        "--target", choices=("tensorrt-rtx", "tensorrt"), default="tensorrt-rtx", help="flavour"
    )
    build.add_argument(
        "--precision",
        choices=("fp16", "fp32"),
        help="fp16 (the export's FP16 graph, its FP32 pins kept) or fp32; default: fp16 where "
        "the export has an FP16 graph",
    )
    build.add_argument("--max-batch", type=int, help="most faces per call (default 8)")
    build.add_argument(
        "--compute-capability",
        nargs="+",
        default=[],
        metavar="X.Y",
        help="target GPUs of a TensorRT-RTX build, e.g. 8.6 8.9 12.0",
    )
    build.add_argument("-o", "--output", type=Path, help="cache folder to build into")
    build.set_defaults(run=run_build)


def _state(spec: ModelSpec, settings: Settings) -> tuple[str, str]:
    if not spec.needs_weights:
        weights = "none needed"
    elif cached_weights(spec, settings.cache_dir) is not None:
        weights = "cached"
    else:
        weights = "missing"
    exports = exported_sources(settings.cache_dir, spec)
    if not exports:
        return weights, "missing"
    onnx = f"{len(exports)} export{'s' if len(exports) != 1 else ''}"
    unofficial = [f for f in exports if not _official(spec, f)]
    if unofficial:
        label = weights_label(spec, False).split(" (")[0]
        count = "" if len(unofficial) == len(exports) else f"{len(unofficial)} "
        onnx += f" ({count}{label})"
    return weights, onnx


def _official(spec: ModelSpec, folder: Path) -> bool:
    try:
        return Artifact(spec, folder, read_manifest(folder)).official
    except ArtifactError:
        return True  # an unreadable manifest is refused when used; the ONNX count still shows it


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    rows = [("NAME", "ROLE", "INPUT", "WEIGHTS", "ONNX", "LICENCE")]
    for spec in sorted(list_specs(), key=lambda s: (s.role != "detector", s.name)):
        weights, onnx = _state(spec, settings)
        size = f"{spec.input_size}x{spec.input_size}" if spec.input_size else "any"
        rows.append((spec.name, spec.role, size, weights, onnx, spec.licence))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1])
    print(f"\ncache: {settings.cache_dir}\ndetails: facert models show NAME")
    return 0


def run_show(args: argparse.Namespace, settings: Settings) -> int:
    for line in show_lines(get_spec(args.name), settings.cache_dir):
        print(line)
    print(f"cache: {settings.cache_dir}")
    return 0


def run_fetch(args: argparse.Namespace, settings: Settings) -> int:
    spec = get_spec(args.name)
    if not spec.needs_weights:
        print(f"{spec.name} needs no weights")
        return 0
    paths = fetch_weights(spec, settings.cache_dir)
    for path in paths:
        print(path)
    if any(weight.manual for weight in spec.weights):
        print(check_by_hand(spec, paths))
    return 0


def check_by_hand(spec: ModelSpec, paths: list[Path]) -> str:
    """Check files put into the cache by hand (keys and shapes, by the model's exporter: torch)."""
    if importlib.util.find_spec("torch") is None:
        return "keys and shapes not checked (needs torch: pip install 'facert[export]')"
    from facert.export.exporters import exporter_for

    check = getattr(exporter_for(spec), "check_sources", None)
    if check is not None:
        check(spec, paths)
    return "keys and shapes checked"


def run_build(args: argparse.Namespace, settings: Settings) -> int:
    from facert.models.trt_plans import BuildRequest, build_plans

    request = BuildRequest(
        target=args.target,
        precision=args.precision,
        max_batch=args.max_batch,
        capabilities=tuple(args.compute_capability),
    )
    spec = get_spec(args.name)
    for plan in build_plans(
        spec, settings.cache_dir, request, weights=args.weights, out_dir=args.output
    ):
        facts = plan.manifest.get("build") or {}
        pins = facts.get("fp32_pins")
        pinned = f", {pins['fp32_layers_found']} FP32-pinned layers" if pins else ""
        print(
            f"{plan.key.source_graph}: {plan.key.backend} {plan.key.backend_version} "
            f"{plan.key.precision} for {plan.key.device}, batch {plan.key.batch_profile}, "
            f"{plan.path.stat().st_size / 1e6:.1f} MB{pinned} -> {plan.path}"
        )
    return 0


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    from facert.models.exporting import check_face_files, export

    spec = get_spec(args.name)
    faces = check_face_files(args.check_faces) if args.check_faces else []
    folder = export(
        spec, settings.cache_dir, weights=args.weights, out_dir=args.output, check_faces=faces
    )
    print(folder)
    return 0
