"""One SQLite file used from many threads: a connection per thread, WAL, a schema on open.

Fast Memory, the rate limiter and the audit log each keep state in such a file. Opening a
connection costs far more than a query, so each thread keeps its own open; WAL lets readers
and one writer proceed together, across threads and processes.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path


class SQLiteFile:
    """Per-thread connections to ``path``, created with ``schema`` on first open.

    ``error`` builds the exception raised when the file cannot be opened; its message names
    the file and says how to fix it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        schema: str,
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
            conn = self.conn()
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(schema)
        except (OSError, sqlite3.Error) as exc:
            raise error(
                f"Cannot open the {what} at {self.path}: {exc}. Set CWM_GATEWAY_DATA_DIR to a "
                "writable directory or pass another path."
            ) from exc

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
