"""Authentication on HTTP: gateway API keys and OAuth 2.1 bearer tokens, one verifier.

The MCP authorization specification makes an MCP server an OAuth resource server: it
publishes protected resource metadata (RFC 9728) naming its authorization server, and accepts
bearer tokens only when they were issued by that server, for this resource (audience), are
unexpired and carry the required scopes. The mcp SDK does the HTTP side (the metadata route,
``WWW-Authenticate`` challenges, scope checks) around a :class:`TokenVerifier`;
:class:`GatewayTokenVerifier` is that verifier:

- a token shaped like a gateway API key (``cwmg_…``) is looked up by its hash in the state
  backend's grants (``cwm-gateway grants add``); a revoked key stops working at once;
- any other token must be a JWT signed by a key in the issuer's JWKS (PyJWT), with ``iss``,
  ``aud`` and ``exp`` checked, and names its grant in a configured claim (``sub`` by default).
  A grant of that name in the state backend lends the token its policy and member keys.

The verified token carries the caller's :class:`~cwm_gateway.identity.Identity`; the HTTP
layer binds it for the request, so rate limits, Fast Memory and the audit log see the grant.
Token values never appear in logs or errors.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt
from mcp.server.auth.provider import AccessToken
from pydantic import PrivateAttr

from cwm_gateway.errors import ConfigError
from cwm_gateway.identity import Identity
from cwm_gateway.state.grants import GrantStore, check_grant_name, looks_like_api_key

__all__ = [
    "GatewayAccessToken",
    "GatewayTokenVerifier",
    "OAuthConfig",
]

log = logging.getLogger(__name__)

#: Environment variables of the OAuth resource-server settings.
OAUTH_ENV = {
    "issuer": "CWM_GATEWAY_OAUTH_ISSUER",
    "audience": "CWM_GATEWAY_OAUTH_AUDIENCE",
    "jwks_url": "CWM_GATEWAY_OAUTH_JWKS_URL",
    "grant_claim": "CWM_GATEWAY_OAUTH_GRANT_CLAIM",
    "scopes": "CWM_GATEWAY_OAUTH_SCOPES",
}
# Asymmetric algorithms only: an HMAC "signed" token could be forged with the public key.
_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]


@dataclass(frozen=True)
class OAuthConfig:
    """Which tokens the gateway accepts as an OAuth resource server."""

    issuer: str
    """The authorization server (``iss`` must equal it exactly)."""
    audience: str
    """This resource's identifier (``aud`` must contain it): normally the public /mcp URL."""
    jwks_url: str
    """Where the issuer publishes its signing keys."""
    grant_claim: str = "sub"
    """The claim whose value names the grant."""
    scopes: tuple[str, ...] = ()
    """Scopes every token must carry."""
    leeway_s: float = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OAuthConfig | None:
        """Read ``CWM_GATEWAY_OAUTH_*``; None when no issuer is configured."""
        env = os.environ if environ is None else environ
        issuer = env.get(OAUTH_ENV["issuer"], "").strip()
        if not issuer:
            return None
        audience = env.get(OAUTH_ENV["audience"], "").strip()
        if not audience:
            raise ConfigError(
                f"{OAUTH_ENV['audience']} is required with {OAUTH_ENV['issuer']}: this "
                "server's resource identifier, e.g. https://gateway.example.com/mcp"
            )
        jwks = env.get(OAUTH_ENV["jwks_url"], "").strip() or (
            issuer.rstrip("/") + "/.well-known/jwks.json"
        )
        scopes = tuple(env.get(OAUTH_ENV["scopes"], "").split())
        claim = env.get(OAUTH_ENV["grant_claim"], "").strip() or "sub"
        return cls(issuer, audience, jwks, claim, scopes)


class GatewayAccessToken(AccessToken):
    """An :class:`AccessToken` that knows the identity it authenticates (never serialized)."""

    _identity: Identity = PrivateAttr()

    @property
    def identity(self) -> Identity:
        return self._identity


def _scopes(claims: Mapping[str, Any]) -> list[str]:
    scope = claims.get("scope", claims.get("scp", ""))
    if isinstance(scope, str):
        return scope.split()
    if isinstance(scope, Sequence):
        return [str(s) for s in scope]
    return []


@dataclass
class GatewayTokenVerifier:
    """Verifies gateway API keys and OAuth JWTs (``oauth``; None → API keys only).

    ``grants`` is the state backend's grant store: API keys are checked against it, and a grant
    named by an OAuth token is looked up there for its policy and member keys.
    """

    grants: GrantStore | None = None
    oauth: OAuthConfig | None = None
    accept_api_keys: bool = True
    api_key_scopes: tuple[str, ...] = ()
    """Scopes an API key is granted (the server's required scopes: a key is fully trusted)."""
    _jwks: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.oauth is not None:
            # Keys are cached; an unknown "kid" refetches (the issuer rotated its keys).
            self._jwks = jwt.PyJWKClient(self.oauth.jwks_url, cache_keys=True, lifespan=300)

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            if looks_like_api_key(token):
                if self.accept_api_keys and self.grants is not None:
                    return await self._verify_api_key(token)
                return None
            if self.oauth is not None:
                return await asyncio.to_thread(self._verify_jwt, token)
        except Exception as exc:  # a broken store or JWKS endpoint: refuse, say why in the log
            log.warning("token verification failed: %s", type(exc).__name__ + f": {exc}")
        return None

    async def _verify_api_key(self, token: str) -> AccessToken | None:
        assert self.grants is not None
        grant = await asyncio.to_thread(self.grants.authenticate, token)
        if grant is None:
            return None
        access = GatewayAccessToken(
            token=token,
            client_id=grant.name,
            scopes=list(self.api_key_scopes),
            subject=grant.name,
            claims={"cwm_grant": grant.name, "via": "api_key"},
        )
        access._identity = grant.identity("api_key")
        return access

    def _verify_jwt(self, token: str) -> AccessToken | None:
        oauth = self.oauth
        assert oauth is not None and self._jwks is not None
        try:
            key = self._jwks.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=_ALGORITHMS,
                audience=oauth.audience,
                issuer=oauth.issuer,
                leeway=oauth.leeway_s,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            log.info("bearer token refused: %s", type(exc).__name__)
            return None
        name = claims.get(oauth.grant_claim)
        try:
            name = check_grant_name(name)
        except Exception:
            log.info("bearer token refused: claim %r names no valid grant", oauth.grant_claim)
            return None
        grant = self.grants.get(name) if self.grants is not None else None
        if grant is not None and not grant.active:
            log.info("bearer token refused: grant %r is revoked", name)
            return None
        who = grant.identity("oauth") if grant is not None else Identity(grant=name, via="oauth")
        aud = claims.get("aud")
        access = GatewayAccessToken(
            token=token,
            client_id=str(claims.get("client_id") or claims.get("azp") or name),
            scopes=_scopes(claims),
            expires_at=int(claims["exp"]),
            resource=(
                oauth.audience
                if aud == oauth.audience or (aud is not None and oauth.audience in aud)
                else None
            ),
            subject=str(claims["sub"]) if "sub" in claims else None,
            claims={"iss": claims.get("iss"), "cwm_grant": name, "via": "oauth"},
        )
        access._identity = who
        return access
