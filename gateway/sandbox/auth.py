"""Sandbox credentials and the ConnectWise-style authentication check.

ConnectWise Manage authenticates every API call with HTTP Basic auth whose user name is
``company+publicKey`` and whose password is the private key, plus a ``clientId`` header that
identifies the integration. The sandbox checks both the same way and answers failures with the
same 401 body shape, so a client that works against the sandbox works against the real thing.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

SANDBOX_COMPANY = "sandbox"
SANDBOX_PUBLIC_KEY = "sandbox-public"
SANDBOX_PRIVATE_KEY = "sandbox-private"
SANDBOX_CLIENT_ID = "sandbox-client-id"


@dataclass(frozen=True)
class SandboxCredentials:
    """The one API member the sandbox accepts. The private key never appears in the repr."""

    company: str = SANDBOX_COMPANY
    public_key: str = SANDBOX_PUBLIC_KEY
    private_key: str = field(default=SANDBOX_PRIVATE_KEY, repr=False)
    client_id: str = SANDBOX_CLIENT_ID

    def authorization_header(self) -> str:
        """The ``Authorization`` header value a client must send."""
        raw = f"{self.company}+{self.public_key}:{self.private_key}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")

    def headers(self) -> dict[str, str]:
        """Headers that authenticate a request against this sandbox."""
        return {"Authorization": self.authorization_header(), "clientId": self.client_id}

    def check(self, headers: Mapping[str, str]) -> str | None:
        """Return why the request is not authenticated, or None when it is.

        ``headers`` must be case-insensitive (Starlette's ``Headers`` is). The reason never
        echoes what the caller sent, so it is safe to put in a response or a log.
        """
        client_id = headers.get("clientid")
        if not client_id:
            return (
                "The clientId header is required. Register an integration at "
                "https://developer.connectwise.com/ClientID and send its id as 'clientId'."
            )
        if not hmac.compare_digest(client_id.encode(), self.client_id.encode()):
            return "The clientId header does not identify a registered integration."
        auth = headers.get("authorization")
        if not auth:
            return (
                "Authorization header is missing. Send Basic auth 'company+publicKey:privateKey'."
            )
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "basic" or not token:
            return "Only Basic authentication 'company+publicKey:privateKey' is supported."
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return "The Basic credentials are not valid base64."
        user, sep, password = decoded.partition(":")
        company, plus, public = user.partition("+")
        if not sep or not plus:
            return "The Basic user name must be 'company+publicKey'."
        # Company ids are case-insensitive in ConnectWise; keys are not.
        ok = (
            company.lower() == self.company.lower()
            and hmac.compare_digest(public.encode(), self.public_key.encode())
            and hmac.compare_digest(password.encode(), self.private_key.encode())
        )
        if not ok:
            return "Incorrect company, public key or private key."
        return None
