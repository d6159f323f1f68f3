"""Request bodies: read them, and validate them against the generated models, with
ConnectWise's answers for a missing, malformed or invalid body."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request

from cwm_gateway.sandbox import errors


async def read_json(request: Request, op: Any) -> Any:
    """The JSON body of ``request`` (None when the operation takes none, or for multipart)."""
    if op.body_kind is None or op.body_kind == "multipart":
        return None
    raw = await request.body()
    resource = errors.resource_name(op.body_model or "request")
    if not raw.strip():
        if op.body_required:
            raise errors.api_error(
                400,
                "InvalidObject",
                f"{resource} object is required",
                [errors.field_error("NullObject", "The request body is required.", resource, "")],
            )
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise errors.api_error(
            400,
            "InvalidObject",
            "The request body could not be read as JSON.",
            [errors.field_error("InvalidObject", "Malformed JSON body.", resource, "")],
        ) from None


def validate(schema_name: str | None, body: Any) -> dict[str, Any]:
    """``body`` checked against the model ``schema_name``, as the JSON it would be stored as."""
    from cwm_generated.models import load_model

    if not schema_name:
        return dict(body) if isinstance(body, dict) else {}
    if not isinstance(body, dict):
        raise errors.invalid_object(
            schema_name,
            [errors.field_error("InvalidObject", "Expected a JSON object.", schema_name, "")],
        )
    try:
        instance = load_model(schema_name).validate_request(body)  # unknown fields refused
    except ValidationError as exc:
        raise errors.invalid_object(
            schema_name, [errors.pydantic_error(e, schema_name) for e in exc.errors()]
        ) from None
    return instance.model_dump(mode="json", by_alias=True, exclude_none=True)


def validate_list(schema_name: str | None, body: Any) -> list[dict[str, Any]]:
    """An array body, each item checked; errors name the item index."""
    if not isinstance(body, list):
        resource = schema_name or "request"
        raise errors.invalid_object(
            resource, [errors.field_error("InvalidObject", "Expected a JSON array.", resource, "")]
        )
    out, problems = [], []
    for i, item in enumerate(body):
        try:
            out.append(validate(schema_name, item))
        except errors.ApiError as exc:
            for err in exc.body.get("errors", []):
                problems.append({**err, "field": f"{i}/{err['field']}".rstrip("/")})
    if problems:
        raise errors.api_error(400, "InvalidObject", "One or more objects are invalid", problems)
    return out


_PATCH_OPS = ("add", "replace", "remove")


def check_patch(body: Any, schema_name: str, schemas: Any) -> list[dict[str, Any]]:
    """A JSON Patch body: a list of ``{"op", "path"[, "value"]}`` whose paths start with a
    field of ``schema_name`` (values are checked when the patched record is validated)."""
    resource = "patchOperation"
    if not isinstance(body, list) or not body:
        raise errors.invalid_object(
            resource,
            [
                errors.field_error(
                    "InvalidObject", "Expected a JSON array of operations.", resource, ""
                )
            ],
        )
    fields = {name.lower() for name in getattr(schemas.get(schema_name), "fields", {})}
    problems = []
    for i, entry in enumerate(body):
        if not isinstance(entry, dict):
            problems.append(
                errors.field_error("InvalidObject", "Expected an operation.", resource, str(i))
            )
            continue
        op, path = entry.get("op"), entry.get("path")
        if not isinstance(op, str) or op.lower() not in _PATCH_OPS:
            problems.append(
                errors.field_error("InvalidField", f"{op} is not a valid op.", resource, f"{i}/op")
            )
        elif not isinstance(path, str) or not path.strip("/"):
            problems.append(
                errors.field_error("NullObject", "The path is required.", resource, f"{i}/path")
            )
        elif fields and path.strip("/").split("/")[0].lower() not in fields:
            problems.append(
                errors.field_error(
                    "InvalidField",
                    f"{path.strip('/')} is not a recognized field.",
                    schema_name,
                    path.strip("/"),
                )
            )
    if problems:
        raise errors.invalid_object(resource, problems)
    return body
