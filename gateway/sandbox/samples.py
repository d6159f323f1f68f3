"""Schema-valid sample documents built from the generated field table.

Used for operations that have no stored resource behind them (reports, actions, "info"
endpoints) and to give never-seeded collections a few records, so every operation answers.
Samples are deterministic: the same schema and seed always give the same document.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

SAMPLE_TIME = "2025-01-15T09:30:00Z"
SAMPLE_DATE = "2025-01-15"
SAMPLE_UUID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
_MAX_DEPTH = 2


def _schemas() -> dict[str, Any]:
    from cwm_generated.schemas import SCHEMAS

    return SCHEMAS


def info(updated_by: str = "sandbox", when: str = SAMPLE_TIME) -> dict[str, str]:
    """The ``_info`` block ConnectWise puts on records."""
    return {"lastUpdated": when, "updatedBy": updated_by}


def sample(schema_name: str | None, seed: int = 1) -> Any:
    """A fresh sample document for ``schema_name`` (``{}`` when the schema is unknown)."""
    if not schema_name:
        return {}
    return copy.deepcopy(_cached(schema_name, seed))


@lru_cache(maxsize=4096)
def _cached(schema_name: str, seed: int) -> Any:
    return _build(schema_name, seed, 0, ())


def _build(schema_name: str, seed: int, depth: int, trail: tuple[str, ...]) -> dict[str, Any]:
    schema = _schemas().get(schema_name)
    if schema is None:
        return {}
    doc: dict[str, Any] = {}
    for name, f in schema.fields.items():
        value = _value(schema, name, f, seed, depth, trail + (schema_name,))
        if value is not _SKIP:
            doc[name] = value
    return doc


_SKIP: Any = object()


def _value(schema: Any, name: str, f: Any, seed: int, depth: int, trail: tuple[str, ...]) -> Any:
    if name == "_info":
        return info()
    if name == "id" and f.type == "integer":
        return seed
    if f.ref is not None:
        # Deep or cyclic object graphs stop at references that are not required.
        if f.ref in trail or depth >= _MAX_DEPTH:
            if not f.required:
                return _SKIP
            if f.ref in trail and depth >= _MAX_DEPTH + 2:
                return None if f.nullable else {}
        inner = _build(f.ref, seed, depth + 1, trail)
        return [inner] if f.type == "array" else inner
    if f.enum:
        return f.enum[0]
    if f.type == "string":
        return _string(schema, name, f, seed)
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
    return _SKIP if not f.required else None


def _string(schema: Any, name: str, f: Any, seed: int) -> str:
    fmt = f.format or ""
    if fmt == "date-time":
        return SAMPLE_TIME
    if fmt == "date":
        return SAMPLE_DATE
    if fmt == "uuid":
        return SAMPLE_UUID
    if fmt in ("byte", "binary"):
        return ""
    low = name.lower()
    if "email" in low:
        text = f"sample{seed}@example.com"
    elif low.endswith("date") or low.startswith("date"):
        text = SAMPLE_TIME
    elif "url" in low or "href" in low:
        text = "https://example.com/"
    elif "phone" in low or low.endswith("fax"):
        text = "555-0100"
    elif "identifier" in low:
        text = f"Sample{seed}"
    elif low == "name" or low.endswith("name"):
        text = f"Sample {schema.class_name} {seed}"
    else:
        text = f"Sample {name} {seed}"
    return text[: f.max_length] if f.max_length else text


def binary(path: str) -> bytes:
    """A small, recognisable file for operations that return one (a PDF or a PNG)."""
    if path.endswith("/pdf"):
        return b"%PDF-1.4\n% cwm-gateway sandbox sample\n%%EOF\n"
    return b"\x89PNG\r\n\x1a\n" + b"cwm-gateway sandbox sample"
