"""``facert study``'s web app on a real uvicorn server on 127.0.0.1 with a plain HTTP client: a
rater's whole session, hidden sides, idempotent votes, resume after a restart, bad requests,
results and CSV."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import cv2
import numpy as np
import pytest
from study_support import Client, copy_study, running, shared_study

from facert.config import Settings
from facert.study.app import page

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")


@pytest.fixture(scope="module")
def study_source(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> Path:
    return shared_study(tmp_path_factory, settings)


def test_a_session_from_start_to_results(study_source: Path, tmp_path: Path) -> None:
    folder = copy_study(study_source, tmp_path / "study")
    db_path = tmp_path / "votes.sqlite"
    with running(folder, db_path, rater="lab") as url:
        rater = Client(url)
        status, state = rater.json("api/state")
        assert status == 200 and state == {"rater": "lab", "session": None, "task": None}
        status, state = rater.json("api/sessions", {"rater": "  Ann  Lee "})
        assert status == 200 and state["rater"] == "Ann Lee" and state["total"] == 6
        assert [c.name for c in rater.cookies] == ["facert_study"]
        tasks = sqlite3.connect(db_path).execute(
            "SELECT item, method_a, method_b FROM tasks ORDER BY position"
        )
        tasks = tasks.fetchall()
        # 2 items x the 3 pairs of ispl, none, wipa, each pair once per item
        assert sorted((i, *sorted(m)) for i, *m in tasks) == sorted(
            (i, *p)
            for i in ("astronaut", "grace")
            for p in [("ispl", "none"), ("ispl", "wipa"), ("none", "wipa")]
        )
        choices = ["a", "b", "same", "a", "b", "a"]
        for position, choice in enumerate(choices):
            task = state["task"]
            assert task["position"] == position and state["done"] == position
            item, method_a, method_b = tasks[position]
            assert task["item"] == item
            text = json.dumps(task)
            assert all(m not in text for m in ("ispl", "wipa", "none"))  # sides stay hidden
            for side, method in (("a", method_a), ("b", method_b), ("input", "input")):
                status, body = rater.call(task["images"][side])
                suffix = ".jpg" if side == "input" else ".png"
                assert status == 200 and body == (folder / method / f"{item}{suffix}").read_bytes()
            assert "clean" not in task["images"]
            status, state = rater.json(
                "api/votes", {"position": position, "choice": choice, "seconds": 1.5}
            )
            assert status == 200 and state["recorded"] is True
        assert state["done"] == 6 and state["task"] is None
        status, results = rater.json("api/results")
        assert status == 200 and results["votes"] == 6 and results["raters"] == 1
        wins = {s["method"]: s["wins"] for s in results["scores"]}
        expected = {"ispl": 0.0, "none": 0.0, "wipa": 0.0}
        for (_, a, b), choice in zip(tasks, choices, strict=True):
            for method, share in ((a, {"a": 1, "b": 0}), (b, {"a": 0, "b": 1})):
                expected[method] += share.get(choice, 0.5)
        assert wins == expected
        status, body = rater.call("votes.csv")
        rows = list(csv.DictReader(io.StringIO(body.decode())))
        assert [
            (r["rater"], r["item"], r["method_a"], r["method_b"], r["choice"]) for r in rows
        ] == [("Ann Lee", *t, c) for t, c in zip(tasks, choices, strict=True)]
        status, body = rater.call("results")
        assert (
            status == 200 and b"Bradley-Terry" in body and b"6 votes from 1 rater session." in body
        )


def test_repeats_resume_and_restart(study_source: Path, tmp_path: Path) -> None:
    folder = copy_study(study_source, tmp_path / "study")
    db_path = tmp_path / "votes.sqlite"
    with running(folder, db_path) as url:
        rater = Client(url)
        _, state = rater.json("api/sessions", {"rater": "ann"})
        session = state["session"]
        for _ in range(3):  # a vote sent three times (a double click, a retried request)
            status, again = rater.json("api/votes", {"position": 0, "choice": "b"})
            assert status == 200
        assert again["recorded"] is False and again["done"] == 1
        status, conflict = rater.json("api/votes", {"position": 0, "choice": "a"})
        assert status == 409 and conflict["error"]["code"] == "conflict"
        other = Client(url)  # another browser: no session until it starts one or is given the ID
        assert other.json("api/state")[1]["session"] is None
        status, _ = other.call(f"?session={session}")
        assert status == 200 and [c.value for c in other.cookies] == [session]
        assert other.json("api/state")[1]["task"]["position"] == 1
    with running(folder, db_path) as url:  # the server stopped and started again
        status, state = Client(url, rater.cookies).json("api/state")  # the same browser
        assert status == 200 and state["session"] == session
        assert state["done"] == 1 and state["task"]["position"] == 1
    assert sqlite3.connect(db_path).execute("SELECT count(*) FROM votes").fetchone() == (1,)


def test_bad_requests_are_json_4xx(study_source: Path, tmp_path: Path) -> None:
    folder = copy_study(study_source, tmp_path / "study")
    with running(folder, tmp_path / "votes.sqlite") as url:
        rater = Client(url)
        status, error = rater.json("api/votes", {"position": 0, "choice": "a"})
        assert status == 404 and error["error"]["code"] == "unknown_session"
        _, state = rater.json("api/sessions", {})
        assert state["rater"] == "anonymous"
        session = state["session"]
        for path, body, code, status_expected in [
            ("api/votes", {"position": 99, "choice": "a"}, "unknown_task", 404),
            ("api/votes", {"position": 0, "choice": "left"}, "bad_request", 400),
            ("api/votes", {"position": -1, "choice": "a"}, "bad_request", 400),
            ("api/votes", {"choice": "a"}, "bad_request", 400),
            (
                "api/votes",
                {"position": 0, "choice": "a", "session": "nosuch"},
                "unknown_session",
                404,
            ),
            ("api/sessions", {"rater": "x" * 101}, "bad_request", 400),
            (f"api/image/{session}/0/c", None, "bad_request", 400),
            (f"api/image/{session}/0/clean", None, "not_found", 404),  # no --show-clean
            (f"api/image/{session}/9/a", None, "not_found", 404),
            ("api/image/nosuch/0/a", None, "not_found", 404),
            ("nosuch", None, "not_found", 404),
        ]:
            status, data = rater.call(path, body)
            error = json.loads(data)["error"]
            assert (status, error["code"]) == (status_expected, code), (path, body, error)
            assert error["message"]
        status, data = rater.call("api/votes", raw=b"{not json")
        assert status == 400 and json.loads(data)["error"]["code"] == "bad_request"
    for png in (folder / "clean").iterdir():  # TIFF, which browsers do not show: sent as PNG
        cv2.imwrite(str(png.with_suffix(".tif")), cv2.imread(str(png)))
        png.unlink()
    with running(folder, tmp_path / "clean.sqlite", show_clean=True) as url:
        rater = Client(url)
        _, state = rater.json("api/sessions", {"rater": "ann"})
        item = state["task"]["item"]
        status, body = rater.call(state["task"]["images"]["clean"])
        assert status == 200 and body.startswith(b"\x89PNG")
        served = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
        assert np.array_equal(served, cv2.imread(str(folder / "clean" / f"{item}.tif")))


def test_page_loads_nothing_from_outside() -> None:
    html = page()
    assert "http://" not in html and "https://" not in html
    assert "<script src" not in html and "<link" not in html and "@import" not in html
