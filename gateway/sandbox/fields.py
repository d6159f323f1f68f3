"""How ConnectWise resolves the field names of ``conditions``, ``childConditions``, ``orderBy``
and ``fields`` against a resource.

This is the sandbox's own reading of the field graph, written apart from the gateway's checker
(:mod:`cwm_gateway.conditions.checks`) on purpose: the sandbox is the independent stand-in that
the gateway's checks are tested against, so a mistake shared by both would go unnoticed.

ConnectWise's rules, as the sandbox applies them:

- names match case-insensitively; ``a/b`` follows a reference object (``company/name``);
- ``conditions`` and ``orderBy`` name plain fields and fields of referenced objects, never a
  field inside a child collection: ``communicationItems/value`` on a contact is "not a
  recognized name" there; such fields belong in ``childConditions``;
- ``childConditions`` name fields inside a child collection (an array of objects);
- the audit values of ``_info`` (``lastUpdated``, ``dateEntered``...) are accepted at the top
  level of a record that has ``_info``;
- ``fields`` may name any field, child collections included.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_AUDIT_NAMES = frozenset({"lastupdated", "dateentered", "enteredby", "updatedby"})
_INFO = "_info"


def _lookup(fields: Mapping[str, Any], name: str) -> Any:
    found = fields.get(name)
    if found is not None:
        return found
    low = name.lower()
    return next((f for key, f in fields.items() if key.lower() == low), None)


def resolve(schemas: Mapping[str, Any], schema_name: str, path: str, *, child: bool) -> bool:
    """Whether ``path`` names a field of ``schema_name`` under ConnectWise's rules.

    ``child`` selects the ``childConditions`` rule: the path must go through a child
    collection. Otherwise it must not. Unknown schemas accept everything (nothing to check).
    """
    schema = schemas.get(schema_name)
    if schema is None:
        return True
    crossed_array = False
    segments = path.split("/")
    for i, seg in enumerate(segments):
        if schema is None:
            return False
        f = _lookup(schema.fields, seg)
        if f is None:
            top_audit = i == 0 and seg.lower() in _AUDIT_NAMES and _INFO in schema.fields
            return top_audit and len(segments) == 1 and not child
        if seg.lower() == _INFO:
            return len(segments) == 2 and segments[1].lower() in _AUDIT_NAMES and not child
        if f.type == "array":
            crossed_array = True
        last = i == len(segments) - 1
        if f.ref is not None:
            schema = schemas.get(f.ref)
            if last:
                return False  # an object is not a value: name one of its fields
        elif not last:
            return False  # a plain value has no sub-fields
    return crossed_array if child else not crossed_array


def resolve_projection(schemas: Mapping[str, Any], schema_name: str, path: str) -> bool:
    """Whether ``path`` may appear in ``fields`` (any field, objects and arrays included)."""
    schema = schemas.get(schema_name)
    if schema is None:
        return True
    for seg in path.split("/"):
        if schema is None:
            return False
        f = _lookup(schema.fields, seg)
        if f is None:
            return False
        if seg.lower() == _INFO:
            return True
        schema = schemas.get(f.ref) if f.ref is not None else None
    return True
