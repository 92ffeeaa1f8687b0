"""Engines for the two databases the ledger runs on.

SQLite: WAL journal (readers never block the writer), a busy timeout, `synchronous=FULL`,
foreign keys on, and write transactions (connections with the `WRITE` execution option) opened
with `BEGIN IMMEDIATE`, so two writers queue on the busy timeout instead of one failing when it
upgrades a read lock. PostgreSQL: psycopg 3, a connect timeout, connections checked before use.
Both pools hold as many connections as the ledger has worker threads.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL

BUSY_TIMEOUT = 30.0  # seconds a SQLite writer waits for another one
CONNECT_TIMEOUT = 10  # seconds to reach PostgreSQL
WORKERS = 4  # threads, and pooled connections, per ledger
WRITE = "gitmoor_ledger_write"  # execution option marking write transactions


def sqlite_engine(url: URL) -> Engine:
    engine = create_engine(
        url, connect_args={"timeout": BUSY_TIMEOUT}, pool_size=WORKERS, max_overflow=0
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from sqlite3 (which skips it before DDL and SELECT) and emit our own.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
            _enable_wal(cursor)
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _enable_wal(cursor: Any) -> None:
    """Switch the file to WAL (kept in the file, so only its first connection ever does).

    Changing the journal mode needs the file to itself, and SQLite reports a competing
    connection at once instead of waiting on the busy timeout: retry until that timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
            return
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as problem:
            if "locked" not in str(problem) and "busy" not in str(problem):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def postgres_engine(url: URL) -> Engine:
    return create_engine(
        url,
        pool_size=WORKERS,
        max_overflow=0,
        pool_pre_ping=True,  # the agent lives for months; the server restarts under it
        connect_args={"connect_timeout": CONNECT_TIMEOUT, "application_name": "gitmoor"},
    )
