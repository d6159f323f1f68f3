"""The embedded backend: SQLite files in one data directory (one machine, one or more processes).

Fast Memory, rate limits and the audit log keep the files they always had
(``fast_memory.sqlite3``, ``ratelimits.sqlite3``, ``audit.sqlite3``); grants and approval
records live in ``team.sqlite3``.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from pathlib import Path

from cwm_gateway.memory import FastMemory
from cwm_gateway.policy.audit import AuditLog
from cwm_gateway.policy.ratelimit import SqliteRateLimiter
from cwm_gateway.sqlite_file import SQLiteFile
from cwm_gateway.state.grants import (
    GRANT_COLUMNS,
    Grant,
    grant_exists,
    grant_from_row,
    grant_insert,
    hash_key,
    new_grant,
)

__all__ = ["SqliteApprovals", "SqliteGrants", "SqliteState"]

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

#: How long approval records are kept (sealed states expire well before: 10 minutes).
APPROVAL_RECORD_TTL_S = 86400.0
_PRUNE_ONE_IN = 200

_GRANT_INSERT = grant_insert("?")


class SqliteGrants:
    """Grants in ``team.sqlite3``."""

    def __init__(self, db: SQLiteFile) -> None:
        self._db = db

    def add(
        self,
        name: str,
        *,
        policy: str | None = None,
        member_public_key: str | None = None,
        member_private_key: str | None = None,
    ) -> tuple[Grant, str]:
        grant, key, row = new_grant(
            name,
            policy=policy,
            member_public_key=member_public_key,
            member_private_key=member_private_key,
        )
        try:
            self._db.conn().execute(_GRANT_INSERT, row)
        except sqlite3.IntegrityError:
            raise grant_exists(name) from None
        return grant, key

    def list(self) -> list[Grant]:
        rows = self._db.conn().execute(f"SELECT {GRANT_COLUMNS} FROM grants ORDER BY name")
        return [grant_from_row(r) for r in rows.fetchall()]

    def get(self, name: str) -> Grant | None:
        row = (
            self._db.conn()
            .execute(f"SELECT {GRANT_COLUMNS} FROM grants WHERE name = ?", (name,))
            .fetchone()
        )
        return grant_from_row(row) if row else None

    def revoke(self, name: str) -> bool:
        cur = self._db.conn().execute(
            "UPDATE grants SET revoked = ? WHERE name = ? AND revoked IS NULL",
            (time.time(), name),
        )
        return cur.rowcount > 0

    def delete(self, name: str) -> bool:
        """Remove a revoked or active grant entirely (so its name can be reused)."""
        return self._db.conn().execute("DELETE FROM grants WHERE name = ?", (name,)).rowcount > 0

    def authenticate(self, api_key: str) -> Grant | None:
        row = (
            self._db.conn()
            .execute(
                f"SELECT {GRANT_COLUMNS} FROM grants WHERE key_hash = ? AND revoked IS NULL",
                (hash_key(api_key),),
            )
            .fetchone()
        )
        return grant_from_row(row) if row else None


class SqliteApprovals:
    """Approval records: each answered approval may send its request once."""

    def __init__(self, db: SQLiteFile) -> None:
        self._db = db

    def claim(self, key: str, grant: str | None) -> bool:
        """Record that the approval ``key`` was used; True only the first time."""
        now = time.time()
        conn = self._db.conn()
        cur = conn.execute(
            "INSERT INTO approvals (key, grant_id, used) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO NOTHING",
            (key, grant, now),
        )
        if secrets.randbelow(_PRUNE_ONE_IN) == 0:
            conn.execute("DELETE FROM approvals WHERE used < ?", (now - APPROVAL_RECORD_TTL_S,))
        return cur.rowcount == 1


class SqliteState:
    """Every store of the gateway in SQLite files under ``root``."""

    kind = "sqlite"

    def __init__(self, root: Path) -> None:
        from cwm_gateway.state import StateError

        self.root = Path(root).expanduser()
        self.memory = FastMemory(self.root / "fast_memory.sqlite3")
        self.ratelimiter = SqliteRateLimiter(self.root / "ratelimits.sqlite3")
        self.audit = AuditLog(self.root / "audit.sqlite3")
        self._team = SQLiteFile(
            self.root / "team.sqlite3", _TEAM_MIGRATIONS, what="grants database", error=StateError
        )
        self.grants = SqliteGrants(self._team)
        self.approvals = SqliteApprovals(self._team)

    @property
    def description(self) -> str:
        return f"SQLite files in {self.root}"

    def shared_secret(self, name: str) -> bytes:
        """A random secret under ``name``, the same for every process on these files."""
        conn = self._team.conn()
        conn.execute(
            "INSERT INTO shared_secrets (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (name, secrets.token_bytes(32)),
        )
        return bytes(
            conn.execute("SELECT value FROM shared_secrets WHERE name = ?", (name,)).fetchone()[0]
        )

    def ping(self) -> None:
        """Raise when the state cannot be used (for /readyz)."""
        self._team.conn().execute("SELECT 1").fetchone()

    def close(self) -> None:
        for closable in (self.memory, self.ratelimiter, self.audit, self._team):
            closable.close()
