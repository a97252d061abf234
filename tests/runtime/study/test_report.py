"""The results page, JSON and CSV of facert.study.report from real database rows."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from facert.study.db import StudyDB
from facert.study.items import Task
from facert.study.report import results_html, results_json, results_of, votes_csv


def test_html_json_and_csv_of_the_votes(tmp_path: Path) -> None:
    odd = '<b>"odd", name'  # a method folder may be called anything
    with StudyDB(tmp_path / "votes.sqlite") as db:
        first = db.create_session("ann", 1, [Task("x", odd, "plain"), Task("y", "plain", odd)])
        second = db.create_session("bob", 2, [Task("x", "plain", odd)])
        db.vote(first, 0, "a", 1.25)
        db.vote(first, 1, "same", None)
        db.vote(second, 0, "b", 3.0)
        rows = db.votes()
    results = results_of(("plain", odd, "unrated"), rows, draws=200)
    assert results.votes == 3 and [p.votes for p in results.pairs] == [3]
    page = results_html(results, 2)
    assert odd not in page and "&lt;b&gt;&quot;odd&quot;, name" in page
    assert "3 votes from 2 rater sessions." in page and page.count("<svg") == 3
    data = results_json(results, 2)
    json.dumps(data, allow_nan=False)  # valid JSON: no NaN for the unrated method's interval
    unrated = next(s for s in data["scores"] if s["method"] == "unrated")
    assert unrated["low"] is None and unrated["votes"] == 0
    table = list(csv.DictReader(io.StringIO(votes_csv(rows))))
    assert [(r["rater"], r["method_a"], r["choice"], r["winner"], r["seconds"]) for r in table] == [
        ("ann", odd, "a", odd, "1.250"),
        ("ann", "plain", "same", "same", ""),
        ("bob", "plain", "b", odd, "3.000"),
    ]
    wins = {s.method: s.wins for s in results.scores}
    assert wins == {odd: 2.5, "plain": 0.5, "unrated": 0.0}
