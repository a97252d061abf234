"""The study database (facert.study.db) on real SQLite files: schema, transactions, resume,
idempotent votes, refusals."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from facert.errors import UsageError
from facert.study.db import SCHEMA_VERSION, StudyDB, VoteError
from facert.study.items import Task

TASKS = [
    Task("grace", "ispl", "wipa"),
    Task("astronaut", "wipa", "ispl"),
    Task("grace", "none", "ispl"),
]


def test_a_real_file_with_its_schema_version_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "votes.sqlite"
    with StudyDB(path) as db:
        session = db.create_session("ann", 7, TASKS)
        assert db.vote(session, 1, "b", 2.5)
    raw = sqlite3.connect(path)  # another connection, after close: what is on disk
    assert raw.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    tables = {name for (name,) in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"meta", "sessions", "tasks", "votes"}
    assert raw.execute("SELECT rater, seed FROM sessions").fetchall() == [("ann", 7)]
    assert raw.execute(
        "SELECT item, method_a, method_b FROM tasks ORDER BY position"
    ).fetchall() == [(t.item, t.a, t.b) for t in TASKS]
    assert raw.execute("SELECT position, choice, seconds FROM votes").fetchall() == [(1, "b", 2.5)]


def test_resume_after_reopening(tmp_path: Path) -> None:
    path = tmp_path / "votes.sqlite"
    with StudyDB(path) as db:
        session = db.create_session("ann", 1, TASKS)
        assert db.session(session).next_position == 0  # type: ignore[union-attr]
        db.vote(session, 0, "a", None)
        db.vote(session, 2, "same", 1.0)  # out of order: position 1 is still open
    with StudyDB(path) as db:
        again = db.session(session)
        assert again is not None and again.tasks == tuple(TASKS) and again.rater == "ann"
        assert again.voted == {0, 2} and again.next_position == 1
        db.vote(session, 1, "b", None)
        assert db.session(session).next_position is None  # type: ignore[union-attr]
        assert [(v.position, v.winner) for v in db.votes()] == [
            (0, "ispl"),
            (2, "same"),
            (1, "ispl"),
        ]
        assert db.session("nosuch") is None


def test_votes_are_idempotent_and_conflicts_refused(tmp_path: Path) -> None:
    with StudyDB(tmp_path / "votes.sqlite") as db:
        session = db.create_session("ann", 1, TASKS)
        assert db.vote(session, 0, "a", 1.0) is True
        assert db.vote(session, 0, "a", 3.0) is False  # the repeat changes nothing
        for args, reason in [
            ((session, 0, "b", None), "conflict"),
            ((session, 3, "a", None), "unknown_task"),
            (("nosuch", 0, "a", None), "unknown_session"),
        ]:
            with pytest.raises(VoteError) as error:
                db.vote(*args)  # type: ignore[arg-type]
            assert error.value.reason == reason
        rows = db.votes()
        assert [(r.position, r.choice, r.seconds) for r in rows] == [(0, "a", 1.0)]


def test_concurrent_votes_count_once(tmp_path: Path) -> None:
    with StudyDB(tmp_path / "votes.sqlite") as db:
        session = db.create_session("ann", 1, TASKS)
        stored: list[bool] = []
        threads = [
            threading.Thread(target=lambda p=p: stored.append(db.vote(session, p % 3, "a", None)))
            for p in range(24)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(stored) == [False] * 21 + [True] * 3
        assert sorted(r.position for r in db.votes()) == [0, 1, 2]


def test_a_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "votes.sqlite"
    with StudyDB(path) as db:
        bad = [*TASKS, Task(None, "a", "b")]  # type: ignore[arg-type]  # NOT NULL fails mid-way
        with pytest.raises(sqlite3.IntegrityError):
            db.create_session("bob", 1, bad)
        session = db.create_session("ann", 1, TASKS)  # the connection is usable again
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT id FROM sessions").fetchall() == [(session,)]
    assert raw.execute("SELECT count(*) FROM tasks").fetchone() == (len(TASKS),)


def test_refuses_files_that_are_not_its_database(tmp_path: Path) -> None:
    text = tmp_path / "notes.sqlite"
    text.write_text("not a database " * 100)
    foreign = tmp_path / "other.sqlite"
    sqlite3.connect(foreign).execute("CREATE TABLE t (x)")
    newer = tmp_path / "newer.sqlite"
    sqlite3.connect(newer).execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    for path, reason in [
        (text, "file is not a database"),
        (foreign, "not a facert study database"),
        (newer, "newer than this facert's"),
        (tmp_path / "no" / "folder.sqlite", "unable to open"),
    ]:
        with pytest.raises(UsageError, match=reason) as error:
            StudyDB(path)
        assert str(path) in str(error.value) and "\n" not in str(error.value)
