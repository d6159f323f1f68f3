"""The sandbox's request log: what reached the server, for tests and ``/__sandbox/requests``.

Each entry is method, path, query, status (0 for a dropped connection) and the operation id
that served it (read from the ``X-Sandbox-Operation`` response header).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from typing import Any


class RequestLog:
    """A bounded, thread-safe list of request entries."""

    def __init__(self, limit: int = 10_000) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=limit)
        self._lock = threading.Lock()

    def start(self, scope: Mapping[str, Any]) -> dict[str, Any]:
        """Record a request as it arrives; the caller fills ``status`` and ``operation_id``."""
        entry = {
            "method": scope["method"],
            "path": scope["path"],
            "query": scope.get("query_string", b"").decode("latin-1"),
            "status": None,
            "operation_id": None,
        }
        with self._lock:
            self._entries.append(entry)
        return entry

    def entries(self) -> list[dict[str, Any]]:
        """Copies of the entries, oldest first."""
        with self._lock:
            return [dict(entry) for entry in self._entries]

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
