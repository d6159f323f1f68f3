"""Parse a raw request line: ``"METHOD /path?query [JSON body]"``.

Only the shape is checked here (method, relative path, query, JSON); whether the path is a
ConnectWise operation, and whether it is safe, is decided by :mod:`cwm_gateway.validation`.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

from cwm_gateway.errors import Problem, RequestValidationError

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
EXAMPLE = 'GET /service/tickets?conditions=status/name="New"&pageSize=10'


class RawRequest(NamedTuple):
    method: str
    path: str
    params: dict[str, Any]
    body: Any


def _fail(where: str, message: str, hint: str | None = None) -> RequestValidationError:
    return RequestValidationError([Problem(where, message, hint)])


def parse_raw_request(raw: str) -> RawRequest:
    """Split a raw request into method, path, decoded query parameters and JSON body.

    Repeated query keys become a list (validation then says whether the parameter takes one).
    """
    if not isinstance(raw, str) or not raw.strip():
        raise _fail("raw_request", "is empty", f"write it as: {EXAMPLE}")
    text = raw.strip()
    head, _, rest = text.partition(" ")
    method = head.upper()
    if method not in METHODS:
        raise _fail(
            "raw_request.method",
            f"{head!r} is not an HTTP method ConnectWise accepts",
            f"start with one of {', '.join(METHODS)}, e.g. {EXAMPLE}",
        )
    rest = rest.strip()
    if not rest:
        raise _fail("raw_request.path", "is missing", f"e.g. {EXAMPLE}")
    target, _, body_text = rest.partition(" ")
    body_text = body_text.strip()
    body: Any = None
    if body_text:
        try:
            body = json.loads(body_text)
        except json.JSONDecodeError as exc:
            raise _fail(
                "raw_request.body",
                f"is not valid JSON ({exc.msg} at column {exc.colno})",
                'put a JSON object or array after the path, e.g. POST /service/tickets {"summary": "x"}',
            ) from None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        raise _fail(
            "raw_request.path",
            "absolute URLs are refused: requests only ever go to the configured ConnectWise API",
            "give the path relative to the API base, e.g. /service/tickets",
        )
    if parts.fragment:
        raise _fail("raw_request.path", "has a #fragment", "remove everything from '#'")
    params: dict[str, Any] = {}
    try:
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise _fail(
            "raw_request.query",
            f"cannot be parsed: {parts.query!r}",
            "use key=value pairs joined by &, URL-encoded",
        ) from None
    for key, value in pairs:
        if key in params:
            previous = params[key]
            params[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            params[key] = value
    return RawRequest(method, parts.path, params, body)
