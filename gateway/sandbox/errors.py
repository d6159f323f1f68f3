"""ConnectWise's error shapes, and only ConnectWise's: the sandbox never answers with the
gateway's own wording (did-you-mean hints and the like), so an agent tested against the sandbox
meets the messages it will meet in production.

The shapes follow what ConnectWise Manage is seen to answer:

- a body that fails validation: 400 ``{"code": "InvalidObject", "message": "ticket object is
  invalid", "errors": [{"code": "NotFound", "message": "Service Status 17 not found for Service
  Board 21", "resource": "ticket", "field": "status/id"}]}``;
- a bad ``conditions`` field: 400 ``{"code": "ApiFindCondition", "message": "typeids is not a
  recognized name."}``;
- a missing record: 404 ``{"code": "NotFound", "message": "..."}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response


class ApiError(Exception):
    """An error answer: HTTP status, ConnectWise-shaped body, extra headers."""

    def __init__(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(body.get("message"))
        self.status = status
        self.body = body
        self.headers = headers or {}

    def response(self) -> Response:
        """The error as an HTTP response."""
        return json_response(self.body, self.status, self.headers)


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A compact JSON response, as ConnectWise sends them."""
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(body, status, headers=dict(headers or {}), media_type="application/json")


def api_error(
    status: int, code: str, message: str, errors: list[dict[str, str]] | None = None, **headers: str
) -> ApiError:
    """An :class:`ApiError` with ``{"code", "message"[, "errors"]}``."""
    body: dict[str, Any] = {"code": code, "message": message}
    if errors is not None:
        body["errors"] = errors
    return ApiError(status, body, dict(headers))


def resource_name(schema: str) -> str:
    """ConnectWise's resource word for a schema: ``Ticket`` -> ``ticket``."""
    name = schema.split(".")[-1]
    return name[:1].lower() + name[1:]


def field_error(code: str, message: str, schema: str, field_path: str) -> dict[str, str]:
    """One entry of ``errors[]``."""
    return {
        "code": code,
        "message": message,
        "resource": resource_name(schema),
        "field": field_path,
    }


def invalid_object(schema: str, errors: list[dict[str, str]]) -> ApiError:
    """400 ``<resource> object is invalid`` with the field errors."""
    return api_error(400, "InvalidObject", f"{resource_name(schema)} object is invalid", errors)


def not_found(schema: str, id_: int | str) -> ApiError:
    """404 for a record that does not exist."""
    return api_error(404, "NotFound", f"{label(schema)} with id {id_} was not found.")


def unrecognized_name(name: str) -> ApiError:
    """400 for a name in ``conditions``/``orderBy`` that the resource does not have."""
    return api_error(400, "ApiFindCondition", f"{name} is not a recognized name.")


def invalid_condition(message: str) -> ApiError:
    """400 for condition text that cannot be read."""
    return api_error(400, "ApiFindCondition", message)


def invalid_parameter(name: str, raw: str) -> ApiError:
    """400 for a query parameter whose value is not of its type (``page=AAA``)."""
    message = f"The value '{raw}' is not valid for {name}."
    return api_error(
        400,
        "InvalidObject",
        "The request is invalid.",
        [{"code": "InvalidField", "message": message, "resource": "request", "field": name}],
    )


def label(schema: str) -> str:
    """``ServiceStatus`` -> ``Service Status`` (ConnectWise names records in words)."""
    name = schema.split(".")[-1]
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append(" ")
        out.append(ch)
    return "".join(out)


def pydantic_error(err: Mapping[str, Any], schema_name: str) -> dict[str, str]:
    """A pydantic validation error as one ConnectWise ``errors[]`` entry."""
    field_path = "/".join(str(p) for p in err["loc"])
    kind = err["type"]
    if kind == "missing":
        code, message = "NullObject", f"The {field_path} field is required."
    elif kind == "extra_forbidden":
        code = "InvalidField"
        message = f"{field_path} is not a recognized field."
    elif kind == "string_too_long":
        limit = err.get("ctx", {}).get("max_length")
        code = "MaxLengthField"
        message = f"The field {field_path} must be a string with a maximum length of {limit}."
    else:
        code, message = "InvalidField", f"The field {field_path} is invalid."
    return field_error(code, message, schema_name, field_path)
