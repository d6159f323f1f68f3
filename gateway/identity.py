"""Who is calling: the grant a tool call runs under, bound for the duration of one request.

Over stdio one process serves one local user, so the identity is the grant ``local``. Over
HTTP with authentication, the transport layer binds the authenticated grant (an API key's
grant or the grant an OAuth token names) before any tool runs; rate limits with scope grant,
Fast Memory, the audit log and the ConnectWise member keys all read it from here, so a grant is
the same whatever protocol version or MCP session carried the call.

The ConnectWise private key a grant may carry is held in a field excluded from ``repr``.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["LOCAL", "Identity", "MemberKeys", "bind", "current"]


@dataclass(frozen=True)
class MemberKeys:
    """A ConnectWise API member's key pair (so ConnectWise records who did what)."""

    public_key: str
    private_key: str = field(repr=False)


@dataclass(frozen=True)
class Identity:
    """The grant a call runs under and what the grant carries."""

    grant: str
    member: MemberKeys | None = None
    """The grant's own ConnectWise member keys; None → the gateway's configured keys."""
    policy: str | None = None
    """The grant's policy file; None → the gateway's policy."""
    via: str = "local"
    """How the identity was established: ``local`` (stdio), ``api_key`` or ``oauth``."""

    @property
    def member_public_key(self) -> str | None:
        """The public half of the member keys (what the audit log records), if any."""
        return self.member.public_key if self.member is not None else None


LOCAL = Identity(grant="local")

_current: contextvars.ContextVar[Identity] = contextvars.ContextVar("cwm_identity", default=LOCAL)


def current() -> Identity:
    """The identity of the request being served (``local`` outside any authenticated request)."""
    return _current.get()


@contextmanager
def bind(identity: Identity) -> Iterator[Identity]:
    """Run the body (and the tasks it starts) as ``identity``."""
    token = _current.set(identity)
    try:
        yield identity
    finally:
        _current.reset(token)
