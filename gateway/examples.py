"""Example values built from the generated schema table: the one generator.

Two shapes are built from the same per-field values:

- :func:`minimal_object` — only the required fields, references as ``{"id": 1}``: the smallest
  body a model accepts (the catalog's "minimal valid body" for agents);
- :func:`full_object` — every field, nested objects filled to a small depth, numbered by
  ``seed``: a realistic record (the sandbox's sample answers and sample records).

Values are deterministic: the same schema and seed always give the same value. Strings follow
the field's format (dates, uuids) and name (e-mails, URLs, phones, identifiers) and are cut to
the field's maximum length; enums take their first value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cwm_generated.types import Field, Schema

EXAMPLE_DATETIME = "2025-01-15T09:30:00Z"
EXAMPLE_DATE = "2025-01-15"
EXAMPLE_UUID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
#: How deep :func:`full_object` nests objects that are not required.
FULL_DEPTH = 2
#: How deep :func:`minimal_object` follows required embedded objects.
MINIMAL_DEPTH = 4

_SKIP: Any = object()


def _schemas() -> Mapping[str, Schema]:
    from cwm_generated.schemas import SCHEMAS

    return SCHEMAS


def info(updated_by: str = "sandbox", when: str = EXAMPLE_DATETIME) -> dict[str, str]:
    """The ``_info`` block ConnectWise puts on records."""
    return {"lastUpdated": when, "updatedBy": updated_by}


def text_value(name: str, f: Field, seed: int = 1, owner: str = "") -> str:
    """An example string for field ``name`` (``owner`` is the schema's class name)."""
    fmt = f.format or ""
    if fmt == "date-time":
        return EXAMPLE_DATETIME
    if fmt == "date":
        return EXAMPLE_DATE
    if fmt == "uuid":
        return EXAMPLE_UUID
    if fmt in ("byte", "binary"):
        return ""
    suffix = "" if seed == 1 else f" {seed}"
    low = name.lower()
    if "email" in low:
        text = f"example{seed}@example.com"
    elif low.endswith("date") or low.startswith("date"):
        text = EXAMPLE_DATETIME
    elif "url" in low or "href" in low:
        text = "https://example.com/"
    elif "phone" in low or low.endswith("fax"):
        text = "555-0100"
    elif "identifier" in low:
        text = f"Example{seed}"
    elif (low == "name" or low.endswith("name")) and owner:
        text = f"Example {owner}{suffix}"
    else:
        text = f"Example {name}{suffix}"
    return text[: f.max_length] if f.max_length else text


def scalar_value(name: str, f: Field, seed: int = 1, owner: str = "") -> Any:
    """An example value for a field that is not an object: enum, text, number, flag, list."""
    if f.enum:
        return f.enum[0]
    if f.type == "string":
        return text_value(name, f, seed, owner)
    if f.type == "integer":
        return seed
    if f.type == "number":
        return float(seed)
    if f.type == "boolean":
        return False
    if f.type == "array":
        return []
    if f.type == "object":
        return {}
    return "example"


def minimal_object(
    schema: Schema, schemas: Mapping[str, Schema] | None = None, depth: int = 0
) -> dict[str, Any]:
    """The required fields of ``schema``; references to other records as ``{"id": 1}``."""
    schemas = _schemas() if schemas is None else schemas
    return {
        name: minimal_value(name, f, schemas, depth)
        for name, f in schema.fields.items()
        if f.required
    }


def minimal_value(
    name: str, f: Field, schemas: Mapping[str, Schema] | None = None, depth: int = 0
) -> Any:
    """An example value for one field; a reference to another record is ``{"id": 1}``."""
    schemas = _schemas() if schemas is None else schemas
    target = schemas.get(f.ref or "") if f.type == "object" else None
    if target is None:
        return scalar_value(name, f)
    if "id" in target.fields:
        return {"id": 1}  # a reference: the id is what ConnectWise needs
    return minimal_object(target, schemas, depth + 1) if depth < MINIMAL_DEPTH else {}


def full_object(
    schema_name: str, seed: int = 1, schemas: Mapping[str, Schema] | None = None
) -> dict[str, Any]:
    """Every field of ``schema_name`` (``{}`` for an unknown schema), numbered by ``seed``."""
    schemas = _schemas() if schemas is None else schemas
    return _full(schemas, schema_name, seed, 0, ())


def _full(
    schemas: Mapping[str, Schema], name: str, seed: int, depth: int, trail: tuple[str, ...]
) -> dict[str, Any]:
    schema = schemas.get(name)
    if schema is None:
        return {}
    doc: dict[str, Any] = {}
    for field_name, f in schema.fields.items():
        value = _full_value(schemas, schema, field_name, f, seed, depth, trail + (name,))
        if value is not _SKIP:
            doc[field_name] = value
    return doc


def _full_value(
    schemas: Mapping[str, Schema],
    schema: Schema,
    name: str,
    f: Field,
    seed: int,
    depth: int,
    trail: tuple[str, ...],
) -> Any:
    if name == "_info":
        return info()
    if name == "id" and f.type == "integer":
        return seed
    if f.ref is not None:
        # Deep or cyclic object graphs stop at references that are not required.
        if f.ref in trail or depth >= FULL_DEPTH:
            if not f.required:
                return _SKIP
            if f.ref in trail and depth >= FULL_DEPTH + 2:
                return None if f.nullable else {}
        inner = _full(schemas, f.ref, seed, depth + 1, trail)
        return [inner] if f.type == "array" else inner
    if f.type not in ("string", "integer", "number", "boolean", "array", "object") and not f.enum:
        return _SKIP if not f.required else None
    return scalar_value(name, f, seed, schema.class_name)
