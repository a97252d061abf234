"""The study folder's items (facert.study.items.scan) and each rater's comparisons (plan), on a
folder of real images: a photo and two real transforms of it (blur, unsharp mask)."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from facert.study.items import plan, scan


def write(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, grace_hopper: np.ndarray) -> Path:
    """blur/ and sharp/ have a, b, c; plain/ has a and d; input/ has a (JPEG), clean/ has b."""
    root = tmp_path_factory.mktemp("items")
    photo = cv2.resize(grace_hopper, (64, 75), interpolation=cv2.INTER_AREA)
    blurred = cv2.GaussianBlur(photo, (0, 0), 1.5)
    sharp = cv2.addWeighted(photo, 1.8, blurred, -0.8, 0)
    for name in "abc":
        write(root / "blur" / f"{name}.png", blurred)
        write(root / "sharp" / f"{name}.jpg", sharp)
    write(root / "plain" / "a.png", photo)
    write(root / "plain" / "d.png", photo)
    write(root / "input" / "a.jpg", blurred)
    write(root / "clean" / "b.png", photo)
    (root / "blur" / "notes.txt").write_text("not an image")
    write(root / "blur" / ".hidden.png", photo)
    write(root / ".cache" / "a.png", photo)  # a hidden folder is not a method
    return root


def test_items_are_names_two_methods_share(folder: Path) -> None:
    study = scan(folder, 10**8)
    assert study.methods == ("blur", "plain", "sharp")  # not input, clean or hidden folders
    assert [item.name for item in study.items] == ["a", "b", "c"]  # d: plain's alone
    a, b, _ = study.items
    assert a.files == {
        m: folder / m / f"a.{e}" for m, e in [("blur", "png"), ("plain", "png"), ("sharp", "jpg")]
    }
    assert a.input == folder / "input" / "a.jpg" and a.clean is None
    assert (
        b.input is None
        and b.clean == folder / "clean" / "b.png"
        and set(b.files) == {"blur", "sharp"}
    )
    chosen = scan(folder, 10**8, ("sharp", "plain"))
    assert chosen.methods == ("plain", "sharp") and [i.name for i in chosen.items] == ["a"]


def test_same_name_twice_in_a_method_is_skipped(
    folder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    shutil.copyfile(copy / "blur" / "a.png", copy / "blur" / "a.webp")
    study = scan(copy, 10**8)
    assert study.items[0].files["blur"].name == "a.png"  # the first in name order is kept
    assert [r.getMessage() for r in caplog.records] == [
        f"{copy / 'blur' / 'a.webp'}: skipped (a.png has the same name)"
    ]


def test_plan_shows_every_pair_once_in_a_seeded_order(folder: Path) -> None:
    study = scan(folder, 10**8)
    tasks = plan(study, seed=5)
    pairs = Counter((t.item, *sorted((t.a, t.b))) for t in tasks)
    expected = {("a", *p) for p in itertools.combinations(["blur", "plain", "sharp"], 2)}
    expected |= {("b", "blur", "sharp"), ("c", "blur", "sharp")}
    assert set(pairs) == expected and set(pairs.values()) == {1}
    assert plan(study, seed=5) == tasks  # the recorded seed gives the same comparisons back
    orders = {tuple(plan(study, seed)) for seed in range(20)}
    assert len(orders) > 10  # the order and the sides change with the seed
    left = Counter(t.a for seed in range(200) for t in plan(study, seed) if t.item == "b")
    # Sides are fair coin flips: 200 draws give blur on the left 100 +- 3 sigma (7.1) times.
    assert abs(left["blur"] - 100) < 22 and left["blur"] + left["sharp"] == 200
