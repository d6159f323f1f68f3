"""Compact tool results: default fields, collapsed references, a character budget, honest paging.

What a model reads must be small and complete about what it leaves out:

- a GET sends the resource's default ``fields`` (``fieldsets.toml``; :func:`derived_fields` for
  models it does not list) unless the caller gives ``fields`` or asks for full records;
- ``_info`` link blocks are dropped and references (``{"id", "name", "_info"}``) become
  ``[id, name]`` in tables and ``{"id", "name"}`` in records;
- a list becomes a table (columns once, one row per item) cut to a character budget; the result
  says how many items were left out and gives the exact params that fetch the next item;
- text and structured content hold the same rows (the text renders them, one line each).

Plain data in, plain data out: no MCP, no HTTP.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from cwm_generated.types import Operation, RequestSpec, Schema

__all__ = [
    "TEXT_BUDGET",
    "CompactList",
    "compact_list",
    "compact_record",
    "default_fields",
    "derived_fields",
    "field_sets",
    "next_page",
    "record_value",
    "render_cell",
    "with_default_fields",
]

FIELDSETS_FILE = Path(__file__).with_name("fieldsets.toml")
#: Characters of rendered rows (the text half) in one result; the structured half holds the same
#: rows, so a result stays near twice this plus a few lines.
TEXT_BUDGET = 3_600
#: Longer strings are cut in default (compact) results, with a marker and a note.
LONG_TEXT = 200
LIST_FIELDS = 6
RECORD_FIELDS = 14

Kind = Literal["list", "record"]

# The rule for models fieldsets.toml does not list, in order of preference.
_NAMES = ("identifier", "name", "summary", "title", "firstName", "lastName", "invoiceNumber")
_STATE = ("status", "stage", "type")
_LINKS = ("company", "member", "contact", "ticket", "project", "board", "agreement")
_DATES = ("date", "dateStart", "dateEnd", "startDate", "endDate", "timeStart", "dueDate")
_FLAGS = ("closedFlag", "inactiveFlag", "activeFlag", "defaultFlag")


@lru_cache(maxsize=1)
def field_sets() -> dict[str, dict[str, tuple[str, ...]]]:
    """The curated field sets: model → {"list": (...), "record": (...)} (read once)."""
    import tomllib

    with FIELDSETS_FILE.open("rb") as f:
        raw = tomllib.load(f)
    return {model: {k: tuple(v) for k, v in sets.items()} for model, sets in raw.items()}


def derived_fields(schema: Schema, kind: Kind) -> tuple[str, ...]:
    """Default fields for a model without a curated set: id, names, state, links, dates, flags."""
    fields = schema.fields
    limit = LIST_FIELDS if kind == "list" else RECORD_FIELDS
    chosen: list[str] = []

    def take(names: tuple[str, ...] | list[str], most: int = 99) -> None:
        for name in names:
            if most <= 0 or len(chosen) >= limit:
                return
            if name in fields and name not in chosen:
                chosen.append(name)
                most -= 1

    take(("id",))
    take(_NAMES, 2 if kind == "list" else 4)
    if not any(n in chosen for n in _NAMES):
        take(("description",))
    take(_STATE, 2)
    take(_LINKS, 1 if kind == "list" else 3)
    dated = [n for n, f in fields.items() if f.format in ("date", "date-time")]
    take([n for n in _DATES if n in dated] + dated, 1 if kind == "list" else 2)
    take(_FLAGS, 1)
    if kind == "record":  # then the remaining plain fields, in the spec's order
        take([n for n, f in fields.items() if f.type in ("string", "integer", "number", "boolean")])
    return tuple(chosen)


def _schema(model: str | None) -> Schema | None:
    if not model:
        return None
    from cwm_generated.schemas import SCHEMAS

    return SCHEMAS.get(model)


def default_fields(model: str | None, kind: Kind) -> tuple[str, ...] | None:
    """The default fields of ``model`` for a listing or one record; None when unknown."""
    curated = field_sets().get(model or "")
    if curated is not None and kind in curated:
        return curated[kind]
    schema = _schema(model)
    if schema is None or "id" not in schema.fields:
        return None
    return derived_fields(schema, kind)


def default_fields_param(op: Operation) -> str | None:
    """The ``fields`` value sent for ``op`` when the caller gives none (GETs that accept it)."""
    if op.method != "GET" or not any(p.name == "fields" for p in op.query_params):
        return None
    fields = default_fields(op.response_model, "list" if op.response_is_list else "record")
    return ",".join(fields) if fields else None


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


def _is_reference(value: dict[str, Any]) -> bool:
    return "id" in value and ("name" in value or "identifier" in value or "_info" in value)


def _label(value: dict[str, Any]) -> Any:
    return value.get("name") if value.get("name") is not None else value.get("identifier")


class _Cutter:
    """Cuts long strings (when enabled) and counts what it cut."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.cut = 0

    def text(self, value: str) -> str:
        if self.enabled and len(value) > LONG_TEXT:
            self.cut += 1
            return value[:LONG_TEXT] + "…"
        return value


def _clean(value: Any, cutter: _Cutter, as_pair: bool) -> Any:
    """Drop ``_info`` and ``*_href``, collapse references, cut long strings."""
    kind = type(value)
    if kind is int or kind is bool or kind is float or value is None:
        return value
    if isinstance(value, dict):
        if _is_reference(value):
            pair = [value["id"], _label(value)]
            return pair if as_pair else {"id": pair[0], "name": pair[1]}
        return {
            k: _clean(v, cutter, as_pair)
            for k, v in value.items()
            if k != "_info" and not k.endswith("_href")
        }
    if isinstance(value, list):
        return [_clean(v, cutter, as_pair) for v in value]
    if isinstance(value, str):
        return cutter.text(value)
    return value


def render_cell(value: Any) -> str:
    """One cell of the text table: references as ``name #id``; one line, no column bars."""
    kind = type(value)
    if kind is str:
        if "\n" in value or "|" in value or "\r" in value:
            return value.replace("\r", "").replace("\n", " ⏎ ").replace("|", "¦")
        return value
    if kind is int or kind is float:
        return str(value)
    if value is None:
        return ""
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], int):
        label = value[1]
        return f"{label} #{value[0]}" if label is not None else f"#{value[0]}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = str(value)
    return text.replace("\r", "").replace("\n", " ⏎ ").replace("|", "¦")


def record_value(value: Any) -> str:
    """A record's value in text: a collapsed reference as ``name #id``."""
    if isinstance(value, dict) and set(value) == {"id", "name"}:
        return render_cell([value["id"], value["name"]])
    return render_cell(value)


# --------------------------------------------------------------------------------------------
# Lists
# --------------------------------------------------------------------------------------------


@dataclass
class CompactList:
    """A list answer as a table, cut to the budget."""

    columns: list[str]
    rows: list[list[Any]]
    """The rows shown (the first ``len(rows)`` items)."""
    lines: list[str]
    """The text form: a header line, then one line per shown row."""
    returned: int
    cut_texts: int


def _columns(items: list[Any], requested: list[str] | None) -> list[str]:
    seen: dict[str, None] = {}
    for name in requested or ():
        seen.setdefault(name.split("/", 1)[0], None)
    for item in items:
        if isinstance(item, dict):
            for key in item:
                if key != "_info":
                    seen.setdefault(key, None)
    # Columns nobody filled say nothing.
    return [c for c in seen if any(isinstance(i, dict) and i.get(c) is not None for i in items)]


def compact_list(
    items: list[Any], requested: list[str] | None, *, cut_long: bool, budget: int = TEXT_BUDGET
) -> CompactList:
    """Items as a table of ``columns`` and ``rows`` that fits ``budget`` text characters."""
    cutter = _Cutter(cut_long)
    columns = _columns(items, requested)
    header = " | ".join(columns)
    lines, rows, used = [header], [], len(header)
    for item in items:
        if isinstance(item, dict):
            row = [_clean(item.get(c), cutter, as_pair=True) for c in columns]
        else:
            row = [_clean(item, cutter, as_pair=True)]
        line = " | ".join(render_cell(v) for v in row)
        if rows and used + len(line) + 1 > budget:
            break
        rows.append(row)
        lines.append(line)
        used += len(line) + 1
    return CompactList(columns, rows, lines, len(items), cutter.cut)


def full_list(items: list[Any], budget: int = TEXT_BUDGET * 2) -> tuple[list[Any], list[str]]:
    """Full records as returned, one JSON line each, cut to ``budget`` text characters."""
    shown, lines, used = [], [], 0
    for item in items:
        line = json.dumps(item, ensure_ascii=False, separators=(",", ":"), default=str)
        if shown and used + len(line) + 1 > budget:
            break
        shown.append(item)
        lines.append(line)
        used += len(line) + 1
    return shown, lines


def next_page(params: dict[str, Any], page: int, page_size: int, shown: int) -> dict[str, Any]:
    """Params whose first item is the one after the ``shown`` items of this page.

    Page ``page`` of size ``page_size`` starts at item ``(page - 1) * page_size + 1``; after
    ``shown`` of them the next one is ``offset + 1`` with ``offset = (page - 1) * page_size +
    shown``. ConnectWise pages by ``page`` and ``pageSize``, so the next page size must divide
    ``offset``: the largest divisor not above ``shown`` (on page 1 that is ``shown`` itself).
    """
    offset = (page - 1) * page_size + shown
    size = max(1, shown)
    if offset % size:
        size = max(d for d in _divisors(offset) if d <= size)
    out = {k: v for k, v in params.items() if k not in ("page", "pageSize", "pageId")}
    out["page"] = offset // size + 1
    out["pageSize"] = size
    return out


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return small + [n // d for d in small]


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


def compact_record(
    record: dict[str, Any], keep: tuple[str, ...] | None, *, cut_long: bool
) -> tuple[dict[str, Any], int, int]:
    """One record: ``keep`` fields (all when None), references as ``{id, name}``, no ``_info``.

    Returns the record, how many filled fields were left out and how many long texts were cut.
    """
    cutter = _Cutter(cut_long)
    names = [k for k in record if k != "_info"]
    chosen = names if keep is None else ["id", *(k for k in keep if k != "id")]
    out = {
        k: _clean(record[k], cutter, as_pair=False)
        for k in chosen
        if k in record and record[k] is not None
    }
    left_out = sum(1 for k in names if k not in out and record[k] is not None)
    return out, left_out, cutter.cut


def with_default_fields(spec: RequestSpec[Any]) -> RequestSpec[Any]:
    """``spec`` with the default ``fields`` of its operation when the caller gave none."""
    if "fields" in spec.params:
        return spec
    default = default_fields_param(spec.operation)
    if default is None:
        return spec
    return spec._replace(params={**spec.params, "fields": default})
