"""The one error hierarchy of the gateway.

Every error a user or agent can see derives from :class:`CWMError` and carries a message that
says what was wrong and, where it can, what would be right. Messages never contain secrets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class CWMError(Exception):
    """Base of every error raised by cwm_gateway."""


class ConfigError(CWMError):
    """A setting is missing or malformed (the message names the setting, never its value)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request, found before anything was sent."""

    where: str
    """Which part: ``path``, ``method``, ``query.conditions``, ``body.summary``..."""
    message: str
    """What is wrong."""
    hint: str | None = None
    """What would be right (valid values, did-you-mean suggestions)."""

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


@dataclass
class RequestValidationError(CWMError):
    """A request failed validation before it was sent; nothing left the process."""

    problems: list[Problem] = field(default_factory=list)
    operation_id: str | None = None

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        head = (
            f"Request for {self.operation_id} is invalid"
            if self.operation_id
            else "Request is invalid"
        )
        lines = [f"{head}; nothing was sent:"] + [f"- {p}" for p in self.problems]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Structured form for tool output."""
        return {
            "operation_id": self.operation_id,
            "problems": [
                {"where": p.where, "message": p.message, "hint": p.hint} for p in self.problems
            ],
        }


# --------------------------------------------------------------------------------------------
# Errors from talking to ConnectWise (raised by the transport, the client and pagination).
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiErrorDetail:
    """One entry of ConnectWise's ``errors[]`` array (usually a field that failed validation)."""

    code: str | None = None
    message: str | None = None
    resource: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = ".".join(p for p in (self.resource, self.field) if p)
        text = self.message or self.code or "error"
        return f"{where}: {text}" if where else text


class ApiError(CWMError):
    """ConnectWise answered a request with an error, or could not be reached.

    Carries what was asked (``operation_id``, ``method``, ``path``) and what ConnectWise said
    (``status`` and its ``{code, message, errors[]}`` body, parsed into ``code``, ``api_message``
    and ``errors``). ``path`` is relative to the API base and never holds credentials.
    """

    default_hint: str | None = None

    def __init__(
        self,
        message: str | None = None,
        *,
        operation_id: str | None = None,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        code: str | None = None,
        api_message: str | None = None,
        errors: list[ApiErrorDetail] | None = None,
        request_id: str | None = None,
        attempts: int = 1,
        hint: str | None = None,
    ) -> None:
        self.operation_id = operation_id
        self.method = method
        self.path = path
        self.status = status
        self.code = code
        self.api_message = api_message
        self.errors = list(errors or [])
        self.request_id = request_id
        self.attempts = attempts
        self.hint = hint if hint is not None else self.default_hint
        self.summary = message
        super().__init__(self._render())

    def _render(self) -> str:
        what = " ".join(p for p in (self.method, self.path) if p) or "request"
        if self.operation_id:
            what = f"{what} ({self.operation_id})"
        head = self.summary or "ConnectWise returned an error"
        status = f"HTTP {self.status}" if self.status is not None else None
        said = " ".join(p for p in (f"[{self.code}]" if self.code else None, self.api_message) if p)
        lines = [f"{head}: {what}" + (f" -> {status}" if status else "")]
        if said:
            lines.append(f"ConnectWise said: {said}")
        lines.extend(f"- {e}" for e in self.errors)
        if self.attempts > 1:
            lines.append(f"(after {self.attempts} attempts)")
        if self.hint:
            lines.append(f"Hint: {self.hint}")
        if self.request_id:
            lines.append(f"x-cw-request-id: {self.request_id}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Structured form for tool output (no secrets: only what was asked and what came back)."""
        return {
            "type": type(self).__name__,
            "operation_id": self.operation_id,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "code": self.code,
            "message": self.api_message,
            "errors": [
                {"code": e.code, "message": e.message, "resource": e.resource, "field": e.field}
                for e in self.errors
            ],
            "hint": self.hint,
            "attempts": self.attempts,
            "request_id": self.request_id,
        }


class BadRequestError(ApiError):
    """400: ConnectWise rejected the request content (see ``errors`` for the fields)."""

    default_hint = (
        "fix the fields listed above; conditions use ConnectWise syntax, "
        "e.g. conditions='status/name=\"Open\" and id > 100'"
    )


class AuthenticationError(ApiError):
    """401: the credentials were not accepted."""

    default_hint = (
        "check CONNECTWISE_COMPANY_ID, CONNECTWISE_PUBLIC_KEY and CONNECTWISE_PRIVATE_KEY "
        "(username is '<company>+<public key>'), that the API key is not revoked and that "
        "the API member is active"
    )


class PermissionDeniedError(ApiError):
    """403: the credentials are valid but the API member's security role does not allow this."""

    default_hint = (
        "grant the API member's security role the needed level for this module "
        "(System > Security Roles), or use an operation it may call"
    )


class NotFoundError(ApiError):
    """404: no such record or route."""

    default_hint = (
        "check the id in the path (the record may have been deleted or be out of the "
        "API member's scope) and that the API URL's codebase is current"
    )


class ConflictError(ApiError):
    """409: the change conflicts with the record's current state (e.g. a duplicate)."""

    default_hint = "re-read the record and retry the change against its current state"


class RateLimitedError(ApiError):
    """429: too many requests; ``retry_after`` is the wait ConnectWise asked for, in seconds."""

    default_hint = "slow down; wait the number of seconds given by Retry-After before retrying"

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(*args, **kwargs)

    def _render(self) -> str:
        text = super()._render()
        if self.retry_after is not None:
            text += f"\nRetry after: {self.retry_after:g} s"
        return text

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["retry_after"] = self.retry_after
        return data


class ServerError(ApiError):
    """5xx: ConnectWise failed to handle the request."""

    default_hint = (
        "a ConnectWise-side failure; GET requests were retried, a write may or may not have "
        "been applied: read the record before repeating it"
    )


class InvalidResponseError(ServerError):
    """A success status whose JSON body does not parse (cut off by a proxy or a dropped link)."""

    default_hint = (
        "the answer was cut off or garbled on the way; GET requests were retried, a write may "
        "or may not have been applied: read the record before repeating it"
    )


class ApiConnectionError(ApiError):
    """ConnectWise could not be reached (DNS, refused connection, TLS, dropped connection)."""

    default_hint = (
        "check the API URL / CONNECTWISE_SITE, network access to the host and any proxy settings"
    )


class ApiTimeoutError(ApiConnectionError):
    """No answer within the configured timeout."""

    default_hint = (
        "narrow the request (conditions, fields=, smaller pageSize) or raise "
        "CONNECTWISE_READ_TIMEOUT / CONNECTWISE_CONNECT_TIMEOUT; a timed-out write may still "
        "have been applied"
    )


#: HTTP status → error class, for statuses with a class of their own.
STATUS_ERRORS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitedError,
}
