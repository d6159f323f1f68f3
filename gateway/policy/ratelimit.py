"""Rate-limit counters: sliding-window logs, in SQLite (shared, durable) or in memory (tests).

Each counter key keeps the times of the calls it allowed. A request for ``max`` calls per
``window`` seconds is allowed when fewer than ``max`` allowed calls happened in the last
``window`` seconds (a sliding window: no double burst at window edges). One call can take
several limits at once; either all of them take the call or none does, so a refused call
never uses up another limit's budget.

:class:`SqliteRateLimiter` runs every acquisition in a ``BEGIN IMMEDIATE`` transaction: with
any number of threads or processes on one file, a counter never allows more than ``max``
calls in a window.
"""

from __future__ import annotations

import bisect
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cwm_gateway.errors import CWMError
from cwm_gateway.sqlite_file import SQLiteFile

__all__ = [
    "AcquireResult",
    "InMemoryRateLimiter",
    "LimitRequest",
    "RateLimitError",
    "RateLimiter",
    "SqliteRateLimiter",
    "default_ratelimit_path",
]

# Windows are at most a day, so older entries can never matter again.
_MAX_WINDOW_S = 86400.0
_PRUNE_EVERY = 500


class RateLimitError(CWMError):
    """The rate-limit store could not be used."""


@dataclass(frozen=True)
class LimitRequest:
    """One limit a call must fit in: at most ``max`` calls per ``window_s`` seconds on ``key``."""

    key: str
    window_s: float
    max: int


@dataclass(frozen=True)
class AcquireResult:
    """Outcome of :meth:`RateLimiter.acquire`."""

    allowed: bool
    retry_after: float
    """Seconds until the refusing limit has room again (0 when allowed)."""
    blocked: int | None
    """Index of the first request that refused the call, or None."""
    counts: tuple[int, ...]
    """Calls counted per request in its window, including this one when allowed."""


class RateLimiter(Protocol):
    """What the policy engine needs from a rate-limit store."""

    def acquire(self, requests: Sequence[LimitRequest], now: float | None = None) -> AcquireResult:
        """Take one call from every request's budget, all or nothing."""
        ...

    def peek(self, request: LimitRequest, now: float | None = None) -> int:
        """Calls counted in the request's current window, without taking one."""
        ...

    def reset(self) -> None:
        """Forget every counter."""
        ...


def default_ratelimit_path() -> Path:
    """``<data dir>/ratelimit.sqlite3`` (see :func:`cwm_gateway.memory.data_dir`)."""
    from cwm_gateway.memory import data_dir

    return data_dir() / "ratelimit.sqlite3"


class InMemoryRateLimiter:
    """Process-local sliding-window counters, for tests and single-process use."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        # Per key, the allowed call times in ascending order.
        self._events: dict[str, list[float]] = {}

    def acquire(self, requests: Sequence[LimitRequest], now: float | None = None) -> AcquireResult:
        now = self._clock() if now is None else now
        with self._lock:
            counts: list[int] = []
            for i, req in enumerate(requests):
                log = self._events.setdefault(req.key, [])
                first = bisect.bisect_right(log, now - req.window_s)
                if first > 64 and first * 2 > len(log):
                    # Drop expired entries in bulk so the list stays small and cheap to trim.
                    del log[:first]
                    first = 0
                n = len(log) - first
                if n >= req.max:
                    # The (n - max)-th oldest call in the window must leave to make room.
                    oldest = log[first + n - req.max]
                    return AcquireResult(False, max(0.0, oldest + req.window_s - now), i, ())
                counts.append(n + 1)
            for req in requests:
                bisect.insort(self._events[req.key], now)
            return AcquireResult(True, 0.0, None, tuple(counts))

    def peek(self, request: LimitRequest, now: float | None = None) -> int:
        now = self._clock() if now is None else now
        with self._lock:
            log = self._events.get(request.key, [])
            return len(log) - bisect.bisect_right(log, now - request.window_s)

    def reset(self) -> None:
        with self._lock:
            self._events.clear()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS rate_log (
    key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts REAL NOT NULL,
    PRIMARY KEY (key, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rate_log_key_ts ON rate_log (key, ts);
"""


class SqliteRateLimiter:
    """Sliding-window counters in a SQLite file, exact across threads and processes.

    ``path`` None means :func:`default_ratelimit_path`. Each thread keeps its own connection.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        busy_timeout_s: float = 30.0,
    ) -> None:
        self.path = Path(path).expanduser() if path is not None else default_ratelimit_path()
        self._clock = clock
        self._busy_timeout_s = busy_timeout_s
        self._calls = 0
        self._db = SQLiteFile(
            self.path,
            _SCHEMA,
            what="rate-limit database",
            error=RateLimitError,
            busy_timeout_s=busy_timeout_s,
        )

    def __repr__(self) -> str:
        return f"SqliteRateLimiter({str(self.path)!r})"

    def _conn(self) -> sqlite3.Connection:
        return self._db.conn()

    def acquire(self, requests: Sequence[LimitRequest], now: float | None = None) -> AcquireResult:
        if not requests:
            return AcquireResult(True, 0.0, None, ())
        conn = self._conn()
        try:
            # IMMEDIATE takes the write lock before reading: no other caller can count
            # between our count and our insert.
            conn.execute("BEGIN IMMEDIATE")
            try:
                now = self._clock() if now is None else now
                result = self._acquire_locked(conn, requests, now)
                self._calls += 1
                if self._calls % _PRUNE_EVERY == 0:
                    conn.execute("DELETE FROM rate_log WHERE ts <= ?", (now - _MAX_WINDOW_S,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise RateLimitError(f"Rate-limit store {self.path} failed: {exc}.") from exc
        return result

    @staticmethod
    def _window(conn: sqlite3.Connection, key: str, start: float) -> tuple[int, int]:
        """``(last seq, calls since start)`` for ``key``.

        Each allowed call gets the next sequence number of its key, so the count in a window is
        a difference of two index lookups instead of a scan of the window's rows.
        """
        # Sequence numbers grow with time, so the first call in the window by time is the first
        # by sequence; the (key, ts) index finds it without scanning older calls.
        last, first = conn.execute(
            "SELECT (SELECT MAX(seq) FROM rate_log WHERE key = ?1), "
            "(SELECT seq FROM rate_log INDEXED BY rate_log_key_ts "
            " WHERE key = ?1 AND ts > ?2 ORDER BY ts LIMIT 1)",
            (key, start),
        ).fetchone()
        if last is None:
            return 0, 0
        return last, (0 if first is None else last - first + 1)

    @classmethod
    def _acquire_locked(
        cls, conn: sqlite3.Connection, requests: Sequence[LimitRequest], now: float
    ) -> AcquireResult:
        counts: list[int] = []
        taken: dict[str, int] = {}  # key -> calls this acquire already adds (shared counters)
        last_seq: dict[str, int] = {}
        for i, req in enumerate(requests):
            last, n = cls._window(conn, req.key, now - req.window_s)
            last_seq[req.key] = last
            n += taken.get(req.key, 0)
            if n >= req.max:
                # The call that must leave the window before another one fits.
                oldest = conn.execute(
                    "SELECT ts FROM rate_log WHERE key = ? AND seq = ?",
                    (req.key, last - req.max + 1 + taken.get(req.key, 0)),
                ).fetchone()
                retry = max(0.0, oldest[0] + req.window_s - now) if oldest else req.window_s
                return AcquireResult(False, retry, i, ())
            taken[req.key] = taken.get(req.key, 0) + 1
            counts.append(n + 1)
        rows = [
            (key, last_seq[key] + k + 1, now) for key, added in taken.items() for k in range(added)
        ]
        conn.executemany("INSERT INTO rate_log (key, seq, ts) VALUES (?, ?, ?)", rows)
        return AcquireResult(True, 0.0, None, tuple(counts))

    def peek(self, request: LimitRequest, now: float | None = None) -> int:
        now = self._clock() if now is None else now
        try:
            return self._window(self._conn(), request.key, now - request.window_s)[1]
        except sqlite3.Error as exc:
            raise RateLimitError(f"Rate-limit store {self.path} failed: {exc}.") from exc

    def reset(self) -> None:
        try:
            self._conn().execute("DELETE FROM rate_log")
        except sqlite3.Error as exc:
            raise RateLimitError(f"Rate-limit store {self.path} failed: {exc}.") from exc

    def close(self) -> None:
        """Close every connection this limiter opened (in any thread)."""
        self._db.close()
