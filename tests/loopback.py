"""A minimal real HTTP server on 127.0.0.1 for tests: scripted replies and a request log.

uvicorn serves a Starlette app from a background thread on a free port. Tests script what each
``(method, path)`` answers — a queue of :class:`Reply` (the last one repeats) or a function of
the request — and read back every request it received, headers and body included::

    with LoopbackServer() as server:
        server.script("GET", "/apis/3.0/service/tickets", Reply(503), Reply(json=[{"id": 1}]))
        ...  # talk to server.url
        assert [r.path for r in server.requests] == [...]

Unscripted routes answer 599 with a JSON message naming the route, so a test that forgot to
script one fails with a clear reason. Only loopback is ever bound.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_UNSET: Any = object()
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    status: int = 200
    json: Any = _UNSET
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds to wait before answering (for timeout tests)."""

    def render(self) -> Response:
        headers = dict(self.headers)
        if self.json is not _UNSET:
            content: bytes | str = jsonlib.dumps(self.json)
            headers.setdefault("content-type", "application/json; charset=utf-8")
        else:
            content = self.body
        return Response(content=content, status_code=self.status, headers=headers)


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the server received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    """Lower-cased names."""
    body: bytes

    @property
    def params(self) -> dict[str, str]:
        """Query parameters (last value wins)."""
        return {k: v[-1] for k, v in parse_qs(self.query, keep_blank_values=True).items()}

    def json(self) -> Any:
        return jsonlib.loads(self.body) if self.body else None


Handler = Callable[[LoggedRequest], Reply]


class LoopbackServer:
    """uvicorn + Starlette on ``127.0.0.1:<free port>`` in a daemon thread."""

    def __init__(self) -> None:
        self.requests: list[LoggedRequest] = []
        self._routes: dict[tuple[str, str], deque[Reply] | Handler] = {}
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- scripting --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        return f"http://127.0.0.1:{self.port}"

    def script(self, method: str, path: str, *replies: Reply) -> None:
        """Answer ``method path`` with ``replies`` in order; the last one keeps repeating."""
        if not replies:
            raise ValueError("script() needs at least one Reply")
        with self._lock:
            self._routes[(method.upper(), path)] = deque(replies)

    def handle(self, method: str, path: str, handler: Handler) -> None:
        """Answer ``method path`` with ``handler(request)`` (for replies that depend on it)."""
        with self._lock:
            self._routes[(method.upper(), path)] = handler

    def reset(self) -> None:
        """Forget all scripts and logged requests."""
        with self._lock:
            self._routes.clear()
            self.requests.clear()

    def requests_to(self, path: str, method: str | None = None) -> list[LoggedRequest]:
        """Logged requests for one path (and method)."""
        return [
            r
            for r in list(self.requests)
            if r.path == path and (method is None or r.method == method.upper())
        ]

    def _reply_for(self, request: LoggedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            route = self._routes.get((request.method, request.path))
            if route is None:
                message = f"loopback: no reply scripted for {request.method} {request.path}"
                return Reply(599, json={"message": message})
            if isinstance(route, deque):
                return route.popleft() if len(route) > 1 else route[0]
        return route(request)

    # -- ASGI app ----------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        logged = LoggedRequest(
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.body(),
        )
        reply = self._reply_for(logged)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return reply.render()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> LoopbackServer:
        app = Starlette(routes=[Route("/{path:path}", self._endpoint, methods=_METHODS)])
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit it: without, a reply's header and body writes meet the
        # client's delayed ACK and every request takes ~40 ms.
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        sock = self._sock
        server = self._server
        self._thread = threading.Thread(
            target=lambda: server.run(sockets=[sock]), name="loopback-http", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("loopback server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def replies(*items: Reply | int) -> Iterable[Reply]:
    """Shorthand: ints become ``Reply(status)``."""
    return [Reply(i) if isinstance(i, int) else i for i in items]
