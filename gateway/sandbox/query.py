"""List-query semantics: conditions, orderBy, fields projection, page links.

The conditions language itself lives in :mod:`cwm_gateway.conditions`; this module only applies
it to stored documents, so the sandbox filters exactly as the client-side checker expects.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cwm_gateway import conditions as _conditions
from cwm_gateway.errors import Problem

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 1000


def check_conditions(text: str, schema: str, param: str) -> list[Problem]:
    """Problems with a conditions-language parameter against the item schema."""
    if param == "customFieldConditions":
        return _conditions.check_custom_field_conditions(text)
    return _conditions.check_field_paths(text, schema, param)


def matcher(text: str, custom_fields: bool = False) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate for documents; ``custom_fields`` matches any element of ``customFields``."""
    expr = _conditions.parse(text)
    if custom_fields:
        return lambda doc: any(
            isinstance(cf, Mapping) and _conditions.evaluate(expr, cf)
            for cf in doc.get("customFields") or ()
        )
    return lambda doc: _conditions.evaluate(expr, doc)


def check_order_by(text: str, schema: str) -> list[Problem]:
    """Problems with ``orderBy``."""
    return _conditions.check_order_by(text, schema)


def check_fields(text: str, schema: str) -> list[Problem]:
    """Problems with ``fields``."""
    return _conditions.check_fields(text, schema)


def _get(doc: Any, path: str) -> Any:
    current = doc
    for seg in path.split("/"):
        if not isinstance(current, Mapping):
            return None
        if seg in current:
            current = current[seg]
            continue
        low = seg.lower()
        current = next((v for k, v in current.items() if k.lower() == low), None)
    return current


def _sort_key(value: Any) -> tuple:
    # SQL Server order: NULLs first ascending, text case-insensitive.
    if value is None:
        return (0, 0, 0)
    if isinstance(value, bool):
        return (1, 0, int(value))
    if isinstance(value, (int, float)):
        return (1, 1, value)
    if isinstance(value, str):
        return (1, 2, value.lower())
    return (1, 3, str(value))


def order(docs: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """Sort by ``field [asc|desc], ...`` (stable; later keys break ties of earlier ones)."""
    keys = []
    for item in text.split(","):
        words = item.split()
        if words:
            keys.append((words[0], len(words) > 1 and words[1].lower() == "desc"))
    result = list(docs)
    for path, desc in reversed(keys):
        result.sort(key=lambda d, p=path: _sort_key(_get(d, p)), reverse=desc)
    return result


def project(doc: Mapping[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """Only the listed field paths (``company/name`` keeps ``{"company": {"name": ...}}``)."""
    out: dict[str, Any] = {}
    for path in paths:
        _copy_path(doc, out, path.strip().split("/"))
    return out


def _copy_path(src: Any, dst: dict[str, Any], segs: list[str]) -> None:
    if not isinstance(src, Mapping) or not segs:
        return
    head, rest = segs[0], segs[1:]
    key = head if head in src else next((k for k in src if k.lower() == head.lower()), None)
    if key is None:
        return
    value = src[key]
    if not rest:
        dst[key] = copy.deepcopy(value)
    elif isinstance(value, Mapping):
        _copy_path(value, dst.setdefault(key, {}), rest)
    elif isinstance(value, list):
        items = dst.setdefault(key, [{} for _ in value])
        for src_item, dst_item in zip(value, items, strict=False):
            _copy_path(src_item, dst_item, rest)
