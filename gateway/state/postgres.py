"""The team backend: one PostgreSQL database shared by every gateway instance.

psycopg 3 with a connection pool. The schema is created and upgraded by versioned migrations
(the ``schema_version`` table records which have run; an advisory lock lets only one instance
migrate at a time). A ``schema`` query parameter in the URL puts every table in that schema
(created if missing), e.g. ``postgresql://gw@db/cwm?schema=gateway``.

Policy counters are exact across instances: one call of the ``cwm_counter_acquire`` function
per decision takes transaction-scoped advisory locks on the counter keys (in sorted order, so
two callers never deadlock), reads each counter's window and adds the call's amounts, all in
one statement on the database's clock; a reservation is given back by id or window.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from typing import Any, LiteralString, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from cwm_gateway.memory import FastMemory, FastMemoryError
from cwm_gateway.policy.audit import AuditError, AuditLog
from cwm_gateway.policy.ratelimit import (
    AcquireResult,
    LimitRequest,
    RateLimitError,
    Reservation,
)
from cwm_gateway.state import ApprovalStore, shared_secret
from cwm_gateway.state.grants import GrantStore

__all__ = [
    "MIGRATIONS",
    "PostgresAuditLog",
    "PostgresFastMemory",
    "PostgresRateLimiter",
    "PostgresState",
    "redact_url",
]

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_PRUNE_EVERY = 500
_MAX_WINDOW_S = 86400.0

MIGRATIONS: tuple[str, ...] = (
    # 1: everything the gateway keeps.
    """
CREATE TABLE saved_queries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    description TEXT NOT NULL,
    path TEXT NOT NULL,
    method TEXT NOT NULL,
    params TEXT,
    data TEXT,
    timestamp DOUBLE PRECISION NOT NULL,
    usage_count INTEGER NOT NULL DEFAULT 0,
    params_key TEXT NOT NULL,
    grant_id TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX saved_queries_identity ON saved_queries (grant_id, method, path, params_key);
CREATE INDEX saved_queries_rank ON saved_queries (usage_count DESC, timestamp DESC);

CREATE TABLE audit_log (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time DOUBLE PRECISION NOT NULL,
    kind TEXT NOT NULL,
    correlation_id TEXT,
    grant_id TEXT,
    member TEXT,
    tool TEXT,
    operation_id TEXT,
    method TEXT,
    path TEXT,
    decision TEXT,
    rule TEXT,
    reason TEXT,
    status INTEGER,
    latency_ms DOUBLE PRECISION,
    error TEXT,
    params TEXT,
    arguments TEXT,
    body TEXT
);
CREATE INDEX audit_log_time ON audit_log (time);
CREATE INDEX audit_log_correlation ON audit_log (correlation_id);

CREATE TABLE rate_log (
    key TEXT NOT NULL,
    ts DOUBLE PRECISION NOT NULL
);
CREATE INDEX rate_log_key_ts ON rate_log (key, ts);

CREATE TABLE grants (
    name TEXT PRIMARY KEY,
    key_hash TEXT NOT NULL UNIQUE,
    key_hint TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    policy TEXT,
    member_public_key TEXT,
    member_private_key TEXT,
    revoked DOUBLE PRECISION
);

CREATE TABLE approvals (
    key TEXT PRIMARY KEY,
    grant_id TEXT,
    used DOUBLE PRECISION NOT NULL
);

CREATE FUNCTION cwm_rate_acquire(
    p_keys TEXT[], p_windows DOUBLE PRECISION[], p_max INTEGER[], p_now DOUBLE PRECISION
) RETURNS TABLE (allowed BOOLEAN, blocked INTEGER, retry_after DOUBLE PRECISION, counts INTEGER[])
LANGUAGE plpgsql AS $fn$
DECLARE
    now_s DOUBLE PRECISION := coalesce(p_now, extract(epoch FROM clock_timestamp()));
    i INTEGER;
    n INTEGER;
    t INTEGER;
    oldest DOUBLE PRECISION;
    taken JSONB := '{}'::jsonb;
    result INTEGER[] := '{}';
BEGIN
    -- Serialize callers per key until this transaction ends; sorted, so no deadlock.
    PERFORM pg_advisory_xact_lock(hashtextextended(k, 7))
        FROM (SELECT DISTINCT unnest(p_keys) AS k ORDER BY 1) AS sorted_keys;
    FOR i IN 1 .. coalesce(array_length(p_keys, 1), 0) LOOP
        t := coalesce((taken ->> p_keys[i])::INTEGER, 0);
        SELECT count(*) INTO n FROM rate_log
            WHERE key = p_keys[i] AND ts > now_s - p_windows[i];
        IF n + t >= p_max[i] THEN
            IF t >= p_max[i] THEN
                oldest := now_s;
            ELSE
                -- The call that must leave the window before this one fits.
                SELECT ts INTO oldest FROM rate_log
                    WHERE key = p_keys[i] AND ts > now_s - p_windows[i]
                    ORDER BY ts OFFSET n + t - p_max[i] LIMIT 1;
            END IF;
            RETURN QUERY SELECT false, i - 1,
                greatest(0.0, oldest + p_windows[i] - now_s)::DOUBLE PRECISION, '{}'::INTEGER[];
            RETURN;
        END IF;
        taken := jsonb_set(taken, ARRAY[p_keys[i]], to_jsonb(t + 1));
        result := result || (n + t + 1);
    END LOOP;
    INSERT INTO rate_log (key, ts) SELECT unnest(p_keys), now_s;
    RETURN QUERY SELECT true, NULL::INTEGER, 0.0::DOUBLE PRECISION, result;
END;
$fn$;
""",
    # 2: secrets every instance shares (the key sealing multi-round approval state).
    """
CREATE TABLE shared_secrets (
    name TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
""",
    # 3: counters as PolicyLayer keeps them: calendar-aligned UTC windows by default (one row per
    # counter), sliding windows as an option (one row per call), amounts (increment_from) and
    # reservations that a failed upstream call gives back.
    """
CREATE TABLE window_counters (
    key TEXT PRIMARY KEY,
    window_start DOUBLE PRECISION NOT NULL,
    value DOUBLE PRECISION NOT NULL
);
CREATE TABLE sliding_log (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key TEXT NOT NULL,
    ts DOUBLE PRECISION NOT NULL
);
CREATE INDEX sliding_log_key_ts ON sliding_log (key, ts);

CREATE FUNCTION cwm_counter_acquire(
    p_keys TEXT[], p_windows DOUBLE PRECISION[], p_max DOUBLE PRECISION[],
    p_amounts DOUBLE PRECISION[], p_sliding BOOLEAN[], p_now DOUBLE PRECISION
) RETURNS TABLE (
    allowed BOOLEAN, blocked INTEGER, retry_after DOUBLE PRECISION,
    counts DOUBLE PRECISION[], starts DOUBLE PRECISION[], row_ids BIGINT[]
)
LANGUAGE plpgsql AS $fn$
DECLARE
    now_s DOUBLE PRECISION := coalesce(p_now, extract(epoch FROM clock_timestamp()));
    n INTEGER := coalesce(array_length(p_keys, 1), 0);
    i INTEGER;
    v DOUBLE PRECISION;
    t DOUBLE PRECISION;
    ws DOUBLE PRECISION;
    stored_ws DOUBLE PRECISION;
    oldest DOUBLE PRECISION;
    new_id BIGINT;
    taken JSONB := '{}'::jsonb;
    result DOUBLE PRECISION[] := '{}';
    ws_out DOUBLE PRECISION[] := '{}';
    ids BIGINT[] := '{}';
BEGIN
    -- Serialize callers per key until this transaction ends; sorted, so no deadlock.
    PERFORM pg_advisory_xact_lock(hashtextextended(k, 7))
        FROM (SELECT DISTINCT unnest(p_keys) AS k ORDER BY 1) AS sorted_keys;
    FOR i IN 1 .. n LOOP
        t := coalesce((taken ->> p_keys[i])::DOUBLE PRECISION, 0);
        IF p_sliding[i] THEN
            SELECT count(*) INTO v FROM sliding_log
                WHERE key = p_keys[i] AND ts > now_s - p_windows[i];
            v := v + t;
            IF v + p_amounts[i] > p_max[i] THEN
                -- The call that must leave the window before this one fits.
                SELECT s.ts INTO oldest FROM sliding_log s
                    WHERE s.key = p_keys[i] AND s.ts > now_s - p_windows[i]
                    ORDER BY s.ts OFFSET greatest(0, floor(v + p_amounts[i] - p_max[i]) - 1)
                    LIMIT 1;
                RETURN QUERY SELECT false, i - 1,
                    greatest(0.0, coalesce(oldest, now_s) + p_windows[i] - now_s),
                    '{}'::DOUBLE PRECISION[], '{}'::DOUBLE PRECISION[], '{}'::BIGINT[];
                RETURN;
            END IF;
        ELSE
            ws := floor(now_s / p_windows[i]) * p_windows[i];
            SELECT c.window_start, c.value INTO stored_ws, v FROM window_counters c
                WHERE c.key = p_keys[i];
            IF NOT FOUND OR stored_ws <> ws THEN
                v := 0;
            END IF;
            v := v + t;
            IF v + p_amounts[i] > p_max[i] THEN
                RETURN QUERY SELECT false, i - 1, ws + p_windows[i] - now_s,
                    '{}'::DOUBLE PRECISION[], '{}'::DOUBLE PRECISION[], '{}'::BIGINT[];
                RETURN;
            END IF;
        END IF;
        taken := jsonb_set(taken, ARRAY[p_keys[i]], to_jsonb(t + p_amounts[i]));
        result := result || (v + p_amounts[i]);
    END LOOP;
    FOR i IN 1 .. n LOOP
        IF p_sliding[i] THEN
            INSERT INTO sliding_log (key, ts) VALUES (p_keys[i], now_s) RETURNING id INTO new_id;
            ids := ids || new_id;
            ws_out := ws_out || (-1.0)::DOUBLE PRECISION;
        ELSE
            ws := floor(now_s / p_windows[i]) * p_windows[i];
            INSERT INTO window_counters AS c (key, window_start, value)
                VALUES (p_keys[i], ws, p_amounts[i])
                ON CONFLICT (key) DO UPDATE SET
                    value = CASE WHEN c.window_start = excluded.window_start
                        THEN c.value + excluded.value ELSE excluded.value END,
                    window_start = excluded.window_start;
            ids := ids || 0::BIGINT;
            ws_out := ws_out || ws;
        END IF;
    END LOOP;
    RETURN QUERY SELECT true, NULL::INTEGER, 0.0::DOUBLE PRECISION, result, ws_out, ids;
END;
$fn$;
""",
)


def _without_disk_waits(migration: str) -> str:
    """Migration 3's counter function, re-created to commit without waiting for the disk.

    While a counter's advisory lock is held the transaction also waits for its WAL flush, so
    concurrent callers of a busy counter queued behind each other's fsyncs. Other callers see
    a committed count at once either way; a database crash can at worst forget the last
    fraction of a second of counts (a few more calls allowed once).
    """
    function = migration[migration.index("CREATE FUNCTION cwm_counter_acquire") :]
    return "CREATE OR REPLACE" + function.removeprefix("CREATE").replace(
        "BEGIN\n",
        "BEGIN\n    PERFORM set_config('synchronous_commit', 'off', true);\n",
        1,
    )


MIGRATIONS += (_without_disk_waits(MIGRATIONS[2]),)  # 4


def redact_url(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def _split_schema(url: str) -> tuple[str, str | None]:
    """The URL without our ``schema`` parameter (libpq would refuse it), and the schema."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = None
    kept = []
    for key, value in query:
        if key == "schema":
            schema = value
        else:
            kept.append((key, value))
    if schema is not None and not _SCHEMA_NAME.match(schema):
        from cwm_gateway.state import StateError

        raise StateError(
            f"schema={schema!r} in the state URL is not a plain lower-case identifier "
            "(letters, digits, '_'; e.g. schema=gateway)"
        )
    return urlunsplit(parts._replace(query=urlencode(kept))), schema


class PostgresState:
    """Every store of the gateway in one PostgreSQL database (or schema)."""

    kind = "postgresql"

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10) -> None:
        import psycopg
        from psycopg import sql
        from psycopg_pool import ConnectionPool

        from cwm_gateway.state import StateError

        self.url = redact_url(url)
        conninfo, self.schema = _split_schema(url)
        schema = self.schema

        def configure(conn: psycopg.Connection) -> None:
            if schema:
                conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))

        try:
            # One direct connection first: an unreachable server fails now, with its reason.
            with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
                if schema:
                    conn.execute(
                        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
                    )
            self.pool = ConnectionPool(
                conninfo,
                min_size=min_size,
                max_size=max_size,
                kwargs={"autocommit": True},
                configure=configure,
                open=True,
                timeout=30,
            )
            self.pool.wait(timeout=10)
            self._migrate()
        except psycopg.Error as exc:
            raise StateError(
                f"Cannot use the PostgreSQL state at {self.url}: {exc}. Check "
                "CWM_GATEWAY_STATE_URL (postgresql://user@host:5432/database)."
            ) from exc
        except Exception as exc:  # the pool's own timeout when the server is unreachable
            if isinstance(exc, StateError):
                raise
            raise StateError(
                f"Cannot reach the PostgreSQL state at {self.url}: {exc}. Check "
                "CWM_GATEWAY_STATE_URL and that the server is running."
            ) from exc
        self.memory = PostgresFastMemory(self)
        self.ratelimiter = PostgresRateLimiter(self)
        self.audit = PostgresAuditLog(self)
        self.grants = GrantStore(self._run_qmarks, psycopg.errors.UniqueViolation)
        self.approvals = ApprovalStore(self._run_qmarks)

    @property
    def description(self) -> str:
        return f"PostgreSQL at {self.url}" + (f" (schema {self.schema})" if self.schema else "")

    def _migrate(self) -> None:
        with self.pool.connection() as conn, conn.transaction():
            # One instance migrates at a time; the others wait, then find nothing to do.
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('cwm_migrate', 7))")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                "version INTEGER PRIMARY KEY, applied DOUBLE PRECISION NOT NULL)"
            )
            row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
            current = int(row[0]) if row else 0
            for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
                conn.execute(cast(LiteralString, script))  # this module's own migration text
                conn.execute(
                    "INSERT INTO schema_version (version, applied) VALUES (%s, %s)",
                    (number, time.time()),
                )

    def shared_secret(self, name: str) -> bytes:
        """A random secret under ``name``, the same for every instance on this database."""
        return shared_secret(self._run_qmarks, name)

    def schema_version(self) -> int:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
            return int(row[0]) if row and row[0] is not None else 0

    def ping(self) -> None:
        with self.pool.connection(timeout=5) as conn:
            conn.execute("SELECT 1").fetchone()

    def run(self, statement: str, args: Sequence[Any] = (), fetch: str = "none") -> Any:
        """One statement on a pooled connection (autocommit)."""
        with self.pool.connection() as conn:
            # Statements are this module's constants; values travel separately in args.
            cur = conn.execute(cast(LiteralString, statement), args)
            if fetch == "one":
                return cur.fetchone()
            if fetch == "all":
                return cur.fetchall()
            return cur.rowcount

    def _run_qmarks(self, statement: str, args: Sequence[Any], fetch: str) -> Any:
        """:meth:`run` for a statement shared with SQLite (``?`` placeholders)."""
        return self.run(_qmarks(statement), args, fetch)

    def drop_schema(self) -> None:
        """Drop this state's schema with everything in it (tests use a schema per run)."""
        if not self.schema:
            raise RuntimeError("drop_schema needs a state URL with ?schema=")
        self.run(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    def close(self) -> None:
        if not isinstance(self.ratelimiter, PostgresRateLimiter):  # counters kept elsewhere
            self.ratelimiter.close()
        self.pool.close()


def _qmarks(sql: str) -> str:
    """``?`` placeholders (the SQLite spelling shared with memory/audit) to psycopg's ``%s``."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresFastMemory(FastMemory):
    """Fast Memory in PostgreSQL: the same statements as the SQLite store."""

    _CONTAINS = "strpos(lower({haystack}), ?) > 0"

    def __init__(self, state: PostgresState) -> None:  # noqa: D107 - no file to open
        self._state = state
        self.path = state.url  # type: ignore[assignment]  # shown in messages only

    def __repr__(self) -> str:
        return f"PostgresFastMemory({self._state.url!r})"

    def _run(self, what: str, sql: str, args: Sequence[Any], fetch: str) -> Any:
        import psycopg

        try:
            return self._state.run(_qmarks(sql), list(args), "count" if fetch == "count" else fetch)
        except psycopg.Error as exc:
            raise FastMemoryError(
                f"Could not {what} in Fast Memory ({self._state.url}): {exc}."
            ) from exc

    def close(self) -> None:
        """The pool belongs to the state; closing it closes this store."""


class PostgresAuditLog(AuditLog):
    """The audit log in PostgreSQL: scrubbing and rows as in :class:`AuditLog`."""

    def __init__(self, state: PostgresState, *, record_bodies: bool = False) -> None:
        from cwm_gateway.policy.audit import Scrubber

        self._state = state
        self.path = state.url  # type: ignore[assignment]
        self.record_bodies = record_bodies
        self.scrubber = Scrubber()
        self.observers = []

    def __repr__(self) -> str:
        return f"PostgresAuditLog({self._state.url!r})"

    def _call(self, what: str, sql: str, args: Sequence[Any], fetch: str) -> Any:
        import psycopg

        try:
            return self._state.run(sql, list(args), fetch)
        except psycopg.Error as exc:
            raise AuditError(f"Could not {what} the audit log ({self._state.url}): {exc}.") from exc

    def _insert(self, row: Sequence[Any]) -> int:
        from cwm_gateway.policy.audit import _COLUMNS

        sql = (
            f"INSERT INTO audit_log ({', '.join(_COLUMNS[1:])}) "
            f"VALUES ({', '.join(['%s'] * (len(_COLUMNS) - 1))}) RETURNING id"
        )
        return int(self._call("write", sql, row, "one")[0])

    def _delete_before(self, cutoff: float) -> int:
        return self._call("prune", "DELETE FROM audit_log WHERE time < %s", (cutoff,), "count")

    def _select(self, where: Sequence[tuple[str, Any]], n: int) -> list[Sequence[Any]]:
        from cwm_gateway.policy.audit import _COLUMNS

        sql = f"SELECT {', '.join(_COLUMNS)} FROM audit_log"
        if where:
            sql += " WHERE " + " AND ".join(f"{column} = %s" for column, _ in where)
        sql += " ORDER BY time DESC, id DESC LIMIT %s"
        return self._call("read", sql, [v for _, v in where] + [n], "all")

    def close(self) -> None:
        """The pool belongs to the state."""


class PostgresRateLimiter:
    """Policy counters in PostgreSQL, exact across threads, processes and machines.

    Calendar windows (and sliding ones, an option) are measured on the database's clock, so
    instances with skewed clocks still share one timeline.
    """

    def __init__(self, state: PostgresState) -> None:
        self._state = state
        self._calls = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PostgresRateLimiter({self._state.url!r})"

    def _fail(self, exc: Exception) -> RateLimitError:
        return RateLimitError(f"Rate-limit store {self._state.url} failed: {exc}.")

    def acquire(self, requests: Sequence[LimitRequest], now: float | None = None) -> AcquireResult:
        import psycopg

        if not requests:
            return AcquireResult(True, 0.0, None, ())
        try:
            allowed, blocked, retry, counts, starts, ids = self._state.run(
                "SELECT * FROM cwm_counter_acquire(%s, %s, %s, %s, %s, %s)",
                (
                    [r.key for r in requests],
                    [float(r.window_s) for r in requests],
                    [float(r.max) for r in requests],
                    [float(r.amount) for r in requests],
                    [bool(r.sliding) for r in requests],
                    now,
                ),
                "one",
            )
            with self._lock:
                self._calls += 1
                prune = self._calls % _PRUNE_EVERY == 0
            if prune:
                self._state.run(
                    "DELETE FROM sliding_log WHERE ts < extract(epoch FROM clock_timestamp()) - %s",
                    (_MAX_WINDOW_S,),
                )
        except psycopg.Error as exc:
            raise self._fail(exc) from exc
        if not allowed:
            return AcquireResult(False, float(retry), int(blocked), ())
        entries = [
            (r.key, float(ws), float(r.amount), int(row) if r.sliding else None)
            for r, ws, row in zip(requests, starts, ids, strict=True)
        ]
        return AcquireResult(True, 0.0, None, tuple(counts), Reservation(entries))

    def release(self, reservation: Reservation | None) -> None:
        import psycopg

        if reservation is None or reservation.released:
            return
        reservation.released = True
        rows = [row for _, _, _, row in reservation.entries if row is not None]
        try:
            if rows:
                self._state.run("DELETE FROM sliding_log WHERE id = ANY(%s)", (rows,))
            for key, start, amount, row in reservation.entries:
                if row is None:
                    # Only the window it was taken from: a new window already starts from zero.
                    self._state.run(
                        "UPDATE window_counters SET value = greatest(0, value - %s) "
                        "WHERE key = %s AND window_start = %s",
                        (amount, key, start),
                    )
        except psycopg.Error as exc:
            raise self._fail(exc) from exc

    def peek(self, request: LimitRequest, now: float | None = None) -> float:
        import psycopg

        clock = "coalesce(%s, extract(epoch FROM clock_timestamp()))"
        try:
            if request.sliding:
                row = self._state.run(
                    f"SELECT count(*) FROM sliding_log WHERE key = %s AND ts > {clock} - %s",
                    (request.key, now, float(request.window_s)),
                    "one",
                )
            else:
                row = self._state.run(
                    "SELECT CASE WHEN window_start = "
                    f"floor({clock} / %s) * %s THEN value ELSE 0 END "
                    "FROM window_counters WHERE key = %s",
                    (now, float(request.window_s), float(request.window_s), request.key),
                    "one",
                )
        except psycopg.Error as exc:
            raise self._fail(exc) from exc
        return float(row[0]) if row else 0.0

    def reset(self) -> None:
        import psycopg

        try:
            self._state.run("DELETE FROM window_counters")
            self._state.run("DELETE FROM sliding_log")
        except psycopg.Error as exc:
            raise self._fail(exc) from exc

    def close(self) -> None:
        """The pool belongs to the state."""
