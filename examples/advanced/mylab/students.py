"""The lab's own records of students, in SQLite (stdlib ``sqlite3``).

One connection per call: SQLite connections must not cross threads, and the web threads, the
task threads and the cleaner all use these functions. The file is the app's ``LAB_DATABASE``
setting, so these functions need an app context (weblab_ext gives one to hooks and tasks).
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
from contextlib import closing

from flask import current_app

SCHEMA = """
CREATE TABLE IF NOT EXISTS students (
    login TEXT PRIMARY KEY,
    visits INTEGER NOT NULL DEFAULT 0,
    best_position INTEGER
)
"""


@dataclasses.dataclass(frozen=True)
class Student:
    """What the lab remembers about one student across sessions."""

    login: str
    visits: int
    best_position: int | None


def init_db(path: str) -> None:
    """Create the database file and its table if needed."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with closing(sqlite3.connect(path, timeout=5)) as conn, conn:
        conn.execute(SCHEMA)


def _connect() -> sqlite3.Connection:
    return sqlite3.connect(current_app.config["LAB_DATABASE"], timeout=5)


def record_visit(login: str) -> None:
    """Count a new session of ``login``."""
    with closing(_connect()) as conn, conn:
        conn.execute(
            "INSERT INTO students (login, visits) VALUES (?, 1) "
            "ON CONFLICT(login) DO UPDATE SET visits = visits + 1",
            (login,),
        )


def record_position(login: str, position: int) -> None:
    """Remember the furthest position ``login`` reached."""
    with closing(_connect()) as conn, conn:
        conn.execute(
            "UPDATE students SET best_position = MAX(COALESCE(best_position, 0), ?) "
            "WHERE login = ?",
            (position, login),
        )


def get(login: str) -> Student | None:
    """The record of ``login``, or ``None`` if the lab never saw them."""
    with closing(_connect()) as conn:
        row = conn.execute(
            "SELECT login, visits, best_position FROM students WHERE login = ?", (login,)
        ).fetchone()
    return Student(*row) if row else None
