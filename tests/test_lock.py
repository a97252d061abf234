"""The committed locks (`make lock`) agree with pyproject's ranges and with each other: a range
changed without regenerating the lock, or a hand-edited pin, fails here instead of on a user's
machine."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

tomllib = pytest.importorskip("tomllib")  # Python 3.11+, as the lock itself

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")
HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


def read_lock(name: str) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (version, sha256s) of every pin in a pip-compile --generate-hashes file."""
    pins: dict[str, tuple[str, set[str]]] = {}
    current = None
    for line in (ROOT / name).read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            assert current not in pins, f"{name}: {current} pinned twice"
            pins[current] = (match.group(2), set())
        for digest in HASH.findall(line):
            assert current is not None
            pins[current][1].add(digest)
    return {key: (version, frozenset(hashes)) for key, (version, hashes) in pins.items()}


def requirements(*extras: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] + [
        line for extra in extras for line in project["optional-dependencies"][extra]
    ]
    return [Requirement(line) for line in lines]


def check_pins_meet(pins: dict[str, tuple[str, frozenset[str]]], wanted: list[Requirement]) -> None:
    for requirement in wanted:
        key = canonicalize_name(requirement.name)
        assert key in pins, f"{requirement} is not in the lock: run `make lock`"
        version = pins[key][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{key}=={version} is outside {requirement}: run `make lock`"
        )


def test_the_lock_pins_every_requirement_within_its_range_with_hashes() -> None:
    pins = read_lock("requirements.lock")
    check_pins_meet(pins, requirements("export", "demo", "dev"))
    assert all(hashes for _, hashes in pins.values()), "a pin without a hash"
    assert pins["torch"][0].endswith("+cpu")  # the CPU build, not PyPI's CUDA one
    assert {"setuptools", "wheel"} <= pins.keys()  # the build backend: no unpinned build env


def test_the_runtime_lock_is_the_locks_subset_for_the_wheel() -> None:
    full, runtime = read_lock("requirements.lock"), read_lock("requirements-runtime.lock")
    check_pins_meet(runtime, requirements())
    assert "torch" not in runtime
    for key, pin in runtime.items():
        assert full.get(key) == pin, f"{key}: the two locks differ; run `make lock`"
