"""The embedded backend: SQLite files in one data directory (one machine, one or more processes).

Fast Memory, rate limits and the audit log keep the files they always had
(``fast_memory.sqlite3``, ``ratelimits.sqlite3``, ``audit.sqlite3``); grants and approval
records live in ``team.sqlite3``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cwm_gateway.memory import FastMemory
from cwm_gateway.policy.audit import AuditLog
from cwm_gateway.policy.ratelimit import SqliteRateLimiter
from cwm_gateway.sqlite_file import SQLiteFile
from cwm_gateway.state import ApprovalStore, StateError, shared_secret
from cwm_gateway.state.grants import GrantStore, RunStatement

__all__ = ["SqliteState"]

_TEAM_MIGRATIONS = (
    """
CREATE TABLE IF NOT EXISTS grants (
    name TEXT PRIMARY KEY,
    key_hash TEXT NOT NULL UNIQUE,
    key_hint TEXT NOT NULL,
    created REAL NOT NULL,
    policy TEXT,
    member_public_key TEXT,
    member_private_key TEXT,
    revoked REAL
);
CREATE TABLE IF NOT EXISTS approvals (
    key TEXT PRIMARY KEY,
    grant_id TEXT,
    used REAL NOT NULL
);
""",
    """
CREATE TABLE IF NOT EXISTS shared_secrets (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
""",
)


def _runner(db: SQLiteFile) -> RunStatement:
    """Run one statement on this thread's connection to ``db`` (autocommit)."""

    def run(statement: str, args: Sequence[Any], fetch: str) -> Any:
        cur = db.conn().execute(statement, args)
        if fetch == "one":
            return cur.fetchone()
        if fetch == "all":
            return cur.fetchall()
        return cur.rowcount

    return run


class SqliteState:
    """Every store of the gateway in SQLite files under ``root``."""

    kind = "sqlite"

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser()
        self.memory = FastMemory(self.root / "fast_memory.sqlite3")
        self.ratelimiter = SqliteRateLimiter(self.root / "ratelimits.sqlite3")
        self.audit = AuditLog(self.root / "audit.sqlite3")
        self._team = SQLiteFile(
            self.root / "team.sqlite3", _TEAM_MIGRATIONS, what="grants database", error=StateError
        )
        self._run = _runner(self._team)
        self.grants = GrantStore(self._run, sqlite3.IntegrityError)
        self.approvals = ApprovalStore(self._run)

    @property
    def description(self) -> str:
        return f"SQLite files in {self.root}"

    def shared_secret(self, name: str) -> bytes:
        """A random secret under ``name``, the same for every process on these files."""
        return shared_secret(self._run, name)

    def ping(self) -> None:
        """Raise when the state cannot be used (for /readyz)."""
        self._team.conn().execute("SELECT 1").fetchone()

    def close(self) -> None:
        for closable in (self.memory, self.ratelimiter, self.audit, self._team):
            closable.close()
