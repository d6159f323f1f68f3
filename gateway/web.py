"""The gateway over HTTP: stateless streamable HTTP with authentication, health and metrics.

Any instance can serve any request: MCP runs stateless (no session lives in one process), the
multi-round approval state is sealed with a key every instance shares, and everything else
(Fast Memory, rate limits, audit, grants, approval records) lives in the state backend. Put
several instances behind a round-robin proxy and they behave as one.

Routes: ``/mcp`` (MCP; bearer authentication when configured), ``/healthz`` (the process
answers), ``/readyz`` (the state backend answers), ``/metrics`` (Prometheus), and
``/.well-known/oauth-protected-resource…`` when OAuth is configured.

Binding beyond loopback needs authentication (or an explicit ``allow_unauthenticated``) and
keeps the Host/Origin (DNS-rebinding) checks on, with the allowed values configurable.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from mcp.server.auth.settings import AuthSettings
from mcp.server.request_state import (
    AESGCMRequestStateCodec,
    InvalidRequestState,
    RequestStateSecurity,
)
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import AnyHttpUrl
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from cwm_gateway import identity, metrics
from cwm_gateway.auth import GatewayAccessToken, GatewayTokenVerifier, OAuthConfig
from cwm_gateway.errors import ConfigError

__all__ = [
    "AUTH_MODES",
    "REQUEST_STATE_KEY_ENV",
    "HttpOptions",
    "build_app",
    "check_binding",
    "is_loopback",
    "server_auth_options",
]

log = logging.getLogger(__name__)

AUTH_MODES = ("none", "api-keys", "oauth", "both")
#: Shared secret sealing multi-round approval state; all instances of a team need the same one.
REQUEST_STATE_KEY_ENV = "CWM_GATEWAY_REQUEST_STATE_KEY"


@dataclass
class HttpOptions:
    """How the HTTP transport is exposed."""

    host: str = "127.0.0.1"
    port: int = 8000
    auth: str = "none"
    """``none``, ``api-keys`` (gateway grants), ``oauth`` (JWTs from an issuer) or ``both``."""
    oauth: OAuthConfig | None = None
    public_url: str | None = None
    """The URL clients reach ``/mcp`` at (the OAuth resource identifier)."""
    allow_unauthenticated: bool = False
    allowed_hosts: list[str] = field(default_factory=list)
    allowed_origins: list[str] = field(default_factory=list)
    stateless: bool | None = None
    """No MCP sessions (any instance serves any request). None → stateless exactly when
    authentication is on (a team); one local user keeps sessions, which clients on protocol
    versions before 2026-07-28 need to be asked for approvals."""

    @property
    def is_stateless(self) -> bool:
        return self.auth != "none" if self.stateless is None else self.stateless


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name other than localhost, or empty (every interface)
        return False


def check_binding(options: HttpOptions) -> None:
    """Refuse an exposure that would let anyone on the network act with the gateway's keys."""
    if options.auth not in AUTH_MODES:
        raise ConfigError(f"--auth must be one of {', '.join(AUTH_MODES)}; got {options.auth!r}")
    if options.auth in ("oauth", "both") and options.oauth is None:
        raise ConfigError(
            "--auth oauth needs the issuer: set CWM_GATEWAY_OAUTH_ISSUER and "
            "CWM_GATEWAY_OAUTH_AUDIENCE (and CWM_GATEWAY_OAUTH_JWKS_URL unless the issuer "
            "serves /.well-known/jwks.json)"
        )
    if (
        options.auth == "none"
        and not is_loopback(options.host)
        and not options.allow_unauthenticated
    ):
        raise ConfigError(
            f"refusing to serve on {options.host} without authentication: anyone who can reach "
            "the port would act with the gateway's ConnectWise keys. Use --auth api-keys "
            "(cwm-gateway grants add NAME) or --auth oauth, or pass --allow-unauthenticated if "
            "an authenticating proxy guards the port."
        )


def _request_state_key(state: Any) -> bytes | None:
    """The sealing key: ``$CWM_GATEWAY_REQUEST_STATE_KEY``, else one kept in the state backend."""
    configured = os.environ.get(REQUEST_STATE_KEY_ENV, "").strip()
    if configured:
        if len(configured.encode()) < 32:
            raise ConfigError(
                f"{REQUEST_STATE_KEY_ENV} must be at least 32 characters of secret randomness, "
                'e.g. python -c "import secrets; print(secrets.token_hex(32))"'
            )
        return configured.encode()
    if state is not None:
        return state.shared_secret("request_state")
    return None


class OneUseRequestState:
    """Seals multi-round state (approvals) with the shared key; each sealed state is used once.

    On MCP 2026-07-28 a person's answer to an approval comes back with the sealed state the
    previous round returned, possibly to another instance. Every instance can open it (the key
    is shared), and the state backend's approval records accept each sealed state once, so a
    replayed answer sends nothing twice, on whichever instance it lands.
    """

    def __init__(self, key: bytes, approvals: Any) -> None:
        self._codec = AESGCMRequestStateCodec([key])
        self._approvals = approvals

    def seal(self, payload: bytes) -> str:
        return self._codec.seal(payload)

    def unseal(self, token: str) -> bytes:
        payload = self._codec.unseal(token)
        if self._approvals is not None:
            digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
            if not self._approvals.claim(digest, identity.current().grant):
                raise InvalidRequestState("replayed")
        return payload


def server_auth_options(options: HttpOptions, state: Any) -> dict[str, Any]:
    """Keyword arguments for ``MCPServer``: authentication and shared request-state sealing."""
    out: dict[str, Any] = {}
    key = _request_state_key(state)
    if key is not None:
        approvals = getattr(state, "approvals", None)
        out["request_state_security"] = RequestStateSecurity(
            codec=OneUseRequestState(key, approvals)
        )
    if options.auth == "none":
        return out
    oauth = options.oauth if options.auth in ("oauth", "both") else None
    scopes = list(oauth.scopes) if oauth is not None else []
    verifier = GatewayTokenVerifier(
        grants=state.grants,
        oauth=oauth,
        accept_api_keys=options.auth in ("api-keys", "both"),
        api_key_scopes=tuple(scopes),
    )
    if oauth is not None:
        resource = options.public_url or oauth.audience
        settings = AuthSettings(
            issuer_url=AnyHttpUrl(oauth.issuer),
            resource_server_url=AnyHttpUrl(resource),
            required_scopes=scopes or None,
            # The verifier checks the audience itself (PyJWT's aud check).
            validate_token_resource=False,
        )
    else:
        # API keys only: no authorization server to advertise, so no metadata route.
        settings = AuthSettings(
            issuer_url=AnyHttpUrl(options.public_url or f"http://{options.host}:{options.port}"),
            resource_server_url=None,
        )
    out["auth"] = settings
    out["token_verifier"] = verifier
    return out


class _BindIdentity:
    """Innermost middleware: run the request as the identity its verified token carries."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope.get("user") if scope["type"] == "http" else None
        token = getattr(user, "access_token", None)
        if isinstance(token, GatewayAccessToken):
            with identity.bind(token.identity):
                await self.app(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _transport_security(options: HttpOptions) -> TransportSecuritySettings:
    """Host/Origin checks stay on wherever the server binds; the allowed values add up."""
    port = options.port
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
    origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    if not is_loopback(options.host) and options.host not in ("0.0.0.0", "::"):
        hosts.append(f"{options.host}:{port}")
    hosts += options.allowed_hosts
    origins += options.allowed_origins
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


def build_app(server: Any, gateway: Any, options: HttpOptions) -> ASGIApp:
    """The ASGI app serving ``server`` (an ``MCPServer``) on ``/mcp`` with ops routes."""
    state = gateway.state
    metrics.instrument(gateway)

    @server.custom_route("/healthz", methods=["GET"])
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @server.custom_route("/readyz", methods=["GET"])
    async def readyz(request: Request) -> Response:
        if state is None:
            return JSONResponse({"status": "ready"})
        try:
            await asyncio.wait_for(asyncio.to_thread(state.ping), timeout=5)
        except Exception as exc:
            log.warning("readiness check failed: %s: %s", type(exc).__name__, exc)
            return JSONResponse(
                {"status": "unavailable", "state": state.kind, "error": type(exc).__name__},
                status_code=503,
            )
        return JSONResponse({"status": "ready", "state": state.kind})

    @server.custom_route("/metrics", methods=["GET"])
    async def metrics_route(request: Request) -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    app = server.streamable_http_app(
        stateless_http=options.is_stateless,
        transport_security=_transport_security(options),
        host=options.host,
    )
    app.user_middleware.append(Middleware(_BindIdentity))
    return metrics.HttpTimer(app)


def serve(server: Any, gateway: Any, options: HttpOptions) -> None:
    """Run the app with uvicorn until interrupted."""
    import uvicorn

    app = build_app(server, gateway, options)
    uvicorn.run(
        app,
        host=options.host,
        port=options.port,
        log_level="warning",
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
    )
