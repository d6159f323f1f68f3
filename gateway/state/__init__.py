"""Where the gateway keeps state: embedded SQLite files by default, PostgreSQL for a team.

``CWM_GATEWAY_STATE_URL`` (or ``--state-url``) picks the backend:

- unset, a directory path or ``sqlite:///path/to/dir``: SQLite files in that directory (the
  data directory by default), as a single user has always had them;
- ``postgresql://user@host:5432/database[?schema=name]``: one database shared by every
  gateway instance (psycopg 3 with a pool; versioned migrations on first use).

Either way a backend offers the same stores: ``memory`` (Fast Memory, per grant plus shared
entries), ``ratelimiter`` (exact across processes), ``audit``, ``grants`` (API keys) and
``approvals`` (each approval sends its request once), plus ``ping()`` for readiness checks.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any, Protocol, cast

from cwm_gateway.errors import CWMError
from cwm_gateway.memory import FastMemory, data_dir
from cwm_gateway.policy.audit import AuditLog
from cwm_gateway.policy.ratelimit import RateLimiter
from cwm_gateway.state.grants import GrantStore, RunStatement

__all__ = [
    "APPROVAL_RECORD_TTL_S",
    "RATELIMIT_URL_ENV",
    "STATE_URL_ENV",
    "ApprovalStore",
    "State",
    "StateError",
    "open_state",
    "shared_secret",
]

#: Environment variable naming the state backend.
STATE_URL_ENV = "CWM_GATEWAY_STATE_URL"
#: Optional: rate-limit counters in Redis (``redis://…``) instead of the state backend.
RATELIMIT_URL_ENV = "CWM_GATEWAY_RATELIMIT_URL"


class StateError(CWMError):
    """The state backend could not be opened or used."""


#: How long approval records are kept (sealed states expire well before: 10 minutes).
APPROVAL_RECORD_TTL_S = 86400.0
_PRUNE_ONE_IN = 200


class ApprovalStore:
    """Approval records in a backend's SQL database: each answered approval may send its
    request once. ``run`` runs one statement (:data:`~cwm_gateway.state.grants.RunStatement`)."""

    def __init__(self, run: RunStatement) -> None:
        self._run = run

    def claim(self, key: str, grant: str | None) -> bool:
        """Record that an approval was used; True only the first time (on any instance)."""
        now = time.time()
        first = self._run(
            "INSERT INTO approvals (key, grant_id, used) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO NOTHING",
            (key, grant, now),
            "count",
        )
        if secrets.randbelow(_PRUNE_ONE_IN) == 0:
            self._run(
                "DELETE FROM approvals WHERE used < ?", (now - APPROVAL_RECORD_TTL_S,), "count"
            )
        return first == 1


def shared_secret(run: RunStatement, name: str) -> bytes:
    """The random secret under ``name`` in a backend's SQL database, made by the first caller;
    the same for every process and instance that shares the database."""
    run(
        "INSERT INTO shared_secrets (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
        (name, secrets.token_bytes(32)),
        "count",
    )
    return bytes(run("SELECT value FROM shared_secrets WHERE name = ?", (name,), "one")[0])


class State(Protocol):
    """What every backend offers."""

    # Read-only members: each backend holds its own implementations (SqliteRateLimiter...),
    # which a mutable protocol attribute would not accept.
    @property
    def kind(self) -> str: ...
    @property
    def memory(self) -> FastMemory: ...
    @property
    def ratelimiter(self) -> RateLimiter: ...
    @property
    def audit(self) -> AuditLog: ...
    @property
    def grants(self) -> GrantStore: ...
    @property
    def approvals(self) -> ApprovalStore: ...

    @property
    def description(self) -> str: ...

    def shared_secret(self, name: str) -> bytes:
        """A random secret kept in the backend, the same for every instance that shares it."""
        ...

    def ping(self) -> None: ...

    def close(self) -> None: ...


def open_state(
    url: str | os.PathLike[str] | None = None,
    *,
    ratelimit_url: str | None = None,
    **options: Any,
) -> State:
    """Open the backend ``url`` names (None → ``$CWM_GATEWAY_STATE_URL`` → the data dir).

    ``ratelimit_url`` (None → ``$CWM_GATEWAY_RATELIMIT_URL``) moves the rate-limit counters to
    Redis; every other store stays in the backend.
    """
    state = _open(url, **options)
    counters = ratelimit_url or os.environ.get(RATELIMIT_URL_ENV, "").strip() or None
    if counters is not None:
        if not counters.lower().startswith(("redis://", "rediss://", "unix://")):
            state.close()
            raise StateError(
                f"{RATELIMIT_URL_ENV} must be a redis:// URL (e.g. redis://127.0.0.1:6379/0); "
                f"got {counters.split('://', 1)[0]!r}"
            )
        from cwm_gateway.state.redis_counters import RedisRateLimiter

        # Backends hold their stores as plain attributes: swap the counters in place.
        cast(Any, state).ratelimiter = RedisRateLimiter(counters)
    return state


def _open(url: str | os.PathLike[str] | None, **options: Any) -> State:
    if url is None:
        url = os.environ.get(STATE_URL_ENV, "").strip() or None
    if url is None:
        from cwm_gateway.state.sqlite import SqliteState

        return SqliteState(data_dir())
    text = os.fspath(url)
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in ("postgresql", "postgres"):
        try:
            import psycopg  # noqa: F401
            import psycopg_pool  # noqa: F401
        except ImportError:
            raise StateError(
                "A postgresql:// state URL needs psycopg 3 and psycopg_pool: "
                "pip install 'cwm-api-gateway[team]'"
            ) from None
        from cwm_gateway.state.postgres import PostgresState

        return PostgresState(text, **options)
    if scheme == "sqlite":
        text = text.split("://", 1)[1]
        if text.startswith("/") and text[1:2] == "/":
            text = text[1:]
    elif scheme:
        raise StateError(
            f"state URL scheme {scheme!r} is not supported: use a directory path (SQLite files), "
            "sqlite:///path/to/dir or postgresql://user@host:5432/database"
        )
    from cwm_gateway.state.sqlite import SqliteState

    return SqliteState(Path(text))
