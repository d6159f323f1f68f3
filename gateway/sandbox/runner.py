"""Run the sandbox over HTTP: blocking (``cwm-gateway serve --sandbox``) or in a thread.

``start_sandbox_thread`` binds the socket before the server starts, so ``port=0`` gives a free
port that is known as soon as the call returns, and the handle is ready to use.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from cwm_gateway.errors import ConfigError
from cwm_gateway.sandbox.app import (
    API_PREFIX,
    DropConnection,
    Sandbox,
    SandboxSettings,
    create_app,
)
from cwm_gateway.sandbox.auth import SANDBOX_PRIVATE_KEY, SandboxCredentials

__all__ = ["SandboxHandle", "run_sandbox", "start_sandbox_thread"]


class _QuietDrops(logging.Filter):
    """Hide uvicorn's traceback for connections the ``drop`` fault closed on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DropConnection)


def _install_log_filter() -> None:
    log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in log.filters):
        log.addFilter(_QuietDrops())


def _settings(
    db: str | None, credentials: SandboxCredentials | None, settings: SandboxSettings | None
) -> SandboxSettings:
    settings = settings or SandboxSettings()
    if db is not None:
        settings.db = db
    if credentials is not None:
        settings.credentials = credentials
    return settings


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this; without it a response's header and body writes meet
    # the client's delayed ACK and every request takes ~40 ms.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"The sandbox cannot listen on {host}:{port} ({exc.strerror}); "
            "choose another port (0 picks a free one)."
        ) from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _env(base_url: str, creds: SandboxCredentials) -> dict[str, str]:
    return {
        "CONNECTWISE_API_URL": base_url,
        "CONNECTWISE_COMPANY_ID": creds.company,
        "CONNECTWISE_PUBLIC_KEY": creds.public_key,
        "CONNECTWISE_PRIVATE_KEY": creds.private_key,
        "CONNECTWISE_CLIENT_ID": creds.client_id,
    }


def run_sandbox(
    host: str = "127.0.0.1",
    port: int = 8787,
    db: str | None = None,
    *,
    credentials: SandboxCredentials | None = None,
    settings: SandboxSettings | None = None,
    log_level: str = "warning",
) -> None:
    """Serve the sandbox until interrupted (blocking). ``db`` is a SQLite file to keep data."""
    import uvicorn

    app = create_app(_settings(db, credentials, settings))
    sock = _bind(host, port)
    _install_log_filter()
    config = uvicorn.Config(app, log_level=log_level, lifespan="off", access_log=False)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    creds = app.sandbox.credentials
    private = (
        "the sandbox default (cwm_gateway.sandbox.auth.SANDBOX_PRIVATE_KEY)"
        if creds.private_key == SANDBOX_PRIVATE_KEY
        else "as configured (not shown)"
    )
    print(
        f"sandbox ConnectWise at http://{shown}:{bound_port}{API_PREFIX}\n"
        f"  company {creds.company}, public key {creds.public_key}, clientId {creds.client_id}, "
        f"private key {private}\n"
        f"  data: {db or 'in memory (lost on exit)'}",
        file=sys.stderr,
        flush=True,
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        app.sandbox.store.close()
        sock.close()


@dataclass
class SandboxHandle:
    """A sandbox running in a background thread."""

    base_url: str
    """API base, e.g. ``http://127.0.0.1:50123/v4_6_release/apis/3.0``."""
    site_url: str
    """Server root, e.g. ``http://127.0.0.1:50123`` (``/login/companyinfo`` lives here)."""
    credentials: dict[str, str] = field(repr=False)
    """``CONNECTWISE_*`` environment variables that point a client at this sandbox."""
    sandbox: Sandbox = field(repr=False)
    _server: Any = field(repr=False, default=None)
    _thread: threading.Thread | None = field(repr=False, default=None)
    _sock: socket.socket | None = field(repr=False, default=None)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Requests that reached the server (method, path, query, status, operation_id)."""
        return self.sandbox.requests

    def clear_requests(self) -> None:
        """Forget the logged requests."""
        self.sandbox.clear_requests()

    def headers(self) -> dict[str, str]:
        """Authorization and clientId headers for direct HTTP calls."""
        return self.sandbox.credentials.headers()

    def stop(self) -> None:
        """Stop the server, wait for its thread and close the database."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()
        self.sandbox.store.close()
        self._server = self._thread = self._sock = None

    def __enter__(self) -> SandboxHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_sandbox_thread(
    host: str = "127.0.0.1",
    port: int = 0,
    db: str | None = None,
    *,
    credentials: SandboxCredentials | None = None,
    settings: SandboxSettings | None = None,
    startup_timeout: float = 30.0,
) -> SandboxHandle:
    """Start the sandbox in a daemon thread and return once it accepts connections."""
    import uvicorn

    app = create_app(_settings(db, credentials, settings))
    sock = _bind(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    _install_log_filter()
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="cwm-sandbox", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        server.should_exit = True
        sock.close()
        raise ConfigError(f"The sandbox did not start within {startup_timeout:g}s.")
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    site = f"http://{shown}:{bound_port}"
    base = site + API_PREFIX
    return SandboxHandle(
        base_url=base,
        site_url=site,
        credentials=_env(base, app.sandbox.credentials),
        sandbox=app.sandbox,
        _server=server,
        _thread=thread,
        _sock=sock,
    )
