"""The audit trail: one row per tool call and per upstream request (SQLite, or PostgreSQL).

Each row says when, which correlation id, grant (the authenticated client; ``local`` over
stdio), ConnectWise member (public key), tool, operation, method and
concrete path, what the policy decided and by which rule, the upstream status, latency and
error. Request bodies are stored as ``sha256:<hex>`` unless the policy sets
``audit: {record_bodies: true}``; tool arguments that carry a body are treated the same way.

Everything written passes through :func:`scrub` first: values under keys that look secret
(authorization, password, secret, token, private key, API key, cookie...) are replaced with
``[REDACTED]``, and text is cleaned of ``Basic``/``Bearer`` credentials, ``key=value``
secrets, ``company+public:private`` key triples and PEM private keys. Known secret values
(the configured private key, the Authorization header) can be registered with
``AuditLog(secrets=...)`` and are removed wherever they appear.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cwm_gateway import identity
from cwm_gateway.errors import CWMError
from cwm_gateway.sqlite_file import SQLiteFile

__all__ = [
    "REDACTED",
    "AuditError",
    "AuditLog",
    "OutputScrubber",
    "Scrubber",
    "body_digest",
    "default_audit_path",
    "new_correlation_id",
    "render_table",
    "scrub",
]

REDACTED = "[REDACTED]"

# Keys whose values are secrets whatever they hold.
_SECRET_KEY = re.compile(
    r"authorization|password|passwd|passphrase|secret|token|private|api[-_]?key|apikey"
    r"|cookie|credential|signature|session[-_]?key",
    re.IGNORECASE,
)
# Keys whose values are request bodies: hashed unless bodies are recorded.
_BODY_KEYS = frozenset({"body", "data", "patch", "operations", "payload", "json"})

_TEXT_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
            re.DOTALL,
        ),
        REDACTED,
    ),
    # A credential after an auth scheme: it has a digit or symbol, or is long (so that
    # "basic information" in an error message survives).
    (
        re.compile(
            r"(?i)\b(basic|bearer|digest)\s+(?:(?=[\w+/=.~-]*[0-9+/=.~-])[\w+/=.~-]{8,}"
            r"|[\w+/=.~-]{20,})"
        ),
        r"\1 " + REDACTED,
    ),
    (
        re.compile(
            r"(?i)((?:authorization|password|passwd|passphrase|secret|token|private[-_ ]?key"
            r"|api[-_]?key|client[-_]?secret|access[-_]?key|cookie)[\w-]*"
            r"[\"']?\s*[:=]\s*[\"']?)([^\s\"'&,;}\]]+)"
        ),
        r"\1" + REDACTED,
    ),
    # ConnectWise credentials written out: company+publicKey:privateKey.
    (re.compile(r"\b[\w.-]+\+[A-Za-z0-9]{8,}:[A-Za-z0-9]{8,}\b"), REDACTED),
)


class AuditError(CWMError):
    """The audit log could not be written or read."""


def _usable_secrets(secrets: Iterable[str]) -> tuple[str, ...]:
    """Secrets worth scrubbing, longest first (so one that contains another goes whole);
    values shorter than 4 characters would shred ordinary text and are ignored."""
    found = {s for s in secrets if isinstance(s, str) and len(s) >= 4}
    return tuple(sorted(found, key=len, reverse=True))


def _secrets_pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    return re.compile("|".join(re.escape(s) for s in secrets)) if secrets else None


class Scrubber:
    """Removes secrets from values before they are stored or shown.

    ``secrets`` are exact strings (a configured private key, an Authorization header value)
    removed wherever they occur; values shorter than 4 characters are ignored so that
    scrubbing cannot shred ordinary text.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = _secrets_pattern(_usable_secrets(secrets))

    def text(self, value: str) -> str:
        """Scrub one string."""
        if self._secrets is not None:
            value = self._secrets.sub(REDACTED, value)
        for pattern, repl in _TEXT_PATTERNS:
            value = pattern.sub(repl, value)
        return value

    def value(self, value: Any, _depth: int = 0) -> Any:
        """Scrub a JSON-like value: dicts, lists and strings, recursively."""
        if _depth > 50:
            return REDACTED
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bytes):
            return self.text(value.decode("utf-8", "replace"))
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            for k, v in value.items():
                key = str(k)
                if _SECRET_KEY.search(key) and v is not None and not isinstance(v, bool):
                    out[key] = REDACTED
                else:
                    out[key] = self.value(v, _depth + 1)
            return out
        if isinstance(value, list | tuple | set | frozenset):
            return [self.value(v, _depth + 1) for v in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        return self.text(str(value))


class OutputScrubber:
    """Removes exactly the configured secrets from what is returned to a client.

    Unlike :class:`Scrubber` (for the audit log) it leaves field names and secret-looking text
    alone: tool output is ConnectWise's data, and only the gateway's own credentials must never
    appear in it (an upstream may echo request headers back).
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        self._plain = _usable_secrets(secrets)
        self._bytes = tuple(s.encode() for s in self._plain)
        self._re = _secrets_pattern(self._plain)

    def value(self, value: Any, raw: bytes | str | None = None) -> Any:
        """``value`` with every secret replaced; ``raw`` (its serialized form) skips clean data."""
        if self._re is None:
            return value
        if isinstance(raw, bytes) and not any(s in raw for s in self._bytes):
            return value
        if isinstance(raw, str) and not any(s in raw for s in self._plain):
            return value
        return self._walk(value, 0)

    def _walk(self, value: Any, depth: int) -> Any:
        if isinstance(value, str):
            return self._re.sub(REDACTED, value) if self._re is not None else value
        if depth > 100:
            return REDACTED
        if isinstance(value, Mapping):
            return {
                self._walk(str(k), depth + 1): self._walk(v, depth + 1) for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self._walk(v, depth + 1) for v in value]
        return value


_DEFAULT_SCRUBBER = Scrubber()


def scrub(value: Any) -> Any:
    """Scrub a value with the built-in patterns (see :class:`Scrubber` for known secrets)."""
    return _DEFAULT_SCRUBBER.value(value)


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def body_digest(body: Any) -> str:
    """``sha256:<hex>`` of the body's canonical JSON (what the audit log stores by default)."""
    if isinstance(body, bytes):
        raw = body
    elif isinstance(body, str):
        raw = body.encode("utf-8")
    else:
        raw = _dumps(body).encode("utf-8")
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def new_correlation_id() -> str:
    """A fresh id tying a tool call to the upstream requests it made."""
    return uuid.uuid4().hex


def default_audit_path() -> Path:
    """``<data dir>/audit.sqlite3`` (see :func:`cwm_gateway.memory.data_dir`)."""
    from cwm_gateway.memory import data_dir

    return data_dir() / "audit.sqlite3"


MIGRATIONS = (
    """
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    kind TEXT NOT NULL,
    correlation_id TEXT,
    grant_id TEXT,
    tool TEXT,
    operation_id TEXT,
    method TEXT,
    path TEXT,
    decision TEXT,
    rule TEXT,
    reason TEXT,
    status INTEGER,
    latency_ms REAL,
    error TEXT,
    params TEXT,
    arguments TEXT,
    body TEXT
);
CREATE INDEX IF NOT EXISTS audit_log_time ON audit_log (time);
CREATE INDEX IF NOT EXISTS audit_log_correlation ON audit_log (correlation_id);
""",
    # The ConnectWise API member (public key) a call went out as, per grant.
    "ALTER TABLE audit_log ADD COLUMN member TEXT;",
)

_COLUMNS = (
    "id",
    "time",
    "kind",
    "correlation_id",
    "grant_id",
    "member",
    "tool",
    "operation_id",
    "method",
    "path",
    "decision",
    "rule",
    "reason",
    "status",
    "latency_ms",
    "error",
    "params",
    "arguments",
    "body",
)
_NO_BODY = object()


class AuditLog:
    """Append-only audit trail; this class keeps it in a SQLite file.

    Scrubbing and row building live here once; storage is three small methods that
    :class:`cwm_gateway.state.postgres.PostgresAuditLog` overrides for a team's shared log.
    ``path`` None means :func:`default_audit_path`. ``record_bodies`` is the default for
    :meth:`record` (the policy engine passes the policy's setting on every call). ``secrets``
    are exact strings scrubbed wherever they appear.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        record_bodies: bool = False,
        secrets: Iterable[str] = (),
    ) -> None:
        self.path = Path(path).expanduser() if path is not None else default_audit_path()
        self.record_bodies = record_bodies
        self.scrubber = Scrubber(secrets)
        self.observers: list[Callable[[dict[str, Any]], None]] = []
        """Called with each written row's outcome fields (metrics are fed this way)."""
        self._db = SQLiteFile(self.path, MIGRATIONS, what="audit log", error=AuditError)

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r})"

    # -- storage (overridden by other backends) --------------------------------------------

    def _insert(self, row: Sequence[Any]) -> int:
        """Store one row (values for ``_COLUMNS[1:]``); return its id."""
        try:
            cur = self._db.conn().execute(
                f"INSERT INTO audit_log ({', '.join(_COLUMNS[1:])}) "
                f"VALUES ({', '.join('?' * (len(_COLUMNS) - 1))})",
                row,
            )
        except sqlite3.Error as exc:
            raise AuditError(f"Could not write the audit log {self.path}: {exc}.") from exc
        return int(cur.lastrowid or 0)

    def _delete_before(self, cutoff: float) -> int:
        try:
            cursor = self._db.conn().execute("DELETE FROM audit_log WHERE time < ?", (cutoff,))
        except sqlite3.Error as exc:
            raise AuditError(f"Could not prune the audit log {self.path}: {exc}.") from exc
        return cursor.rowcount

    def _select(self, where: Sequence[tuple[str, Any]], n: int) -> list[Sequence[Any]]:
        """The newest ``n`` rows matching every ``(column, value)``, newest first."""
        sql = f"SELECT {', '.join(_COLUMNS)} FROM audit_log"
        if where:
            sql += " WHERE " + " AND ".join(f"{column} = ?" for column, _ in where)
        sql += " ORDER BY time DESC, id DESC LIMIT ?"
        try:
            return self._db.conn().execute(sql, [v for _, v in where] + [n]).fetchall()
        except sqlite3.Error as exc:
            raise AuditError(f"Could not read the audit log {self.path}: {exc}.") from exc

    def close(self) -> None:
        """Close every connection this log opened."""
        self._db.close()

    def record(
        self,
        *,
        tool: str | None,
        kind: str = "tool_call",
        correlation_id: str | None = None,
        grant: str | None = None,
        member: str | None = None,
        operation_id: str | None = None,
        method: str | None = None,
        path: str | None = None,
        decision: str | None = None,
        rule: str | None = None,
        reason: str | None = None,
        status: int | None = None,
        latency_ms: float | None = None,
        error: str | BaseException | None = None,
        params: Mapping[str, Any] | None = None,
        arguments: Mapping[str, Any] | None = None,
        body: Any = _NO_BODY,
        record_bodies: bool | None = None,
        at: float | None = None,
    ) -> int:
        """Write one row (scrubbed) and return its id.

        ``kind`` is ``tool_call`` or ``upstream_request``. ``body`` is hashed unless
        ``record_bodies`` (default: the log's setting) is true; omit it when there is none.
        ``member`` (the ConnectWise member's public key) defaults to the current identity's
        (:func:`cwm_gateway.identity.current`), the key the call goes out with.
        """
        if member is None:
            member = identity.current().member_public_key
        keep_bodies = self.record_bodies if record_bodies is None else record_bodies
        s = self.scrubber
        body_text: str | None = None
        if body is not _NO_BODY and body is not None:
            body_text = _dumps(s.value(body)) if keep_bodies else body_digest(s.value(body))
        args_text = None
        if arguments is not None:
            args = s.value(dict(arguments))
            if not keep_bodies:
                args = {
                    k: (body_digest(v) if k.lower() in _BODY_KEYS and v is not None else v)
                    for k, v in args.items()
                }
            args_text = _dumps(args)
        if isinstance(error, BaseException):
            error = f"{type(error).__name__}: {error}"
        row = (
            time.time() if at is None else at,
            kind,
            correlation_id,
            grant,
            member,
            tool,
            operation_id,
            method,
            s.text(path) if path else path,
            decision,
            rule,
            s.text(reason) if reason else reason,
            status,
            latency_ms,
            s.text(error) if error else None,
            _dumps(s.value(dict(params))) if params is not None else None,
            args_text,
            body_text,
        )
        row_id = self._insert(row)
        if self.observers:
            outcome = {
                "kind": kind,
                "tool": tool,
                "decision": decision,
                "status": status,
                "latency_ms": latency_ms,
                "error": bool(error),
            }
            for observe in self.observers:
                observe(outcome)
        return row_id

    def prune(self, older_than_days: float, *, now: float | None = None) -> int:
        """Delete entries older than ``older_than_days``; return how many were deleted.

        Retention is the operator's choice (compliance may demand years), so nothing is pruned
        unless asked: ``cwm-gateway audit --prune-days N``.
        """
        if isinstance(older_than_days, bool) or not isinstance(older_than_days, int | float):
            raise AuditError(f"older_than_days must be a number, got {older_than_days!r}.")
        if older_than_days <= 0:
            raise AuditError("older_than_days must be above 0 (0 would delete everything).")
        return self._delete_before((time.time() if now is None else now) - older_than_days * 86400)

    def recent(
        self, n: int = 20, *, correlation_id: str | None = None, grant: str | None = None
    ) -> list[dict[str, Any]]:
        """The newest ``n`` rows, newest first, as dicts (``grant`` for the grant id)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise AuditError(f"n must be a positive integer, got {n!r}.")
        where: list[tuple[str, Any]] = []
        if correlation_id is not None:
            where.append(("correlation_id", correlation_id))
        if grant is not None:
            where.append(("grant_id", grant))
        rows = self._select(where, n)
        out = []
        for r in rows:
            d: dict[str, Any] = dict(zip(_COLUMNS, r, strict=True))
            d["grant"] = d.pop("grant_id")
            for key in ("params", "arguments"):
                if d[key] is not None:
                    d[key] = json.loads(d[key])
            out.append(d)
        return out


_TABLE_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("time", "TIME (UTC)", 19),
    ("grant", "GRANT", 12),
    ("member", "MEMBER", 12),
    ("tool", "TOOL", 22),
    ("decision", "DECISION", 16),
    ("rule", "RULE", 24),
    ("method", "METHOD", 6),
    ("path", "PATH", 40),
    ("status", "STATUS", 6),
    ("latency_ms", "MS", 8),
    ("error", "ERROR", 40),
)


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key == "time":
        return datetime.fromtimestamp(float(value), UTC).strftime("%Y-%m-%d %H:%M:%S")
    if key == "latency_ms":
        return f"{float(value):.1f}"
    return str(value).replace("\n", " ")


def render_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A plain-text table of audit rows (as returned by :meth:`AuditLog.recent`)."""
    if not rows:
        return "No audit entries."
    cells = [[_cell(k, row.get(k)) for k, _, _ in _TABLE_COLUMNS] for row in rows]
    widths = []
    for i, (_, title, cap) in enumerate(_TABLE_COLUMNS):
        widest = max([len(title)] + [len(c[i]) for c in cells])
        widths.append(min(widest, cap))

    def fit(text: str, width: int) -> str:
        return text if len(text) <= width else text[: width - 1] + "…"

    lines = ["  ".join(t.ljust(w) for (_, t, _), w in zip(_TABLE_COLUMNS, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for c in cells:
        lines.append("  ".join(fit(v, w).ljust(w) for v, w in zip(c, widths, strict=True)).rstrip())
    return "\n".join(lines)
