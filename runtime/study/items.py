"""The images of a study folder and the comparisons a rater is shown.

Layout: ``DIR/<method>/<name>.<ext>``, one folder per method (a model or a setting) holding its
restorations under the same names; ``DIR/input/<name>.*`` (the degraded input, shown as the
reference) and ``DIR/clean/<name>.*`` (the ground truth, shown only on request) are optional and
never methods. Names are matched without their extension. An item is a name at least two methods
have; its comparisons are every pair of the methods that have it.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path

from facert.errors import FacertError, UsageError
from facert.io.images import IMAGE_SUFFIXES, read_image

log = logging.getLogger("facert.study")
REFERENCES = ("input", "clean")  # folders that are not methods


@dataclass(frozen=True)
class Item:
    name: str  # the file name without its extension
    files: dict[str, Path]  # method -> its restoration
    input: Path | None = None
    clean: Path | None = None


@dataclass(frozen=True)
class StudySet:
    root: Path
    methods: tuple[str, ...]  # sorted
    items: tuple[Item, ...]  # sorted by name

    def item(self, name: str) -> Item | None:
        return next((item for item in self.items if item.name == name), None)


@dataclass(frozen=True)
class Task:
    """One comparison: ``item``'s restorations by ``a`` (shown on the left, "A") and ``b`` (right)."""

    item: str
    a: str
    b: str


def _images(folder: Path, max_pixels: int) -> dict[str, Path]:
    """name -> file of the readable images in ``folder``; a bad or ambiguous one is skipped with a
    one-line warning."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if path.stem in found:
            log.warning("%s: skipped (%s has the same name)", path, found[path.stem].name)
            continue
        try:
            read_image(path, max_pixels)
        except FacertError as exc:
            log.warning("skipped %s", exc)
            continue
        found[path.stem] = path
    return found


def scan(root: Path, max_pixels: int, methods: tuple[str, ...] = ()) -> StudySet:
    """The study in ``root`` (module docstring), restricted to ``methods`` when given; every image
    is decoded once here. UsageError for a missing folder, fewer than two methods, an unknown
    method, or no name two methods share."""
    if not root.is_dir():
        raise UsageError("no such folder (expected DIR/<method>/<name>.png)", path=str(root))
    folders = {
        p.name: p
        for p in sorted(root.iterdir())
        if p.is_dir() and not p.name.startswith(".") and p.name not in REFERENCES
    }
    unknown = [m for m in methods if m not in folders]
    if unknown:
        raise UsageError(
            f"no method folder {', '.join(unknown)} (found: {', '.join(folders) or 'none'})",
            path=str(root),
        )
    chosen = list(dict.fromkeys(methods)) if methods else sorted(folders)
    if len(chosen) < 2:
        raise UsageError(
            f"a study needs two or more method folders, found {len(chosen)} "
            f"({', '.join(chosen) or 'none'}; expected DIR/<method>/<name>.png)",
            path=str(root),
        )
    images = {m: _images(folders[m], max_pixels) for m in sorted(chosen)}
    refs = {r: _images(root / r, max_pixels) if (root / r).is_dir() else {} for r in REFERENCES}
    names = sorted({n for found in images.values() for n in found})
    items = []
    for name in names:
        files = {m: found[name] for m, found in images.items() if name in found}
        if len(files) >= 2:
            items.append(Item(name, files, refs["input"].get(name), refs["clean"].get(name)))
    if not items:
        raise UsageError(
            f"no image name is in two of the method folders ({', '.join(sorted(chosen))})",
            path=str(root),
        )
    return StudySet(root, tuple(sorted(chosen)), tuple(items))


def plan(study: StudySet, seed: int) -> list[Task]:
    """A rater's comparisons: every pair of methods of every item, each pair's sides and the order
    of all of them drawn from ``random.Random(seed)`` (the seed is recorded with the session)."""
    rng = random.Random(seed)
    tasks = []
    for item in study.items:
        methods = sorted(item.files)
        for i, a in enumerate(methods):
            for b in methods[i + 1 :]:
                tasks.append(Task(item.name, a, b) if rng.random() < 0.5 else Task(item.name, b, a))
    rng.shuffle(tasks)
    return tasks
