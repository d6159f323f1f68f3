"""One SQLite file used from many threads: a connection per thread, WAL, migrations on open.

Fast Memory, the rate limiter, the audit log and the grants each keep state in such a file.
Opening a connection costs far more than a query, so each thread keeps its own open; WAL lets
readers and one writer proceed together, across threads and processes.

The schema is a list of versioned migration scripts: the file's ``PRAGMA user_version`` says
how many have run, and the rest run (each in one transaction) on open, so a file written by an
older version of the gateway is brought up to date in place.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

#: Page cache per connection, in KiB (SQLite's default is 2 MiB). These files are appended to
#: on every call (audit, limits) and read in small ranges, so a small cache costs no speed; the
#: default let a long-running gateway's memory creep up by a few MiB as each cache filled.
CACHE_KIB = 256


class SQLiteFile:
    """Per-thread connections to ``path``, brought to the latest schema on first open.

    ``schema`` is one idempotent script run on every open, or a list of migrations
    (``migrations[i]`` takes the file from version ``i`` to ``i + 1``; the first must be safe
    on files made before versions were recorded, e.g. ``CREATE TABLE IF NOT EXISTS``). ``error`` builds the exception raised when the file cannot be opened; its message names
    the file and says how to fix it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        schema: str | Sequence[str],
        *,
        what: str,
        error: Callable[[str], Exception],
        busy_timeout_s: float = 30.0,
    ) -> None:
        self.path = Path(path).expanduser()
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._open_schema(schema)
        except (OSError, sqlite3.Error) as exc:
            raise error(
                f"Cannot open the {what} at {self.path}: {exc}. Set CWM_GATEWAY_DATA_DIR to a "
                "writable directory or pass another path."
            ) from exc

    def _open_schema(self, schema: str | Sequence[str]) -> None:
        """WAL mode and the schema, retried while another process sets up the same new file.

        Switching a fresh file to WAL takes a lock SQLite's busy handler does not wait for, so
        several processes starting at once (a team's instances, a test's workers) can get
        "database is locked" here although nothing is wrong; they wait their turn instead.
        """
        deadline = time.monotonic() + self._busy_timeout_s
        while True:
            conn = self.conn()
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                if isinstance(schema, str):
                    # One idempotent script (CREATE ... IF NOT EXISTS), run on every open; the
                    # file's version belongs to whoever uses migrations.
                    conn.executescript(schema)
                else:
                    self._migrate(conn, list(schema))
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @staticmethod
    def _migrate(conn: sqlite3.Connection, migrations: list[str]) -> None:
        """Run the migrations the file has not seen yet, each atomically with its version."""
        # IMMEDIATE: two processes opening a fresh file at once must not both migrate it.
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(migrations[version:], start=version + 1):
                for statement in _statements(script):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {int(number)}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def conn(self) -> sqlite3.Connection:
        """This thread's connection (autocommit: callers BEGIN where a write must be atomic)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # check_same_thread=False only so close() may run from any thread; each
            # connection is otherwise used by the thread that made it.
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        """Close every connection opened on this file (from any thread)."""
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()


def _statements(script: str) -> list[str]:
    """Split a script into statements (executescript would commit our transaction)."""
    out, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            out.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        out.append(buffer.strip())
    return out
