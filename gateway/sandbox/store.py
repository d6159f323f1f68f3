"""SQLite document store for sandbox resources.

Each record is a JSON document keyed by its collection (the normalized path template of the
list endpoint, params written ``{}``, e.g. ``/service/tickets/{}/notes``), its parent key
(the values of the collection's path parameters joined by ``/``; empty at the top level) and
its integer id. Ids come from one sequence per collection, as in ConnectWise where a table has
one identity column. Parsed documents are cached per (collection, parent); callers must copy a
document before changing it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    collection TEXT NOT NULL,
    parent TEXT NOT NULL,
    id INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (collection, parent, id)
);
CREATE TABLE IF NOT EXISTS seqs (collection TEXT PRIMARY KEY, next_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS filled (
    collection TEXT NOT NULL,
    parent TEXT NOT NULL,
    PRIMARY KEY (collection, parent)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    record_type TEXT NOT NULL,
    record_id INTEGER NOT NULL,
    media_type TEXT NOT NULL,
    data BLOB NOT NULL
);
"""


def item_key(parent: str, id_: int | str) -> str:
    """The parent key that the children of item ``id_`` (in a collection at ``parent``) use."""
    return f"{parent}/{id_}" if parent else str(id_)


class Store:
    """Thread-safe JSON document store on SQLite (a file path, or in memory when ``None``)."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path or ":memory:"
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._cache: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}

    def close(self) -> None:
        """Close the database; the store cannot be used afterwards."""
        with self._lock:
            self._db.close()
            self._cache.clear()

    # --- metadata -------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        """A value stored with :meth:`set_meta`."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Remember a small value (e.g. which seed the data came from)."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def is_filled(self, collection: str, parent: str) -> bool:
        """Whether the collection at ``parent`` was already given its initial records."""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM filled WHERE collection=? AND parent=?", (collection, parent)
            ).fetchone()
        return row is not None

    def mark_filled(self, collection: str, parent: str) -> None:
        """Record that the collection at ``parent`` has its initial records."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO filled(collection, parent) VALUES (?, ?)",
                (collection, parent),
            )

    def fill_once(
        self, collection: str, parent: str, make: Callable[[], list[dict[str, Any]]]
    ) -> None:
        """Insert ``make()``'s documents unless the collection at ``parent`` was filled before.

        ``make`` may reserve ids with :meth:`next_id`; it runs under the store lock, so two
        concurrent first requests fill a collection once.
        """
        with self._lock:
            if self.is_filled(collection, parent):
                return
            docs = make()
            self.bulk_insert([(collection, parent, doc) for doc in docs])
            self.mark_filled(collection, parent)

    # --- reads -----------------------------------------------------------------------------

    def _load(self, collection: str, parent: str) -> dict[int, dict[str, Any]]:
        key = (collection, parent)
        docs = self._cache.get(key)
        if docs is None:
            rows = self._db.execute(
                "SELECT id, body FROM docs WHERE collection=? AND parent=? ORDER BY id",
                (collection, parent),
            ).fetchall()
            docs = {row[0]: json.loads(row[1]) for row in rows}
            self._cache[key] = docs
        return docs

    def documents(self, collection: str, parent: str = "") -> list[dict[str, Any]]:
        """All documents of a collection, in id order (shared: copy before changing)."""
        with self._lock:
            return list(self._load(collection, parent).values())

    def get(self, collection: str, parent: str, id_: int) -> dict[str, Any] | None:
        """One document, or None (shared: copy before changing)."""
        with self._lock:
            return self._load(collection, parent).get(id_)

    def any_item(self, collection: str) -> tuple[str, int] | None:
        """(parent key, id) of some document in the collection under any parent, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT parent, id FROM docs WHERE collection=? ORDER BY parent, id LIMIT 1",
                (collection,),
            ).fetchone()
        return (row[0], row[1]) if row else None

    # --- writes ----------------------------------------------------------------------------

    def next_id(self, collection: str) -> int:
        """Reserve the next id of a collection."""
        with self._lock:
            row = self._db.execute(
                "SELECT next_id FROM seqs WHERE collection=?", (collection,)
            ).fetchone()
            value = row[0] if row else 1
            self._db.execute(
                "INSERT OR REPLACE INTO seqs(collection, next_id) VALUES (?, ?)",
                (collection, value + 1),
            )
            return value

    def insert(self, collection: str, parent: str, doc: dict[str, Any]) -> dict[str, Any]:
        """Store a new document; assigns ``id`` unless the document carries one."""
        with self._lock:
            if not isinstance(doc.get("id"), int):
                doc["id"] = self.next_id(collection)
            else:
                self._bump_seq(collection, doc["id"])
            self._write(collection, parent, doc)
            return doc

    def put(self, collection: str, parent: str, doc: dict[str, Any]) -> dict[str, Any]:
        """Replace (or create) the document with ``doc['id']``."""
        with self._lock:
            self._write(collection, parent, doc)
            return doc

    def delete(self, collection: str, parent: str, id_: int) -> bool:
        """Delete a document and every document nested under it. False if it did not exist."""
        with self._lock:
            if id_ not in self._load(collection, parent):
                return False
            child_parent = item_key(parent, id_)
            prefix = collection + "/{}/"
            self._db.execute("BEGIN")
            try:
                self._db.execute(
                    "DELETE FROM docs WHERE collection=? AND parent=? AND id=?",
                    (collection, parent, id_),
                )
                # Children: collections nested under this item's template, whose parent key
                # starts with this item's key.
                like_coll = _like_prefix(prefix)
                like_parent = _like_prefix(child_parent + "/")
                self._db.execute(
                    "DELETE FROM docs WHERE collection LIKE ? ESCAPE '\\' "
                    "AND (parent=? OR parent LIKE ? ESCAPE '\\')",
                    (like_coll, child_parent, like_parent),
                )
                self._db.execute(
                    "DELETE FROM filled WHERE collection LIKE ? ESCAPE '\\' "
                    "AND (parent=? OR parent LIKE ? ESCAPE '\\')",
                    (like_coll, child_parent, like_parent),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._cache.pop((collection, parent), None)
            for key in [k for k in self._cache if k[0].startswith(prefix)]:
                self._cache.pop(key, None)
            return True

    def bulk_insert(self, items: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Insert many documents that already carry ids, in one transaction (for seeding)."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                top: dict[str, int] = {}
                for collection, parent, doc in items:
                    self._db.execute(
                        "INSERT OR REPLACE INTO docs(collection, parent, id, body) "
                        "VALUES (?, ?, ?, ?)",
                        (collection, parent, doc["id"], _dumps(doc)),
                    )
                    top[collection] = max(top.get(collection, 0), doc["id"])
                for collection, last in top.items():
                    self._bump_seq(collection, last)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            for collection, parent, _ in items:
                self._cache.pop((collection, parent), None)

    def _bump_seq(self, collection: str, used: int) -> None:
        row = self._db.execute(
            "SELECT next_id FROM seqs WHERE collection=?", (collection,)
        ).fetchone()
        if row is None or row[0] <= used:
            self._db.execute(
                "INSERT OR REPLACE INTO seqs(collection, next_id) VALUES (?, ?)",
                (collection, used + 1),
            )

    def _write(self, collection: str, parent: str, doc: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO docs(collection, parent, id, body) VALUES (?, ?, ?, ?)",
            (collection, parent, doc["id"], _dumps(doc)),
        )
        docs = self._load(collection, parent)
        docs[doc["id"]] = doc
        if list(docs)[-1] != doc["id"]:
            # Keep id order for list reads after an insert with an explicit lower id.
            self._cache[(collection, parent)] = dict(sorted(docs.items()))

    # --- files (document bytes) ------------------------------------------------------------

    def put_file(
        self, id_: int, record_type: str, record_id: int, media_type: str, data: bytes
    ) -> None:
        """Keep the bytes of document ``id_`` and the record it is attached to."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO files(id, record_type, record_id, media_type, data) "
                "VALUES (?, ?, ?, ?, ?)",
                (id_, record_type, record_id, media_type, data),
            )

    def get_file(self, id_: int) -> tuple[str, bytes] | None:
        """(media type, bytes) of document ``id_``, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT media_type, data FROM files WHERE id=?", (id_,)
            ).fetchone()
        return (row[0], bytes(row[1])) if row else None

    def file_ids(self, record_type: str | None, record_id: int | None) -> list[int]:
        """Ids of the documents attached to a record type and/or record id."""
        sql, args = "SELECT id FROM files WHERE 1=1", []
        if record_type is not None:
            sql += " AND lower(record_type)=lower(?)"
            args.append(record_type)
        if record_id is not None:
            sql += " AND record_id=?"
            args.append(record_id)
        with self._lock:
            return [row[0] for row in self._db.execute(sql + " ORDER BY id", args)]

    def delete_file(self, id_: int) -> None:
        """Forget the bytes of document ``id_``."""
        with self._lock:
            self._db.execute("DELETE FROM files WHERE id=?", (id_,))


def _dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"
