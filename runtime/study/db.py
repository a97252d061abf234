"""The votes of a study in an SQLite file (schema version :data:`SCHEMA_VERSION`, in
``PRAGMA user_version``; WAL journal).

A rater session (a random ID) records its rater's name, the seed of its randomisation and its
comparisons in order (``tasks``: item, the method shown as A on the left and the one shown as B);
a vote is one row of ``votes`` keyed by (session, position), written in its own transaction, so
a vote sent twice is stored once and a session stopped anywhere resumes at its first comparison
without a vote. One connection serves every thread, one statement group at a time.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from facert.errors import UsageError
from facert.study.items import Task

SCHEMA_VERSION = 1
CHOICES = ("a", "b", "same")
SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sessions (
    id TEXT PRIMARY KEY, rater TEXT NOT NULL, seed INTEGER NOT NULL, created TEXT NOT NULL);
CREATE TABLE tasks (
    session TEXT NOT NULL REFERENCES sessions (id), position INTEGER NOT NULL,
    item TEXT NOT NULL, method_a TEXT NOT NULL, method_b TEXT NOT NULL,
    PRIMARY KEY (session, position));
CREATE TABLE votes (
    session TEXT NOT NULL, position INTEGER NOT NULL,
    choice TEXT NOT NULL CHECK (choice IN ('a', 'b', 'same')),
    seconds REAL, created TEXT NOT NULL,
    PRIMARY KEY (session, position),
    FOREIGN KEY (session, position) REFERENCES tasks (session, position));
"""


class VoteError(Exception):
    """A vote the database refuses: ``reason`` is ``unknown_session``, ``unknown_task`` or
    ``conflict`` (that comparison already has another choice)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Session:
    id: str
    rater: str
    seed: int
    created: str
    tasks: tuple[Task, ...]
    voted: frozenset[int]  # positions with a vote

    @property
    def next_position(self) -> int | None:
        """The first comparison without a vote (None: all done)."""
        return next((i for i in range(len(self.tasks)) if i not in self.voted), None)


@dataclass(frozen=True)
class VoteRow:
    session: str
    rater: str
    position: int
    item: str
    method_a: str
    method_b: str
    choice: str
    seconds: float | None
    created: str

    @property
    def winner(self) -> str:
        """The method chosen, or "same"."""
        return {"a": self.method_a, "b": self.method_b}.get(self.choice, "same")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class StudyDB:
    """The study database at ``path`` (created when absent). Use as a context manager or call
    :meth:`close`; closing twice does nothing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise UsageError(f"cannot open the study database ({exc})", path=str(path)) from None
        try:
            self._prepare()
        except sqlite3.Error as exc:
            self._db.close()
            raise UsageError(f"cannot use this study database ({exc})", path=str(path)) from None

    def _prepare(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        tables = self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if version == 0 and tables:
            raise sqlite3.DatabaseError("it holds other tables: not a facert study database")
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"schema version {version}, newer than this facert's {SCHEMA_VERSION}"
            )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        if version == 0:
            with self._transaction() as db:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute("INSERT INTO meta VALUES ('created', ?)", (_now(),))
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One transaction (BEGIN IMMEDIATE ... COMMIT, ROLLBACK on an exception) under the lock."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            if self._db.in_transaction:
                self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> StudyDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def create_session(self, rater: str, seed: int, tasks: list[Task]) -> str:
        """A new session with its comparisons in order; returns its ID (random, URL-safe)."""
        session = secrets.token_urlsafe(12)
        with self._transaction() as db:
            db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?)", (session, rater, seed, _now()))
            db.executemany(
                "INSERT INTO tasks VALUES (?, ?, ?, ?, ?)",
                [(session, i, t.item, t.a, t.b) for i, t in enumerate(tasks)],
            )
        return session

    def session(self, session: str) -> Session | None:
        with self._lock:
            row = self._db.execute(
                "SELECT rater, seed, created FROM sessions WHERE id = ?", (session,)
            ).fetchone()
            if row is None:
                return None
            tasks = self._db.execute(
                "SELECT item, method_a, method_b FROM tasks WHERE session = ? ORDER BY position",
                (session,),
            ).fetchall()
            voted = self._db.execute("SELECT position FROM votes WHERE session = ?", (session,))
            positions = frozenset(p for (p,) in voted)
        return Session(session, row[0], row[1], row[2], tuple(Task(*t) for t in tasks), positions)

    def vote(self, session: str, position: int, choice: str, seconds: float | None) -> bool:
        """Record ``choice`` ("a", "b" or "same") for comparison ``position`` of ``session`` in one
        transaction; True if stored now, False if that same choice was stored before (a repeat).
        VoteError for an unknown session or comparison, or another choice already stored."""
        if choice not in CHOICES:
            raise ValueError(f"choice must be one of {CHOICES}, got {choice!r}")
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM sessions WHERE id = ?", (session,)).fetchone() is None:
                raise VoteError("unknown_session", f"no rater session {session!r}")
            task = db.execute(
                "SELECT 1 FROM tasks WHERE session = ? AND position = ?", (session, position)
            ).fetchone()
            if task is None:
                raise VoteError("unknown_task", f"the session has no comparison {position}")
            stored = db.execute(
                "SELECT choice FROM votes WHERE session = ? AND position = ?", (session, position)
            ).fetchone()
            if stored is not None:
                if stored[0] != choice:
                    raise VoteError(
                        "conflict", f"comparison {position} already has the vote {stored[0]!r}"
                    )
                return False
            db.execute(
                "INSERT INTO votes VALUES (?, ?, ?, ?, ?)",
                (session, position, choice, seconds, _now()),
            )
            return True

    def votes(self) -> list[VoteRow]:
        """Every vote with its comparison and rater, in the order they were cast."""
        with self._lock:
            rows = self._db.execute(
                "SELECT v.session, s.rater, v.position, t.item, t.method_a, t.method_b, v.choice,"
                " v.seconds, v.created FROM votes v"
                " JOIN tasks t ON t.session = v.session AND t.position = v.position"
                " JOIN sessions s ON s.id = v.session ORDER BY v.rowid"
            ).fetchall()
        return [VoteRow(*row) for row in rows]
