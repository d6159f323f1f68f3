"""JSON-Patch style bodies for ConnectWise PATCH operations.

ConnectWise PATCH endpoints take a list of ``{"op", "path", "value"}`` objects whose ``path`` is a
field (or a ``/``-separated nested field) of the resource. The server's answer to a wrong path
is unhelpful, so these are checked against the generated field graph first.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cwm_gateway.errors import Problem, json_kind, json_type, with_article

__all__ = ["PATCH_OPS", "build_patch_ops", "check_patch_ops"]

#: The operations ConnectWise accepts in a PATCH body.
PATCH_OPS = ("add", "replace", "remove")


def build_patch_ops(changes: Mapping[str, Any], op: str = "replace") -> list[dict[str, Any]]:
    """Turn ``{"summary": "New", "status/id": 5}`` into a PATCH body.

    Each key is a field path (nested fields with ``/``). With ``op="remove"`` the values are
    ignored and no ``value`` is sent.
    """
    if op not in PATCH_OPS:
        raise ValueError(f"op must be one of {', '.join(PATCH_OPS)}, not {op!r}")
    if not isinstance(changes, Mapping):
        raise TypeError(
            f"changes must be a mapping of field path to value, not {type(changes).__name__}"
        )
    ops: list[dict[str, Any]] = []
    for path, value in changes.items():
        if not isinstance(path, str) or not path.strip("/"):
            raise ValueError(f"{path!r} is not a field path")
        entry: dict[str, Any] = {"op": op, "path": path}
        if op != "remove":
            entry["value"] = value
        ops.append(entry)
    return ops


def _default_schemas() -> Mapping[str, Any]:
    from cwm_generated.schemas import SCHEMAS

    return SCHEMAS


def _lookup(fields: Mapping[str, Any], name: str) -> tuple[str, Any] | None:
    if name in fields:
        return name, fields[name]
    low = name.lower()
    for key, f in fields.items():
        if key.lower() == low:
            return key, f
    return None


def _hint_for(name: str, schema: Any, prefix: str) -> str:
    names = list(schema.fields)
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    parts = []
    if close:
        parts.append("did you mean " + ", ".join(f"'{prefix}{c}'" for c in close) + "?")
    shown = ", ".join(names[:12]) + (f", ... ({len(names)} fields)" if len(names) > 12 else "")
    parts.append(f"fields of {schema.name}: {shown}")
    return " ".join(parts)


def _value_problems(
    where: str, path: str, field: Any, value: Any, schemas: Mapping[str, Any]
) -> list[Problem]:
    if value is None:
        if field.required and not field.nullable:
            return [Problem(where, f"'{path}' is required and cannot be set to null")]
        return []
    ftype = field.type
    got = json_type(value)
    if ftype == "any":
        return []
    if ftype == "object" and field.ref is None:
        return []
    ok = {
        "string": got == "string",
        "integer": got == "integer",
        "number": got in ("integer", "number"),
        "boolean": got == "boolean",
        "object": got == "object",
        "array": got == "array",
    }.get(ftype, True)
    if not ok:
        expected = f"an object ({field.ref})" if ftype == "object" else with_article(ftype)
        example = ' e.g. {"id": 5}' if ftype == "object" and field.ref else ""
        return [
            Problem(
                where,
                f"'{path}' takes {expected}, not {with_article(got)}",
                example.strip() or None,
            )
        ]
    problems: list[Problem] = []
    if ftype == "string":
        if field.enum and value not in field.enum:
            problems.append(
                Problem(
                    where,
                    f"{value!r} is not a value of '{path}'",
                    "allowed: " + ", ".join(field.enum),
                )
            )
        if field.max_length is not None and len(value) > field.max_length:
            problems.append(
                Problem(
                    where,
                    f"'{path}' is at most {field.max_length} characters, got {len(value)}",
                )
            )
        if field.format == "date-time":
            try:
                datetime.fromisoformat(value)
            except ValueError:
                problems.append(
                    Problem(where, f"{value!r} is not a date-time", "e.g. 2024-01-31T17:00:00Z")
                )
    elif ftype == "object" and field.ref:
        sub = schemas.get(field.ref)
        if sub is not None:
            for key in value:
                if _lookup(sub.fields, str(key)) is None:
                    problems.append(
                        Problem(
                            where,
                            f"'{key}' is not a field of {sub.name} (in '{path}')",
                            _hint_for(str(key), sub, ""),
                        )
                    )
    return problems


def check_patch_ops(
    ops: Any, schema_name: str, *, schemas: Mapping[str, Any] | None = None
) -> list[Problem]:
    """Problems with a PATCH body ``ops`` for a resource of schema ``schema_name``.

    Checks the shape (a list of objects), ``op`` (add/replace/remove), that ``path`` is a field
    or nested field of the schema and not read-only, that ``value`` is present except for
    ``remove`` and roughly matches the field's type. Unknown schemas are checked for shape only.
    """
    if not isinstance(ops, list):
        return [
            Problem(
                "body",
                f"a PATCH body is a list of operations, not {json_kind(ops)}",
                'e.g. [{"op": "replace", "path": "summary", "value": "New title"}]',
            )
        ]
    if not ops:
        return [Problem("body", "the PATCH body has no operations", "add at least one")]
    schemas = _default_schemas() if schemas is None else schemas
    root = schemas.get(schema_name)
    problems: list[Problem] = []
    for i, entry in enumerate(ops):
        where = f"body[{i}]"
        if not isinstance(entry, Mapping):
            problems.append(
                Problem(where, f"must be an object with op, path and value, not {json_kind(entry)}")
            )
            continue
        extra = sorted(set(entry) - {"op", "path", "value"})
        if extra:
            problems.append(
                Problem(
                    where, f"unknown key(s) {', '.join(map(repr, extra))}", "keys: op, path, value"
                )
            )
        op = entry.get("op")
        if op not in PATCH_OPS:
            hint = "one of: " + ", ".join(PATCH_OPS)
            problems.append(Problem(f"{where}.op", f"{op!r} is not a patch operation", hint))
            op = None
        path = entry.get("path")
        if not isinstance(path, str) or not path.strip("/"):
            problems.append(
                Problem(f"{where}.path", "must be a field name such as 'summary' or 'status/id'")
            )
            continue
        if op in ("add", "replace") and "value" not in entry:
            problems.append(Problem(f"{where}.value", f"'{op}' needs a value"))
        if root is None:
            continue
        field, problem = _resolve(path.strip("/"), root, schemas, f"{where}.path")
        if problem is not None:
            problems.append(problem)
            continue
        if field is None or op == "remove" or "value" not in entry:
            continue
        problems.extend(
            _value_problems(f"{where}.value", path.strip("/"), field, entry["value"], schemas)
        )
    return problems


def _resolve(
    path: str, root: Any, schemas: Mapping[str, Any], where: str
) -> tuple[Any, Problem | None]:
    """The Field at ``path`` (None when free-form) or a Problem."""
    current = root
    done: list[str] = []
    field = None
    for seg in path.split("/"):
        if current is None:
            return None, None  # inside a free-form object
        found = _lookup(current.fields, seg)
        if found is None:
            prefix = "/".join(done) + "/" if done else ""
            return None, Problem(
                where,
                f"'{path}' is not a field of {root.name}",
                _hint_for(seg, current, prefix),
            )
        key, field = found
        done.append(key)
        # A nested "id" picks a reference ("status/id"); only the resource's own id is fixed.
        if key == "_info" or (key == "id" and len(done) == 1) or field.read_only:
            return None, Problem(where, f"'{'/'.join(done)}' is read-only and cannot be changed")
        if key == "customFields":
            return (field if len(done) == len(path.split("/")) else None), None
        if field.ref is not None:
            current = schemas.get(field.ref)
        elif field.type in ("object", "any"):
            current = None
        elif len(done) < len(path.split("/")):
            return None, Problem(
                where,
                f"'{path}' is not a field of {root.name}: '{'/'.join(done)}' is a "
                f"{field.type} and has no sub-fields",
            )
    return field, None


def canonical_patch_ops(
    ops: list[Mapping[str, Any]], schema_name: str, *, schemas: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """``ops`` (already checked by :func:`check_patch_ops`) in the one spelling that is sent.

    Op paths become the schema's field path (``/ClosedFlag/`` → ``closedFlag``), and a change
    to one member of a reference (``status/id``, ``/status/name``) becomes a change of the
    reference itself (``status`` = ``{"id": …}``), merged per reference. ConnectWise treats
    the two forms alike; the canonical one lets a policy rule on ``body.*.path`` (``status``)
    see every spelling of the same change.
    """
    schemas = _default_schemas() if schemas is None else schemas
    root = schemas.get(schema_name)
    out: list[dict[str, Any]] = []
    merged: dict[str, dict[str, Any]] = {}
    for entry in ops:
        op = entry["op"]
        raw_path = str(entry["path"]).strip("/")
        keys = _canonical_keys(raw_path, root, schemas)
        canonical: dict[str, Any] = {"op": op, "path": "/".join(keys)}
        if "value" in entry:
            canonical["value"] = entry["value"]
        if root is not None and op in ("add", "replace") and len(keys) > 1 and "value" in entry:
            found = _lookup(root.fields, keys[0])
            if found is not None and (found[1].ref or "").endswith("Reference"):
                value: Any = entry["value"]
                for key in reversed(keys[1:]):
                    value = {key: value}
                target = merged.get(keys[0])
                if target is None:
                    target = merged[keys[0]] = {"op": "replace", "path": keys[0], "value": {}}
                    out.append(target)
                _merge(target["value"], value)
                continue
        out.append(canonical)
    return out


def _canonical_keys(path: str, root: Any, schemas: Mapping[str, Any]) -> list[str]:
    """The segments of ``path`` spelled as the schema spells them (unknown ones as given)."""
    keys: list[str] = []
    current = root
    for seg in path.split("/"):
        found = _lookup(current.fields, seg) if current is not None else None
        if found is None:
            keys.append(seg)
            current = None
            continue
        key, field = found
        keys.append(key)
        current = schemas.get(field.ref) if field.ref is not None else None
    return keys


def _merge(into: dict[str, Any], value: dict[str, Any]) -> None:
    for key, item in value.items():
        if isinstance(item, dict) and isinstance(into.get(key), dict):
            _merge(into[key], item)
        else:
            into[key] = item
