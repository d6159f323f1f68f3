"""Counters for policy limits: reserve, then commit or roll back; in SQLite or in memory.

A :class:`LimitRequest` asks to add ``amount`` to the counter ``key`` without passing ``max``.
Windows are calendar-aligned in UTC, as PolicyLayer's: a minute counter resets at the start
of each UTC minute, an hour counter at the top of the hour, a day counter at midnight UTC.
``sliding=True`` (a gateway extension) counts the calls of the last window length instead,
with no reset at a boundary.

One call can take several counters; either all of them take it or none does, so a refused call
never uses another counter's budget. What was taken comes back as a :class:`Reservation`:
PolicyLayer's model is reserve → forward → commit, or roll back when the upstream call fails,
so :meth:`RateLimiter.release` gives a reservation back (once; later calls do nothing).

:class:`SqliteRateLimiter` runs each acquisition in a ``BEGIN IMMEDIATE`` transaction: with any
number of threads or processes on one file, a counter never passes its ``max``.
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
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
    "Reservation",
    "SqliteRateLimiter",
    "default_ratelimit_path",
    "window_start",
]

# Windows are at most a day, so older sliding entries can never matter again.
_MAX_WINDOW_S = 86400.0
_PRUNE_EVERY = 500


class RateLimitError(CWMError):
    """The rate-limit store could not be used."""


@dataclass(frozen=True, slots=True)
class LimitRequest:
    """Add ``amount`` to counter ``key`` unless it would pass ``max`` in the current window."""

    key: str
    window_s: float
    max: float
    amount: float = 1.0
    sliding: bool = False


def window_start(now: float, window_s: float) -> float:
    """Start of the calendar window holding ``now`` (UTC: the epoch starts at midnight UTC)."""
    return math.floor(now / window_s) * window_s


def _fixed_check(
    req: LimitRequest,
    stored: Mapping[str, tuple[float, float]],
    added: Mapping[str, float],
    now: float,
) -> tuple[float, float | None]:
    """A fixed window's count (``stored``: key -> (window start, value), plus what earlier
    requests of the same call add) and, when ``req`` would pass its max, the seconds until
    the window resets (else None). Every backend that keeps fixed windows as rows checks so."""
    start = window_start(now, req.window_s)
    ws, value = stored.get(req.key, (start, 0.0))
    value = (value if ws == start else 0.0) + added.get(req.key, 0)
    return value, (start + req.window_s - now if value + req.amount > req.max else None)


class Reservation:
    """What one acquisition took; :meth:`RateLimiter.release` gives it back once."""

    __slots__ = ("entries", "released")

    def __init__(self, entries: list[tuple[str, float, float, int | None]]) -> None:
        # (key, window start or -1 for sliding, amount, sliding row id)
        self.entries = entries
        self.released = False

    def __repr__(self) -> str:
        return f"Reservation({len(self.entries)} counters, released={self.released})"


@dataclass(frozen=True)
class AcquireResult:
    """Outcome of :meth:`RateLimiter.acquire`."""

    allowed: bool
    retry_after: float
    """Seconds until the refusing counter has room again (0 when allowed)."""
    blocked: int | None
    """Index of the first request that refused the call, or None."""
    counts: tuple[float, ...]
    """Each counter's value in its window, including this call when allowed."""
    reservation: Reservation | None = None


class RateLimiter(Protocol):
    """What the policy engine needs from a counter store."""

    def acquire(self, requests: Sequence[LimitRequest], now: float | None = None) -> AcquireResult:
        """Take every request's amount, all or nothing."""
        ...

    def release(self, reservation: Reservation | None) -> None:
        """Give back what an acquisition took (a failed upstream call uses no quota)."""
        ...

    def peek(self, request: LimitRequest, now: float | None = None) -> float:
        """The counter's value in its current window, without taking anything."""
        ...

    def reset(self) -> None:
        """Forget every counter."""
        ...


def default_ratelimit_path() -> Path:
    """``<data dir>/ratelimit.sqlite3`` (see :func:`cwm_gateway.memory.data_dir`)."""
    from cwm_gateway.memory import data_dir

    return data_dir() / "ratelimit.sqlite3"


class InMemoryRateLimiter:
    """Process-local counters, for tests and single-process use."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._fixed: dict[str, tuple[float, float]] = {}  # key -> (window start, value)
        self._sliding: dict[str, list[tuple[float, int]]] = {}  # key -> [(time, id)] ascending
        self._next_id = 0

    def _sliding_live(self, key: str, now: float, window_s: float) -> list[tuple[float, int]]:
        log = self._sliding.setdefault(key, [])
        cut = now - window_s
        while log and log[0][0] <= cut:
            log.pop(0)
        return log

    def acquire(self, requests: Sequence[LimitRequest], now: float | None = None) -> AcquireResult:
        now = self._clock() if now is None else now
        with self._lock:
            counts: list[float] = []
            added: dict[str, float] = {}
            for i, req in enumerate(requests):
                if req.sliding:
                    log = self._sliding_live(req.key, now, req.window_s)
                    value = len(log) + added.get(req.key, 0)
                    if value + req.amount > req.max:
                        k = int(value + req.amount - req.max) - 1
                        oldest = log[min(max(k, 0), len(log) - 1)][0] if log else now
                        return AcquireResult(False, max(0.0, oldest + req.window_s - now), i, ())
                else:
                    value, retry = _fixed_check(req, self._fixed, added, now)
                    if retry is not None:
                        return AcquireResult(False, retry, i, ())
                added[req.key] = added.get(req.key, 0) + req.amount
                counts.append(value + req.amount)
            entries: list[tuple[str, float, float, int | None]] = []
            for req in requests:
                if req.sliding:
                    self._next_id += 1
                    self._sliding[req.key].append((now, self._next_id))
                    entries.append((req.key, -1.0, 1.0, self._next_id))
                else:
                    start = window_start(now, req.window_s)
                    ws, value = self._fixed.get(req.key, (start, 0.0))
                    value = value if ws == start else 0.0
                    self._fixed[req.key] = (start, value + req.amount)
                    entries.append((req.key, start, req.amount, None))
            return AcquireResult(True, 0.0, None, tuple(counts), Reservation(entries))

    def release(self, reservation: Reservation | None) -> None:
        if reservation is None:
            return
        with self._lock:
            if reservation.released:
                return
            reservation.released = True
            for key, start, amount, row in reservation.entries:
                if row is not None:
                    log = self._sliding.get(key, [])
                    self._sliding[key] = [e for e in log if e[1] != row]
                else:
                    ws, value = self._fixed.get(key, (start, 0.0))
                    if ws == start:  # a new window already started from zero
                        self._fixed[key] = (ws, max(0.0, value - amount))

    def peek(self, request: LimitRequest, now: float | None = None) -> float:
        now = self._clock() if now is None else now
        with self._lock:
            if request.sliding:
                return float(len(self._sliding_live(request.key, now, request.window_s)))
            ws, value = self._fixed.get(request.key, (0.0, 0.0))
            return value if ws == window_start(now, request.window_s) else 0.0

    def reset(self) -> None:
        with self._lock:
            self._fixed.clear()
            self._sliding.clear()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS window_counters (
    key TEXT PRIMARY KEY,
    window_start REAL NOT NULL,
    value REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sliding_log (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sliding_log_key_ts ON sliding_log (key, ts);
"""


class SqliteRateLimiter:
    """Counters in a SQLite file, exact across threads and processes.

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

    def _transaction(self, work: Callable[[sqlite3.Connection], AcquireResult | None]):
        conn = self._db.conn()
        try:
            # IMMEDIATE takes the write lock before reading: no other caller can count
            # between our read and our write.
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise RateLimitError(f"Rate-limit store {self.path} failed: {exc}.") from exc
        return result

    def acquire(self, requests: Sequence[LimitRequest], now: float | None = None) -> AcquireResult:
        if not requests:
            return AcquireResult(True, 0.0, None, (), None)
        now = self._clock() if now is None else now

        def work(conn: sqlite3.Connection) -> AcquireResult:
            result = self._acquire_locked(conn, requests, now)
            self._calls += 1
            if self._calls % _PRUNE_EVERY == 0:
                conn.execute("DELETE FROM sliding_log WHERE ts <= ?", (now - _MAX_WINDOW_S,))
            return result

        result = self._transaction(work)
        assert result is not None
        return result

    @staticmethod
    def _acquire_locked(
        conn: sqlite3.Connection, requests: Sequence[LimitRequest], now: float
    ) -> AcquireResult:
        counts: list[float] = []
        added: dict[str, float] = {}
        fixed_keys = list({r.key for r in requests if not r.sliding})
        stored: dict[str, tuple[float, float]] = {}
        if fixed_keys:
            marks = ",".join("?" * len(fixed_keys))
            for key, ws, value in conn.execute(
                f"SELECT key, window_start, value FROM window_counters WHERE key IN ({marks})",
                fixed_keys,
            ):
                stored[key] = (ws, value)
        for i, req in enumerate(requests):
            if req.sliding:
                cut = now - req.window_s
                (n,) = conn.execute(
                    "SELECT COUNT(*) FROM sliding_log WHERE key = ? AND ts > ?", (req.key, cut)
                ).fetchone()
                value = n + added.get(req.key, 0)
                if value + req.amount > req.max:
                    # The call that must leave the window before another one fits.
                    k = max(0, int(value + req.amount - req.max) - 1)
                    row = conn.execute(
                        "SELECT ts FROM sliding_log WHERE key = ? AND ts > ? ORDER BY ts "
                        "LIMIT 1 OFFSET ?",
                        (req.key, cut, k),
                    ).fetchone()
                    retry = max(0.0, row[0] + req.window_s - now) if row else req.window_s
                    return AcquireResult(False, retry, i, ())
            else:
                value, retry = _fixed_check(req, stored, added, now)
                if retry is not None:
                    return AcquireResult(False, retry, i, ())
            added[req.key] = added.get(req.key, 0) + req.amount
            counts.append(value + req.amount)
        entries: list[tuple[str, float, float, int | None]] = []
        upserts: dict[str, tuple[float, float]] = {}
        for req in requests:
            if req.sliding:
                cur = conn.execute(
                    "INSERT INTO sliding_log (key, ts) VALUES (?, ?)", (req.key, now)
                )
                entries.append((req.key, -1.0, 1.0, cur.lastrowid))
            else:
                start = window_start(now, req.window_s)
                ws, value = upserts.get(req.key) or stored.get(req.key, (start, 0.0))
                value = value if ws == start else 0.0
                upserts[req.key] = (start, value + req.amount)
                entries.append((req.key, start, req.amount, None))
        if upserts:
            conn.executemany(
                "INSERT INTO window_counters (key, window_start, value) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET window_start = excluded.window_start, "
                "value = excluded.value",
                [(k, ws, v) for k, (ws, v) in upserts.items()],
            )
        return AcquireResult(True, 0.0, None, tuple(counts), Reservation(entries))

    def release(self, reservation: Reservation | None) -> None:
        if reservation is None or reservation.released:
            return
        reservation.released = True

        def work(conn: sqlite3.Connection) -> None:
            for key, start, amount, row in reservation.entries:
                if row is not None:
                    conn.execute("DELETE FROM sliding_log WHERE id = ?", (row,))
                else:
                    # Only the window it was taken from: a new window already starts from zero.
                    conn.execute(
                        "UPDATE window_counters SET value = MAX(0, value - ?) "
                        "WHERE key = ? AND window_start = ?",
                        (amount, key, start),
                    )

        self._transaction(work)

    def peek(self, request: LimitRequest, now: float | None = None) -> float:
        now = self._clock() if now is None else now
        try:
            conn = self._db.conn()
            if request.sliding:
                (n,) = conn.execute(
                    "SELECT COUNT(*) FROM sliding_log WHERE key = ? AND ts > ?",
                    (request.key, now - request.window_s),
                ).fetchone()
                return float(n)
            row = conn.execute(
                "SELECT window_start, value FROM window_counters WHERE key = ?", (request.key,)
            ).fetchone()
        except sqlite3.Error as exc:
            raise RateLimitError(f"Rate-limit store {self.path} failed: {exc}.") from exc
        if row is None or row[0] != window_start(now, request.window_s):
            return 0.0
        return float(row[1])

    def reset(self) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM window_counters")
            conn.execute("DELETE FROM sliding_log")

        self._transaction(work)

    def close(self) -> None:
        """Close every connection this limiter opened (in any thread)."""
        self._db.close()
