"""Fault injection: make the sandbox misbehave the way a real server sometimes does.

A fault is written as a short spec, the same in the ``X-Sandbox-Fault`` request header, in the
app settings and on the admin endpoint:

- ``429``, ``429;retry-after=1``: rate limited, with a ``Retry-After`` header (seconds);
- ``500``, ``502``, ``503``, ``504`` (any 4xx/5xx status), optionally ``;retry-after=N``;
- ``latency=200ms`` (or ``=1.5s``): wait, then answer normally;
- ``malformed-json``: answer 200 with a truncated JSON body;
- ``drop``: close the connection without a complete response.

Several specs can be combined with commas (``latency=100ms,503``).

:class:`FaultsAndLog` is the outer ASGI layer that applies them (and keeps the request log).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from dataclasses import dataclass
from typing import Any

FAULT_HEADER = "x-sandbox-fault"

_LATENCY = re.compile(r"^latency=(\d+(?:\.\d+)?)(ms|s)?$")


@dataclass(frozen=True)
class Fault:
    """One parsed fault."""

    kind: str
    """``status``, ``latency``, ``malformed-json`` or ``drop``."""
    status: int | None = None
    retry_after: float | None = None
    latency_s: float = 0.0


class FaultSpecError(ValueError):
    """A fault spec could not be read; the message says what forms are accepted."""


_HELP = (
    "use one of '429;retry-after=1', '500', '503', 'latency=200ms', 'malformed-json', 'drop' "
    "(comma-separate to combine)"
)


def parse_faults(text: str) -> list[Fault]:
    """Parse a comma-separated list of fault specs.

    Raises :class:`FaultSpecError` naming the part it could not read.
    """
    faults = [_parse_one(part.strip()) for part in text.split(",") if part.strip()]
    if not faults:
        raise FaultSpecError(f"empty fault spec; {_HELP}")
    return faults


def _parse_one(spec: str) -> Fault:
    low = spec.lower().replace(" ", "")
    if low == "drop":
        return Fault("drop")
    if low in ("malformed-json", "malformed_json", "malformed"):
        return Fault("malformed-json")
    m = _LATENCY.match(low)
    if m:
        value = float(m.group(1))
        seconds = value if m.group(2) == "s" else value / 1000.0
        return Fault("latency", latency_s=seconds)
    head, *options = low.split(";")
    if head.isdigit() and 400 <= int(head) <= 599:
        retry_after = None
        for option in options:
            key, _, value = option.partition("=")
            if key != "retry-after":
                raise FaultSpecError(f"unknown fault option {option!r} in {spec!r}; {_HELP}")
            try:
                retry_after = float(value)
            except ValueError:
                raise FaultSpecError(
                    f"retry-after must be a number of seconds in {spec!r}; {_HELP}"
                ) from None
        return Fault("status", status=int(head), retry_after=retry_after)
    raise FaultSpecError(f"unknown fault {spec!r}; {_HELP}")


class FaultPlan:
    """Faults armed for the whole run or for the next N API requests (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[list] = []  # [faults, remaining or None for "every request"]

    def add(self, spec: str | list[Fault], count: int | None = None) -> None:
        """Arm ``spec`` for the next ``count`` API requests, or for every request if None."""
        faults = parse_faults(spec) if isinstance(spec, str) else list(spec)
        if count is not None and count < 1:
            raise FaultSpecError("count must be at least 1, or None for every request")
        with self._lock:
            self._armed.append([faults, count])

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._armed.clear()

    def take(self) -> list[Fault]:
        """The faults that apply to the request being served; counted ones are used up."""
        with self._lock:
            if not self._armed:
                return []
            faults, remaining = self._armed[0]
            if remaining is not None:
                if remaining <= 1:
                    self._armed.pop(0)
                else:
                    self._armed[0][1] = remaining - 1
            return list(faults)

    def describe(self) -> list[dict]:
        """What is armed, for the admin endpoint."""
        with self._lock:
            return [
                {"faults": [f.__dict__ for f in faults], "remaining": remaining}
                for faults, remaining in self._armed
            ]


class DropConnection(Exception):
    """Raised to make the server close the connection mid-response (``drop`` fault)."""


_STATUS_TEXTS = {
    429: ("TooManyRequests", "Request rate limit exceeded. Try again later."),
    500: ("UnexpectedError", "An unexpected error has occurred."),
    502: ("BadGateway", "Bad gateway."),
    503: ("ServiceUnavailable", "The service is temporarily unavailable."),
    504: ("GatewayTimeout", "The server did not answer in time."),
}


def _json_body(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


async def _respond(send: Any, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


@dataclass(eq=False, repr=False)
class FaultsAndLog:
    """Outer ASGI layer: logs each request, applies faults (header or plan), then hands over.

    Paths under ``admin_prefix`` are neither logged nor faulted; the plan's faults apply to
    API requests (under ``api_prefix``) only, header faults to any request.
    """

    inner: Any
    log: Any
    plan: FaultPlan
    api_prefix: str
    admin_prefix: str

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(self.admin_prefix):
            await self.inner(scope, receive, send)
            return
        entry = self.log.start(scope)
        header = next(
            (
                v.decode("latin-1")
                for k, v in scope["headers"]
                if k.lower() == FAULT_HEADER.encode()
            ),
            None,
        )
        try:
            faults = parse_faults(header) if header is not None else []
        except FaultSpecError as exc:
            entry["status"] = 400
            await _respond(send, 400, _json_body({"code": "InvalidFault", "message": str(exc)}), {})
            return
        if path.startswith(self.api_prefix):
            faults += self.plan.take()
        terminal = None
        for fault in faults:
            if fault.kind == "latency":
                await asyncio.sleep(fault.latency_s)
            elif terminal is None:
                terminal = fault
        if terminal is not None:
            await self._fault(terminal, entry, send)
            return

        async def send_logged(message: Any) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
                for key, value in message.get("headers", ()):
                    if key.lower() == b"x-sandbox-operation":
                        entry["operation_id"] = value.decode()
            await send(message)

        await self.inner(scope, receive, send_logged)

    @staticmethod
    async def _fault(fault: Fault, entry: dict[str, Any], send: Any) -> None:
        if fault.kind == "drop":
            entry["status"] = 0
            start = {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
            }
            await send(start)
            await send({"type": "http.response.body", "body": b'{"id": ', "more_body": True})
            raise DropConnection("sandbox fault: drop")
        if fault.kind == "malformed-json":
            entry["status"] = 200
            await _respond(send, 200, b'{"id": 1, "name": "Truncated respo', {})
            return
        status = fault.status or 500
        entry["status"] = status
        code, message = _STATUS_TEXTS.get(status, ("Error", f"Sandbox fault {status}."))
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        await _respond(send, status, _json_body({"code": code, "message": message}), headers)
