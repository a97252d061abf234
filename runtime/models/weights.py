"""Official weight files: download into the cache with sha256 checks, or take the user's file.

``fetch_weights`` obtains every file of a spec: over HTTPS from the official URL, or, for weights that
ship inside a PyPI package, with ``pip download --no-deps`` (which honours the user's pip index and
proxy configuration). Each file is checked against the sha256 in the spec before it is moved into the
cache; offline, the error says where to put the file by hand.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from facert.errors import DownloadError, WeightsError
from facert.io.files import sha256_of, write_atomic
from facert.models.cache import weights_dir
from facert.models.registry import ModelSpec, WeightFile

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_S = 60


def _http_download(weight: WeightFile, target: Path) -> None:
    try:
        with (
            urllib.request.urlopen(weight.url, timeout=DOWNLOAD_TIMEOUT_S) as response,
            open(target, "wb") as out,
        ):
            shutil.copyfileobj(response, out, 1 << 20)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DownloadError(f"cannot download {weight.url} ({reason})") from None


def _pip_download(weight: WeightFile, target: Path) -> None:
    assert weight.pip_requirement is not None
    with tempfile.TemporaryDirectory() as scratch:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
        ]
        command += ["--no-input", "--only-binary", ":all:", "-d", scratch, weight.pip_requirement]
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        wheel = Path(scratch) / weight.filename
        if result.returncode != 0 or not wheel.is_file():
            lines = [
                ln for ln in (result.stderr or result.stdout).strip().splitlines() if ln.strip()
            ]
            reason = lines[-1].strip() if lines else f"pip exited with {result.returncode}"
            raise DownloadError(f"`pip download {weight.pip_requirement}` failed ({reason})")
        shutil.move(str(wheel), target)


def _pip_importable() -> bool:
    import importlib.util

    return importlib.util.find_spec("pip") is not None


def _obtain(weight: WeightFile, dest: Path) -> None:
    """Download ``weight`` to ``dest`` (atomically), checking its sha256."""

    def download(tmp: Path) -> None:
        if weight.pip_requirement and _pip_importable():
            _pip_download(weight, tmp)
        else:
            _http_download(weight, tmp)
        actual = sha256_of(tmp)
        if actual != weight.sha256:
            raise DownloadError(
                f"{weight.filename}: sha256 {actual} does not match the expected {weight.sha256}"
            )

    try:
        write_atomic(dest, download)
    except DownloadError as exc:
        raise DownloadError(
            f"{exc}; download {weight.url} by hand and put it at {dest} (sha256 {weight.sha256})"
        ) from None


def _extract(wheel: Path, members: tuple[str, ...], folder: Path) -> None:
    try:
        with zipfile.ZipFile(wheel) as archive:
            for member in members:
                data = archive.read(member)
                write_atomic(folder / Path(member).name, lambda tmp, d=data: tmp.write_bytes(d))
    except (zipfile.BadZipFile, KeyError) as exc:
        raise WeightsError(f"cannot extract {members} ({exc})", path=str(wheel)) from None


def fetch_weights(spec: ModelSpec, cache_dir: Path) -> list[Path]:
    """Make every weight file of ``spec`` present and verified in the cache; return their paths.

    A file without a published sha256 (``WeightFile.sha256 == ""``) is never downloaded: nothing
    could verify it. The error says to download it by hand and pass it with ``--weights``.
    """
    if not spec.weights:
        return []
    folder = weights_dir(cache_dir, spec)
    paths: list[Path] = []
    for weight in spec.weights:
        if weight.manual:  # put there by hand; the export checks its keys and shapes
            if not (folder / weight.filename).is_file():
                raise DownloadError(f"{spec.name}: {weight.manual.replace('FOLDER', str(folder))}")
            paths.append(folder / weight.filename)
            continue
        if not weight.sha256:
            how = (
                "pass it with --weights FILE"
                if len(spec.weights) == 1
                else f"pass the folder holding {' and '.join(w.filename for w in spec.weights)} "
                f"with --weights FOLDER, or put them in {folder}"
            )
            raise DownloadError(
                f"{spec.name}: no published sha256 for {weight.filename}, so facert cannot verify "
                f"a download; get {weight.url} yourself and {how}"
            )
        dest = folder / weight.filename
        if dest.is_file() and sha256_of(dest) == weight.sha256:
            log.info("%s already in the cache", dest)
        else:
            log.info("downloading %s", weight.url)
            _obtain(weight, dest)
        if weight.extract:
            _extract(dest, weight.extract, folder)
            paths.extend(folder / Path(m).name for m in weight.extract)
        else:
            paths.append(dest)
    return paths


def cached_weights(spec: ModelSpec, cache_dir: Path) -> list[Path] | None:
    """The cached, extracted weight files of ``spec``, or None if any is missing."""
    folder = weights_dir(cache_dir, spec)
    paths: list[Path] = []
    for weight in spec.weights:
        names = [Path(m).name for m in weight.extract] or [weight.filename]
        paths.extend(folder / n for n in names)
    return paths if all(p.is_file() for p in paths) else None


def several_files(spec: ModelSpec) -> bool:
    """True when ``spec`` is built from several files the user supplies (PSFR-GAN's two
    networks): ``--weights`` then names the folder holding them by their official names."""
    return len(spec.weights) > 1 and not any(w.pip_requirement for w in spec.weights)


def files_in_folder(spec: ModelSpec, folder: Path) -> list[Path]:
    """The files of a :func:`several_files` spec in ``folder``, in the spec's order; WeightsError
    naming the folder and the files it lacks."""
    if not folder.is_dir():
        names = " and ".join(w.filename for w in spec.weights)
        raise WeightsError(f"{spec.name} takes a folder holding {names}", path=str(folder))
    paths = [folder / w.filename for w in spec.weights]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise WeightsError(f"no {' and no '.join(missing)} in this folder", path=str(folder))
    return paths


def combined_sha256(paths: list[Path]) -> str:
    """The identity of several weight files together: sha256 of their "name sha256" lines."""
    lines = "".join(f"{p.name} {_nonempty_sha256(p)}\n" for p in paths)
    return hashlib.sha256(lines.encode()).hexdigest()


def _nonempty_sha256(path: Path) -> str:
    if os.path.getsize(path) == 0:
        raise WeightsError("empty file (0 bytes)", path=str(path))
    return sha256_of(path)


def verify_weights_file(spec: ModelSpec, path: Path) -> str:
    """Check that a user-supplied checkpoint is a non-empty file; return its sha256.

    Its sha256 decides only whether it is the official release (:mod:`facert.models.provenance`): a file
    that is not is still run when its keys and shapes match the spec, which the export checks
    (``torch.load(weights_only=True)``) before it writes anything. For a spec built from several
    files (:func:`several_files`) ``path`` is the folder holding them, and the result their
    :func:`combined_sha256`.
    """
    if several_files(spec):
        return combined_sha256(files_in_folder(spec, path))
    if not path.is_file():
        raise WeightsError("no such file", path=str(path))
    if os.path.getsize(path) == 0:
        raise WeightsError("empty file (0 bytes)", path=str(path))
    return sha256_of(path)
