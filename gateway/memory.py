"""Fast Memory: a small store of API queries worth repeating (SQLite here, PostgreSQL for teams).

An agent that found the right call for a question (path, method, parameters) saves it with a
description; later it searches the store instead of rediscovering the call. Each save of the
same ``method + path + params`` updates the one row instead of adding a duplicate, and
:meth:`FastMemory.record_use` keeps a usage count so the most useful queries list first.

The database lives at ``<data dir>/fast_memory.sqlite3``. The data directory is
``$CWM_GATEWAY_DATA_DIR`` when set, else the per-user data directory from platformdirs
(e.g. ``~/.local/share/cwm-gateway`` on Linux).

Every method opens its own connection, so one :class:`FastMemory` can be shared by threads and
by asyncio tasks (call it through ``asyncio.to_thread`` to keep the loop free; each call is a
few hundred microseconds). The database runs in WAL mode so readers never wait for writers.
Entries belong to a grant (see :class:`FastMemory`); a team's gateways share one PostgreSQL
store through ``CWM_GATEWAY_STATE_URL`` (:mod:`cwm_gateway.state`).
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field

from cwm_gateway import identity
from cwm_gateway.errors import CWMError
from cwm_gateway.sqlite_file import SQLiteFile

__all__ = [
    "DATA_DIR_ENV",
    "METHODS",
    "MIGRATIONS",
    "SHARED",
    "FastMemory",
    "FastMemoryError",
    "MemoryError_",
    "SavedQuery",
    "data_dir",
    "default_memory_path",
]

#: Environment variable that overrides the gateway's data directory.
DATA_DIR_ENV = "CWM_GATEWAY_DATA_DIR"
#: HTTP methods a saved query may use.
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_APP_NAME = "cwm-gateway"
_DB_NAME = "fast_memory.sqlite3"
# How long a connection waits for another writer before giving up.
_BUSY_TIMEOUT_S = 30.0


class FastMemoryError(CWMError):
    """A Fast Memory call got bad input or the store could not be used."""


#: Alias kept for callers that expect the ``MemoryError_`` name (``MemoryError`` is a builtin).
MemoryError_ = FastMemoryError


def data_dir() -> Path:
    """The gateway's data directory: ``$CWM_GATEWAY_DATA_DIR`` or the per-user data dir."""
    override = os.environ.get(DATA_DIR_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir(_APP_NAME, appauthor=False))


def default_memory_path() -> Path:
    """Where Fast Memory keeps its database unless told otherwise."""
    return data_dir() / _DB_NAME


class SavedQuery(BaseModel):
    """One saved query, as stored and as the tools return it (one model for both)."""

    model_config = ConfigDict(frozen=True)

    id: int
    description: str
    path: str
    method: str
    params: dict[str, Any] | None = None
    data: Any = None
    timestamp: float = Field(exclude=True)
    """When the query was last saved or used (seconds since the epoch, UTC)."""
    usage_count: int
    shared: bool = False
    """True for an entry in the shared space (every grant sees it)."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def last_used(self) -> str:
        """``timestamp`` as an ISO 8601 UTC string."""
        return datetime.fromtimestamp(self.timestamp, UTC).isoformat(timespec="seconds")


# Versioned migrations (see SQLiteFile); the PostgreSQL backend has its own in cwm_gateway.state.
MIGRATIONS = (
    """
CREATE TABLE IF NOT EXISTS saved_queries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    description TEXT NOT NULL,
    path TEXT NOT NULL,
    method TEXT NOT NULL,
    params TEXT,
    data TEXT,
    timestamp REAL NOT NULL,
    usage_count INTEGER NOT NULL DEFAULT 0,
    params_key TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS saved_queries_identity
    ON saved_queries (method, path, params_key);
CREATE INDEX IF NOT EXISTS saved_queries_rank
    ON saved_queries (usage_count DESC, timestamp DESC);
""",
    # Per-grant entries: '' is the shared space (entries saved before grants existed land there,
    # so an upgrade hides nothing).
    """
ALTER TABLE saved_queries ADD COLUMN grant_id TEXT NOT NULL DEFAULT '';
DROP INDEX IF EXISTS saved_queries_identity;
CREATE UNIQUE INDEX saved_queries_identity ON saved_queries (grant_id, method, path, params_key);
""",
)

#: The grant id of the shared space: entries every grant sees.
SHARED = ""

_COLUMNS = "id, description, path, method, params, data, timestamp, usage_count, grant_id"
# What a grant sees: its own entries and the shared ones.
_VISIBLE = "(grant_id = ? OR grant_id = '')"
# Own entries rank before shared ones with the same method, path and params.
_OWN_FIRST = "(grant_id = '') ASC"


class FastMemory:
    """A Fast Memory store; this class keeps it in one SQLite file.

    ``path`` is the database file (created with its directory on first use); None means
    :func:`default_memory_path`. ``":memory:"`` is not supported because every thread opens its
    own connection; use a temporary file instead.

    Entries belong to a grant (:func:`cwm_gateway.identity.current`, ``local`` over stdio) or
    to the shared space (``save(..., shared=True)``). A grant lists, finds, uses and deletes its
    own entries and the shared ones; :meth:`clear` removes only its own. The SQL is written
    once here with ``?`` placeholders; :class:`cwm_gateway.state.postgres.PostgresFastMemory`
    runs the same statements on PostgreSQL.
    """

    #: SQL for "``needle`` occurs in ``haystack``" (instr in SQLite, strpos in PostgreSQL).
    _CONTAINS = "instr(lower({haystack}), ?) > 0"

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        if path is not None and str(path) == ":memory:":
            raise FastMemoryError(
                "Fast Memory needs a file path, not ':memory:' (each thread opens its own "
                "connection); pass a temporary file path instead."
            )
        self.path = Path(path).expanduser() if path is not None else default_memory_path()
        self._db = SQLiteFile(
            self.path,
            MIGRATIONS,
            what="Fast Memory database",
            error=FastMemoryError,
            busy_timeout_s=_BUSY_TIMEOUT_S,
        )

    def __repr__(self) -> str:
        return f"FastMemory({str(self.path)!r})"

    # -- storage (overridden by other backends) --------------------------------------------

    def _run(self, what: str, sql: str, args: Sequence[Any], fetch: str) -> Any:
        """Run one statement: ``fetch`` is ``one`` (a row or None), ``all`` or ``count``."""
        conn = self._db.conn()
        try:
            cur = conn.execute(sql, args)
            if fetch == "one":
                return cur.fetchone()
            if fetch == "all":
                return cur.fetchall()
            return cur.rowcount
        except sqlite3.Error as exc:
            raise FastMemoryError(f"Could not {what} in Fast Memory ({self.path}): {exc}.") from exc
        finally:
            if conn.in_transaction:  # an error left a transaction open: undo it
                conn.rollback()

    def close(self) -> None:
        """Close every connection this store opened."""
        self._db.close()

    # -- public API ----------------------------------------------------------------------

    @staticmethod
    def _grant() -> str:
        return identity.current().grant

    def save(
        self,
        path: str,
        method: str,
        description: str,
        params: dict[str, Any] | None = None,
        data: Any = None,
        *,
        shared: bool = False,
    ) -> SavedQuery:
        """Save a query, or update the saved one with the same method, path and params.

        The entry belongs to the current grant, or to the shared space with ``shared=True``.
        An update replaces description and data and refreshes the timestamp; the usage count
        is kept.
        """
        path = _check_path(path)
        method = _check_method(method)
        description = _check_description(description)
        params_text, params_key = _params_json(params)
        data_text = _to_json(data, "data") if data is not None else None
        owner = SHARED if shared else self._grant()
        row = self._run(
            "save the query",
            f"""
            INSERT INTO saved_queries
                (description, path, method, params, data, timestamp, usage_count,
                 params_key, grant_id)
            VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)
            ON CONFLICT (grant_id, method, path, params_key) DO UPDATE SET
                description = excluded.description,
                data = excluded.data,
                params = excluded.params,
                timestamp = excluded.timestamp
            RETURNING {_COLUMNS}
            """,
            (description, path, method, params_text, data_text, time.time(), params_key, owner),
            "one",
        )
        return _row_to_query(row)

    def list(self, search_term: str | None = None, limit: int | None = None) -> list[SavedQuery]:
        """Saved queries the grant sees, most used first, then most recently used.

        ``search_term`` keeps only queries whose description or path contains it
        (case-insensitive). ``limit`` caps the number returned.
        """
        sql = f"SELECT {_COLUMNS} FROM saved_queries WHERE {_VISIBLE}"
        args: list[Any] = [self._grant()]
        if search_term is not None and search_term.strip():
            # A substring test instead of LIKE: no wildcard escaping to get wrong.
            sql += (
                f" AND ({self._CONTAINS.format(haystack='description')}"
                f" OR {self._CONTAINS.format(haystack='path')})"
            )
            term = search_term.strip().lower()
            args += [term, term]
        sql += " ORDER BY usage_count DESC, timestamp DESC, id DESC"
        if limit is not None:
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
                raise FastMemoryError(f"limit must be a positive integer, got {limit!r}.")
            sql += " LIMIT ?"
            args.append(limit)
        rows = self._run("list saved queries", sql, args, "all")
        return [_row_to_query(r) for r in rows]

    def get(self, query_id: int) -> SavedQuery | None:
        """The saved query with this id (if the grant sees it), or None."""
        query_id = _check_id(query_id)
        row = self._run(
            "read the saved query",
            f"SELECT {_COLUMNS} FROM saved_queries WHERE id = ? AND {_VISIBLE}",
            (query_id, self._grant()),
            "one",
        )
        return _row_to_query(row) if row else None

    def delete(self, query_id: int) -> bool:
        """Delete a saved query the grant sees (its own or a shared one); True if it existed."""
        query_id = _check_id(query_id)
        count = self._run(
            "delete the saved query",
            f"DELETE FROM saved_queries WHERE id = ? AND {_VISIBLE}",
            (query_id, self._grant()),
            "count",
        )
        return count > 0

    def clear(self) -> int:
        """Delete every saved query of the grant (shared ones stay); returns how many."""
        return self._run(
            "clear Fast Memory",
            "DELETE FROM saved_queries WHERE grant_id = ?",
            (self._grant(),),
            "count",
        )

    def record_use(self, query_id: int) -> SavedQuery | None:
        """Count one use of a saved query and mark it used now; None if it does not exist."""
        query_id = _check_id(query_id)
        # One UPDATE statement: the increment is atomic even with many callers.
        row = self._run(
            "record the use",
            f"UPDATE saved_queries SET usage_count = usage_count + 1, timestamp = ? "
            f"WHERE id = ? AND {_VISIBLE} RETURNING {_COLUMNS}",
            (time.time(), query_id, self._grant()),
            "one",
        )
        return _row_to_query(row) if row else None

    def find(
        self, path: str, method: str, params: dict[str, Any] | None = None
    ) -> SavedQuery | None:
        """The saved query with exactly this method, path and params (own before shared)."""
        path = _check_path(path)
        method = _check_method(method)
        _, params_key = _params_json(params)
        row = self._run(
            "look up the saved query",
            f"SELECT {_COLUMNS} FROM saved_queries "
            f"WHERE method = ? AND path = ? AND params_key = ? AND {_VISIBLE} "
            f"ORDER BY {_OWN_FIRST} LIMIT 1",
            (method, path, params_key, self._grant()),
            "one",
        )
        return _row_to_query(row) if row else None

    def saved_params_for(self, method: str, path: str) -> dict[str, Any] | None:
        """The params of the most used saved query for this method and path, or None."""
        path = _check_path(path)
        method = _check_method(method)
        row = self._run(
            "look up saved params",
            f"SELECT params FROM saved_queries WHERE method = ? AND path = ? AND {_VISIBLE} "
            f"ORDER BY {_OWN_FIRST}, usage_count DESC, timestamp DESC, id DESC LIMIT 1",
            (method, path, self._grant()),
            "one",
        )
        if row is None or row[0] is None:
            return None
        return json.loads(row[0])


# -- validation helpers ------------------------------------------------------------------


def _check_method(method: Any) -> str:
    if not isinstance(method, str) or method.strip().upper() not in METHODS:
        raise FastMemoryError(f"method must be one of {', '.join(METHODS)}; got {method!r}.")
    return method.strip().upper()


def _check_path(path: Any) -> str:
    if not isinstance(path, str) or not path.strip():
        raise FastMemoryError(
            f"path must be a non-empty API path such as '/service/tickets'; got {path!r}."
        )
    path = path.strip()
    if "://" in path:
        raise FastMemoryError(
            f"path must be relative to the API base (e.g. '/service/tickets'), not a URL: {path!r}."
        )
    if not path.startswith("/"):
        path = "/" + path
    # A trailing slash names the same resource; keeping one form avoids near-duplicates.
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    return path


def _check_description(description: Any) -> str:
    if not isinstance(description, str) or not description.strip():
        raise FastMemoryError(
            "description must be non-empty text saying what the query answers, e.g. "
            "'Open tickets for a company'."
        )
    return description.strip()


def _check_id(query_id: Any) -> int:
    if isinstance(query_id, bool) or not isinstance(query_id, int):
        raise FastMemoryError(f"id must be an integer, got {query_id!r}.")
    return query_id


def _to_json(value: Any, name: str) -> str:
    try:
        # allow_nan=False: NaN/Infinity are not JSON and would not round-trip to clients.
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise FastMemoryError(
            f"{name} must be JSON-serializable (objects, arrays, strings, finite numbers, "
            f"booleans, null): {exc}."
        ) from exc


def _params_json(params: Any) -> tuple[str | None, str]:
    """The stored params text and the identity key (None and {} are the same query)."""
    if params is None:
        return None, "{}"
    if not isinstance(params, dict):
        raise FastMemoryError(
            f"params must be an object of query parameters, e.g. {{'pageSize': 25}}; got "
            f"{type(params).__name__}."
        )
    for key in params:
        if not isinstance(key, str):
            raise FastMemoryError(f"params keys must be strings; got {key!r}.")
    text = _to_json(params, "params")
    return text, text


def _row_to_query(row: Sequence[Any]) -> SavedQuery:
    qid, description, path, method, params, data, ts, count, grant = row
    return SavedQuery(
        id=qid,
        description=description,
        path=path,
        method=method,
        params=json.loads(params) if params is not None else None,
        data=json.loads(data) if data is not None else None,
        timestamp=float(ts) if ts is not None and math.isfinite(ts) else 0.0,
        usage_count=int(count),
        shared=grant == SHARED,
    )
