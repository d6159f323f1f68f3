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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cwm_gateway.errors import CWMError
from cwm_gateway.identity import Identity, MemberKeys

__all__ = [
    "KEY_PREFIX",
    "Grant",
    "GrantError",
    "GrantStore",
    "RunStatement",
    "check_grant_name",
    "hash_key",
    "looks_like_api_key",
    "new_api_key",
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


#: What the grants table is read as, in the order :func:`_grant_from_row` reads.
_COLUMNS = "name, created, policy, member_public_key, member_private_key, revoked, key_hint"

#: How a backend runs one statement written with ``?`` placeholders (the SQLite spelling;
#: PostgreSQL's runner translates them): ``fetch`` is ``one`` (a row or None), ``all`` (the
#: rows) or ``count`` (how many rows changed).
RunStatement = Callable[[str, Sequence[Any], str], Any]


def _grant_from_row(row: Sequence[Any]) -> Grant:
    name, created, policy, pub, priv, revoked, hint = row
    return Grant(name, created, policy, pub, priv, revoked, hint)


def looks_like_api_key(token: str) -> bool:
    """Whether a bearer token has the shape of a gateway API key (else it may be a JWT)."""
    return bool(_KEY.match(token))


def hash_key(token: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class GrantStore:
    """Grants in a backend's SQL database (SQLite or PostgreSQL: the same statements).

    ``run`` runs one statement (:data:`RunStatement`); ``name_taken`` is the backend's
    exception for a unique-name violation.
    """

    def __init__(self, run: RunStatement, name_taken: type[Exception]) -> None:
        self._run = run
        self._name_taken = name_taken

    def add(
        self,
        name: str,
        *,
        policy: str | None = None,
        member_public_key: str | None = None,
        member_private_key: str | None = None,
    ) -> tuple[Grant, str]:
        """Create a grant; return it and its API key (shown once, stored hashed)."""
        name = check_grant_name(name)
        key = new_api_key()
        grant = Grant(
            name, time.time(), policy, member_public_key, member_private_key, None, key[:9]
        )
        try:
            self._run(
                "INSERT INTO grants (name, key_hash, key_hint, created, policy, "
                "member_public_key, member_private_key) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    hash_key(key),
                    grant.key_hint,
                    grant.created,
                    policy,
                    member_public_key,
                    member_private_key,
                ),
                "count",
            )
        except self._name_taken:
            raise GrantError(
                f"a grant named {name!r} exists already; revoke it first or pick another name"
            ) from None
        return grant, key

    def list(self) -> list[Grant]:
        rows = self._run(f"SELECT {_COLUMNS} FROM grants ORDER BY name", (), "all")
        return [_grant_from_row(r) for r in rows]

    def get(self, name: str) -> Grant | None:
        row = self._run(f"SELECT {_COLUMNS} FROM grants WHERE name = ?", (name,), "one")
        return _grant_from_row(row) if row else None

    def revoke(self, name: str) -> bool:
        """Revoke a grant's key; True if an active grant was revoked."""
        revoked = self._run(
            "UPDATE grants SET revoked = ? WHERE name = ? AND revoked IS NULL",
            (time.time(), name),
            "count",
        )
        return revoked > 0

    def delete(self, name: str) -> bool:
        """Remove a revoked or active grant entirely (so its name can be reused)."""
        return self._run("DELETE FROM grants WHERE name = ?", (name,), "count") > 0

    def authenticate(self, api_key: str) -> Grant | None:
        """The active grant this API key belongs to, or None."""
        row = self._run(
            f"SELECT {_COLUMNS} FROM grants WHERE key_hash = ? AND revoked IS NULL",
            (hash_key(api_key),),
            "one",
        )
        return _grant_from_row(row) if row else None
