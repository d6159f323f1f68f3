"""Named grants and their API keys: who may call the gateway over HTTP, and as whom.

A grant is a name (``alice``, ``ci-bot``) with an optional policy file and optional ConnectWise
API member keys of its own. ``cwm-gateway grants add NAME`` creates it and prints its API key
once: ``cwmg_`` followed by 43 URL-safe characters (256 random bits). Only the key's SHA-256
is stored: with that much entropy a slow hash adds nothing, and one indexed lookup finds the
grant. Clients send the key as ``Authorization: Bearer cwmg_…``.

The member private key is stored in the state backend (the database holds it as the
environment holds the gateway's own key: protect both alike); it is never listed, logged or
returned.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cwm_gateway.errors import CWMError
from cwm_gateway.identity import Identity, MemberKeys

__all__ = [
    "GRANT_COLUMNS",
    "KEY_PREFIX",
    "Grant",
    "GrantError",
    "GrantStore",
    "check_grant_name",
    "grant_exists",
    "grant_from_row",
    "grant_insert",
    "hash_key",
    "looks_like_api_key",
    "new_api_key",
    "new_grant",
]

KEY_PREFIX = "cwmg_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_KEY = re.compile(r"^cwmg_[A-Za-z0-9_-]{43}$")


class GrantError(CWMError):
    """A grant could not be created, found or changed."""


@dataclass(frozen=True)
class Grant:
    """One named grant (never carries its API key; only the key's hash is stored)."""

    name: str
    created: float
    policy: str | None = None
    member_public_key: str | None = None
    member_private_key: str | None = field(default=None, repr=False)
    revoked: float | None = None
    key_hint: str = ""
    """The key's first characters, to tell keys apart in listings."""

    @property
    def active(self) -> bool:
        return self.revoked is None

    def identity(self, via: str) -> Identity:
        """The identity a request authenticated as this grant runs under."""
        member = None
        if self.member_public_key and self.member_private_key:
            member = MemberKeys(self.member_public_key, self.member_private_key)
        return Identity(grant=self.name, member=member, policy=self.policy, via=via)

    def to_public_dict(self) -> dict[str, Any]:
        """What ``grants list`` shows: no private key, no key hash."""
        return {
            "name": self.name,
            "created": self.created,
            "policy": self.policy,
            "member": self.member_public_key,
            "revoked": self.revoked,
            "key": self.key_hint + "…" if self.key_hint else None,
        }


def check_grant_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or name == "local":
        raise GrantError(
            f"grant name {name!r} is not valid: use 1-64 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit (e.g. 'alice' or 'ci-bot'); 'local' is reserved "
            "for stdio."
        )
    return name


def new_api_key() -> str:
    """A fresh API key: the prefix and 256 random bits, URL-safe."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


#: What every backend selects from its grants table, in the order :func:`grant_from_row` reads.
GRANT_COLUMNS = "name, created, policy, member_public_key, member_private_key, revoked, key_hint"


def grant_from_row(row: Sequence[Any]) -> Grant:
    """A :class:`Grant` from a row selected as :data:`GRANT_COLUMNS`."""
    name, created, policy, pub, priv, revoked, hint = row
    return Grant(name, created, policy, pub, priv, revoked, hint)


def grant_insert(placeholder: str) -> str:
    """The INSERT of a new grant's row (:func:`new_grant`), with the driver's placeholder."""
    return (
        "INSERT INTO grants (name, key_hash, key_hint, created, policy, "
        "member_public_key, member_private_key) VALUES (" + ", ".join([placeholder] * 7) + ")"
    )


def new_grant(
    name: str,
    *,
    policy: str | None,
    member_public_key: str | None,
    member_private_key: str | None,
) -> tuple[Grant, str, tuple[Any, ...]]:
    """Check the name and make a key: the grant, its API key, and the row for :func:`grant_insert`."""
    name = check_grant_name(name)
    key = new_api_key()
    grant = Grant(name, time.time(), policy, member_public_key, member_private_key, None, key[:9])
    row = (
        name,
        hash_key(key),
        grant.key_hint,
        grant.created,
        policy,
        member_public_key,
        member_private_key,
    )
    return grant, key, row


def grant_exists(name: str) -> GrantError:
    """The error for adding a name that is taken (every backend's unique-name violation)."""
    return GrantError(
        f"a grant named {name!r} exists already; revoke it first or pick another name"
    )


def looks_like_api_key(token: str) -> bool:
    """Whether a bearer token has the shape of a gateway API key (else it may be a JWT)."""
    return bool(_KEY.match(token))


def hash_key(token: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class GrantStore(Protocol):
    """Grants in a state backend."""

    def add(
        self,
        name: str,
        *,
        policy: str | None = None,
        member_public_key: str | None = None,
        member_private_key: str | None = None,
    ) -> tuple[Grant, str]:
        """Create a grant; return it and its API key (shown once, stored hashed)."""
        ...

    def list(self) -> list[Grant]: ...

    def get(self, name: str) -> Grant | None: ...

    def revoke(self, name: str) -> bool:
        """Revoke a grant's key; True if an active grant was revoked."""
        ...

    def authenticate(self, api_key: str) -> Grant | None:
        """The active grant this API key belongs to, or None."""
        ...
