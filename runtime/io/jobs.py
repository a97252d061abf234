"""Planning a batch run: which files to read, where each output goes, and the checks that keep
inputs safe (outputs never land on an input; a folder's own output folder is not re-read)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from facert.errors import InputError, UsageError
from facert.io.images import IMAGE_SUFFIXES


@dataclass(frozen=True)
class Job:
    """One image to process: where it is read from and where its result is written."""

    source: Path
    target: Path


def _images_under(folder: Path, skip: Path) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if (here / d).resolve() != skip and not d.startswith("."))
        found += [here / f for f in sorted(files) if Path(f).suffix.lower() in IMAGE_SUFFIXES]
    return found


def plan_jobs(inputs: list[Path], out_dir: Path) -> tuple[list[Job], list[InputError]]:
    """Expand files and folders (recursively) into jobs; problems become per-input errors.

    A file ``a/b.jpg`` is written to ``out_dir/b.jpg``; a file ``f/x/y.png`` found in folder ``f``
    to ``out_dir/x/y.png``. Two inputs aiming at the same output, or an output that is an input,
    are errors for that input; the rest of the batch goes on.
    """
    out_resolved = out_dir.resolve()
    jobs: list[Job] = []
    errors: list[InputError] = []
    sources: set[Path] = set()
    for item in inputs:
        if item.is_dir():
            files = _images_under(item, out_resolved)
            if not files:
                errors.append(InputError("folder holds no images", path=str(item)))
            pairs = [(f, out_dir / f.relative_to(item)) for f in files]
        elif item.exists():
            pairs = [(item, out_dir / item.name)]
        else:
            errors.append(InputError("no such file or folder", path=str(item)))
            continue
        for source, target in pairs:
            sources.add(source.resolve())
            jobs.append(Job(source, target))
    planned: dict[Path, Job] = {}
    kept = []
    for job in jobs:
        key = job.target.resolve()
        if key in sources:
            errors.append(
                InputError(
                    "output would overwrite an input; choose another -o", path=str(job.source)
                )
            )
        elif key in planned:
            errors.append(
                InputError(f"same output name as {planned[key].source}", path=str(job.source))
            )
        else:
            planned[key] = job
            kept.append(job)
    return kept, errors


def check_writable(out_dir: Path) -> None:
    """Create ``out_dir`` if needed and prove a file can be written there (else a UsageError)."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as exc:
        raise UsageError(
            f"output folder is not writable ({exc.strerror or exc})", path=str(out_dir)
        ) from None
