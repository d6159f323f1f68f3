"""The field table of one schema, as rendered into ``cwm_generated.schemas``."""

from __future__ import annotations

from typing import Any

from codegen.spec_loader import ref_name


def _field_literal(prop: dict[str, Any], required: bool) -> str:
    ref = None
    ftype = prop.get("type")
    if "$ref" in prop:
        ref, ftype = ref_name(prop["$ref"]), "object"
    elif ftype == "array":
        items = prop.get("items") or {}
        if "$ref" in items:
            ref = ref_name(items["$ref"])
    elif ftype is None:
        ftype = "any"
    enum = tuple(str(v) for v in prop["enum"]) if prop.get("enum") else None
    return (
        f"{ftype!r}, {prop.get('format')!r}, {ref!r}, {required!r}, "
        f"{bool(prop.get('nullable', False))!r}, {enum!r}, {prop.get('maxLength')!r}, "
        f"{bool(prop.get('readOnly', False))!r}"
    )


def field_rows(schema: dict[str, Any]) -> list[tuple[str, str]]:
    """``(field name, Field(...) arguments)`` for each property, in spec order."""
    required = set(schema.get("required") or [])
    return [
        (name, _field_literal(prop, name in required))
        for name, prop in (schema.get("properties") or {}).items()
    ]
