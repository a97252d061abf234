"""Shared fixtures: settings pointing at the model cache, real photos from registry packages, and the
real degraded photos under ../shared (tests that use them skip when it is absent)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from testdata import ROOT

from facert.config import Settings, load_settings
from facert.models.artifacts import Artifact

SHARED = ROOT.parent / "shared"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``gpu`` tests skip without an NVIDIA GPU, ``trt`` tests without a TensorRT flavour that runs
    on it, each with the reason (the driver is probed only when such a test was collected)."""
    marked = [
        item for item in items if item.get_closest_marker("gpu") or item.get_closest_marker("trt")
    ]
    if not marked:
        return
    from gpu_support import gpu_missing, usable_flavour

    no_gpu = gpu_missing()
    no_trt = usable_flavour()[1] if no_gpu is None else no_gpu
    for item in marked:
        reason = no_trt if item.get_closest_marker("trt") else no_gpu
        if reason:
            item.add_marker(pytest.mark.skip(reason=f"not run: {reason}"))


@pytest.fixture(autouse=True)
def _torch_state_restored() -> Iterator[None]:
    """A test that changes torch's thread count or its global random generator gets them back as
    they were (torch is looked at only when something already imported it). Module fixtures that
    change them use torch_state.one_thread() instead."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    threads, rng = torch.get_num_threads(), torch.random.get_rng_state()
    yield
    torch.set_num_threads(threads)
    torch.random.set_rng_state(rng)


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The configured settings: the cache `make models` filled (read-only use in tests)."""
    return load_settings()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is absent (a user's fresh clone)")
    return SHARED


def _sample(package: str, *parts: str) -> Path:
    module = pytest.importorskip(package)
    return Path(module.__file__).resolve().parent.joinpath(*parts)


def grace_hopper_path() -> Path:
    """matplotlib's grace_hopper.jpg (a real photo shipped inside the matplotlib wheel)."""
    return _sample("matplotlib", "mpl-data", "sample_data", "grace_hopper.jpg")


def astronaut_path() -> Path:
    """scikit-image's astronaut.png (Eileen Collins, NASA, public domain)."""
    return _sample("skimage", "data", "astronaut.png")


@pytest.fixture(scope="session")
def grace_hopper() -> np.ndarray:
    """(H, W, 3) uint8 BGR."""
    image = cv2.imread(str(grace_hopper_path()))
    assert image is not None
    return image


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """(H, W, 3) uint8 BGR."""
    image = cv2.imread(str(astronaut_path()))
    assert image is not None
    return image


@pytest.fixture(scope="session")
def mtcnn_artifact(settings: Settings) -> Artifact:
    """The MTCNN export in the cache, built first when torch is present (weights must be fetched)."""
    from facert.errors import FacertError
    from facert.models.exporting import ensure_artifact
    from facert.models.registry import get_spec

    try:
        return ensure_artifact(get_spec("mtcnn"), settings.cache_dir)
    except FacertError as exc:
        pytest.skip(f"no MTCNN export and none can be built here ({exc}); run `make models`")


@pytest.fixture(scope="session")
def tiny_learned(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Artifact]:
    """``tiny_learned(family)``: the tiny export of a learned family (tests/tiny_families.py),
    built once per session on first use."""
    pytest.importorskip("torch")
    from tiny_families import tiny_artifact

    root = tmp_path_factory.mktemp("tiny-learned")
    built: dict[str, Artifact] = {}

    def get(family: str) -> Artifact:
        if family not in built:
            built[family] = tiny_artifact(family, root / family)
        return built[family]

    return get
