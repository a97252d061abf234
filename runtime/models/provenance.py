"""Whether a checkpoint is the official release, and how facert says so.

A checkpoint is *official* when its sha256 is one the spec publishes (``WeightFile.sha256``).
Any other file whose keys and shapes match the spec exactly is run too (fine-tuned or re-saved
weights): its export records ``"official": false`` and its sha256 in the manifest, ``facert models
list`` and ``facert models show`` mark it, and each command that uses it logs one notice line.
For a spec that publishes no sha256 (GPEN-BFR-1024) no file can be verified as the official one:
its weights are *unverified*.
"""

from __future__ import annotations

from facert.models.registry import ModelSpec

UNOFFICIAL = "unofficial weights"
UNVERIFIED = "unverified weights (no published sha256)"


def published_sha256s(spec: ModelSpec) -> set[str]:
    """The sha256 of every official file of ``spec`` that has a published one."""
    return {weight.sha256 for weight in spec.weights if weight.sha256}


def is_official(spec: ModelSpec, sha256: str | None) -> bool:
    """True when ``sha256`` is a published sha256 of ``spec``'s official files."""
    return sha256 is not None and sha256 in published_sha256s(spec)


def weights_label(spec: ModelSpec, official: bool) -> str:
    """``official weights``, ``unofficial weights`` or ``unverified weights (...)``."""
    if official:
        return "official weights"
    return UNOFFICIAL if published_sha256s(spec) else UNVERIFIED


def unofficial_notice(spec: ModelSpec, sha256: str | None, filename: str) -> str:
    """The one line logged when ``filename`` (not the official release) runs as ``spec``."""
    digest = f"sha256 {sha256[:16]}..." if sha256 else "sha256 unknown"
    why = (
        "not the official release"
        if published_sha256s(spec)
        else "no published sha256 to verify it against"
    )
    return (
        f"notice: {filename}: {weights_label(spec, False).split(' (')[0]} for {spec.name} "
        f"({digest}, {why}); its keys and shapes match, so facert runs it"
    )
