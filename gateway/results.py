"""Structured results of the MCP tools (their output schemas) and their readable text forms.

Each result is a Pydantic model: the server publishes its JSON schema as the tool's output
schema, sends the model as structured content and :meth:`text` as the readable content.
"""

from __future__ import annotations

import json
import types
import typing
from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from cwm_gateway.compact import record_value, render_cell
from cwm_gateway.memory import SavedQuery

if TYPE_CHECKING:
    from cwm_generated.types import Operation


class _Model(BaseModel):
    # Validators are built when a model is first used, not at import: the server imports these
    # before its first tools/list, which reads only their fields (see concise_schema).
    model_config = ConfigDict(defer_build=True)


class _Result(_Model):
    def text(self) -> str:  # pragma: no cover - every subclass overrides
        return self.model_dump_json(indent=2)


class Endpoint(_Model):
    """One operation in a listing or a search answer."""

    method: str
    path: str
    summary: str
    operation_id: str
    category: str
    tag: str
    risk: str
    score: float | None = None
    why: str | None = None

    @classmethod
    def of(cls, op: Operation, score: float | None = None, why: str | None = None) -> Endpoint:
        """The listing line of a registry operation (first line of its summary)."""
        return cls(
            method=op.method,
            path=op.path,
            summary=op.summary.splitlines()[0] if op.summary else op.operation_id,
            operation_id=op.operation_id,
            category=op.category,
            tag=op.tag,
            risk=op.risk,
            score=score,
            why=why,
        )

    def line(self) -> str:
        score = f"  [{self.why}]" if self.why else ""
        return f"{self.method:6} {self.path}  — {self.summary} (risk: {self.risk}){score}"


class SearchResult(_Result):
    # Results do not echo the arguments: the model has them in its own call, and every
    # character of a result (and of tools/list, where the output schema names each field)
    # counts against its context.
    results: list[Endpoint]

    def text(self) -> str:
        if not self.results:
            return (
                "No operations match. Try other words (e.g. 'tickets', 'time entries', "
                "'companies') or list_api_categories()."
            )
        lines = [f"{len(self.results)} operations:"]
        lines += [f"{i}. {e.line()}" for i, e in enumerate(self.results, 1)]
        lines.append("Next: get_api_endpoint_details(path, method) for parameters and body fields.")
        return "\n".join(lines)


class TagSummary(_Model):
    name: str
    operation_count: int


class Category(_Model):
    name: str
    operation_count: int
    tags: list[TagSummary]


class CategoriesResult(_Result):
    total_operations: int
    categories: list[Category]

    def text(self) -> str:
        lines = [f"{len(self.categories)} modules, {self.total_operations} operations:"]
        for c in self.categories:
            tags = ", ".join(t.name for t in c.tags[:8])
            more = f" … (+{len(c.tags) - 8} more)" if len(c.tags) > 8 else ""
            lines.append(f"- {c.name} ({c.operation_count} ops): {tags}{more}")
        lines.append("Next: get_category_endpoints('service') or a tag such as 'Tickets'.")
        return "\n".join(lines)


class CategoryEndpointsResult(_Result):
    name: str
    kind: str
    total: int
    truncated: bool
    endpoints: list[Endpoint]

    def text(self) -> str:
        lines = [f"{self.kind} {self.name}: {self.total} operations"]
        lines += [f"- {e.line()}" for e in self.endpoints]
        if self.truncated:
            lines.append(
                f"Showing {len(self.endpoints)} of {self.total}; raise max_results or pick a tag."
            )
        return "\n".join(lines)


class FieldList(_Model):
    """The fields of a body or response model, one line each (``name: type, required, …``)."""

    model: str | None = None
    kind: str
    """For a body: object, array, patch or multipart; for a response: list, object, file…"""
    lines: list[str]
    """Every field (or every field matching the filter): never cut."""
    total: int
    """Fields of the model; more than ``len(lines)`` only when a filter is set."""
    note: str | None = None


class EndpointDetailsResult(_Result):
    operation_id: str
    method: str
    path: str
    summary: str
    risk: str
    category: str
    tag: str
    other_methods: list[str]
    path_params: list[str]
    query_params: list[str]
    body: FieldList | None = None
    response: FieldList | None = None
    default_fields: list[str] | None = None
    """The fields a compact result of this GET carries when the caller gives no ``fields``."""
    example_body: Any = None

    def text(self) -> str:
        lines = [
            f"{self.method} {self.path} — {self.summary} (risk {self.risk}, "
            f"{self.operation_id}; module {self.category}, tag {self.tag})"
        ]
        if self.other_methods:
            lines.append("other methods on this path: " + ", ".join(self.other_methods))
        for title, params in (
            ("path params", self.path_params),
            ("query params", self.query_params),
        ):
            lines.append(f"{title}:" + ("" if params else " none"))
            lines += [f"  {p}" for p in params]
        if self.default_fields:
            lines.append("default fields of compact results: " + ",".join(self.default_fields))
        for title, fields in (("body", self.body), ("response", self.response)):
            if fields is None:
                continue
            what = f"{title}: {fields.model or '-'} ({fields.kind})"
            if not fields.lines and fields.total == 0:
                pass
            elif len(fields.lines) < fields.total:  # a field_filter is set
                what += f"; {len(fields.lines)} of {fields.total} fields match the filter"
            else:
                what += f"; {fields.total} fields" if fields.total else ""
            if fields.note:
                what += f"; {fields.note}"
            lines.append(what)
            lines += [f"  {f}" for f in fields.lines]
        if self.example_body is not None:
            example = json.dumps(self.example_body, ensure_ascii=False, separators=(",", ":"))
            lines.append(f"minimal valid body: {example}")
        return "\n".join(lines)


class ListSummary(_Model):
    """How a list answer was shown: nothing is cut without saying so."""

    returned: int
    """Items ConnectWise returned for this page."""
    shown: int
    """Items in the result (the first ``shown``); the rest did not fit its size budget."""
    page: int
    page_size: int
    more_pages_likely: bool
    next_page_params: dict[str, Any] | None = None
    """Params whose first item is the one after the last item shown."""


class Table(_Model):
    """A list answer: columns once, one row per item; a reference cell is ``[id, name]``."""

    columns: list[str]
    rows: list[list[Any]]


class ApiCallResult(_Result):
    # No operation id or risk class: the text never shows them, so a host that shows only the
    # text would differ from one that shows structured content; details carry both.
    method: str
    path: str
    status: int
    table: Table | None = None
    """Compact list answers (the default)."""
    data: Any = None
    """One record (compact unless full=true), full records of a list, or another answer."""
    list_summary: ListSummary | None = None
    notes: list[str] = Field(default_factory=list)
    """Hints in words; a saved Fast Memory query this call matched is named here (#id)."""
    _file: Any = PrivateAttr(default=None)
    _table_lines: list[str] | None = PrivateAttr(default=None)

    @property
    def file(self) -> Any:
        """A file returned beside the result (``cwm_gateway.files.FileDownload``), never part
        of its JSON; the MCP layer sends it as an embedded resource."""
        return self._file

    def with_table(self, table: Table, lines: list[str]) -> ApiCallResult:
        """This result with a list answer's ``table`` and its already rendered text lines."""
        self.table = table
        self._table_lines = lines
        return self

    def with_file(self, download: Any) -> ApiCallResult:
        """This result carrying ``download`` (see :attr:`file`)."""
        self._file = download
        return self

    def text(self) -> str:
        head = f"{self.method} {self.path} → {self.status}"
        lines = [head]
        s = self.list_summary
        if s is not None:
            shown = "all shown" if s.shown == s.returned else f"{s.shown} shown"
            lines[0] = (
                f"{head}: {s.returned} items (page {s.page}, pageSize {s.page_size}), {shown}"
            )
            if s.next_page_params is not None:
                nxt = json.dumps(s.next_page_params, ensure_ascii=False, separators=(",", ":"))
                lines.append(f"next: params={nxt}")
        if self.table is not None:
            # The lines compact_list rendered (to measure them) are these rows' text.
            lines += self._table_lines or [
                " | ".join(self.table.columns),
                *(" | ".join(render_cell(v) for v in row) for row in self.table.rows),
            ]
        elif isinstance(self.data, list):
            lines += [
                json.dumps(item, ensure_ascii=False, separators=(",", ":"), default=str)
                for item in self.data
            ]
        elif isinstance(self.data, dict):
            lines += [f"{k}: {record_value(v)}" for k, v in self.data.items()]
        elif self.data is not None:
            lines.append(json.dumps(self.data, ensure_ascii=False, default=str))
        lines += self.notes
        return "\n".join(lines)


#: A saved query as tools return it: the Fast Memory record itself.
SavedQueryView = SavedQuery


class MemoryListResult(_Result):
    queries: list[SavedQueryView]
    message: str | None = None
    """Set when not every saved query fits in one answer."""

    def text(self) -> str:
        if not self.queries:
            return "No saved queries match. Save one with save_to_fast_memory(...)."
        lines = [f"{len(self.queries)} saved queries (most used first):"]
        if self.message:
            lines.insert(0, self.message)
        for q in self.queries:
            params = f" params={json.dumps(q.params)}" if q.params else ""
            lines.append(
                f"#{q.id} {q.method} {q.path}{params} — {q.description} "
                f"(used {q.usage_count}×, last {q.last_used})"
            )
        return "\n".join(lines)


class MemoryChangeResult(_Result):
    message: str
    """What was done, in words (the tool's name says which change it was)."""
    query: SavedQueryView | None = None
    count: int | None = None

    def text(self) -> str:
        return self.message


class ToolFailure(_Model):
    """Structured form of a tool error (sent with isError)."""

    error: str
    message: str
    problems: list[dict[str, Any]] = Field(default_factory=list)
    decision: dict[str, Any] | None = None
    status: int | None = None


@cache
def concise_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema of a result as a tool's output schema, small enough to list.

    The top level with each property's type: nested objects and arrays are named, not spelled
    out (the results' text and the tool descriptions explain them), and ``X | None`` becomes
    ``X``: results are sent without None values (the key is missing), so the non-null type is
    the truth. Read from the fields' annotations: no schema generation at start-up.
    """
    properties: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        types = sorted({t for t in _json_types(info.annotation) if t != "null"})
        if "any" in types or not types:
            properties[name] = {}  # any JSON value
        else:
            properties[name] = {"type": types[0] if len(types) == 1 else types}
    return {"type": "object", "properties": properties}


_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


def _json_types(annotation: Any) -> list[str]:
    if annotation in _SCALARS:
        return [_SCALARS[annotation]]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _json_types(arg)]
    if origin in (list, tuple, set) or annotation in (list, tuple, set):
        return ["array"]
    if origin is dict or annotation is dict:
        return ["object"]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return ["object"]
    return ["any"]


def concise_input_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A tool's input schema without titles, null options, and null or false defaults.

    Leaving an optional argument out means what null would (and a flag left out is off, as
    anyone reading a schema assumes); the argument model still accepts null from clients that
    send it.
    """

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(v) for v in node]
        if not isinstance(node, dict):
            return node
        options = node.get("anyOf")
        if options is not None and any(o.get("type") == "null" for o in options):
            kept = [o for o in options if o.get("type") != "null"]
            rest = {k: v for k, v in node.items() if k != "anyOf"}
            if rest.get("default", 0) is None:
                rest.pop("default")
            node = {**rest, **kept[0]} if len(kept) == 1 else {**rest, "anyOf": kept}
        if node.get("type") == "boolean" and node.get("default") is False:
            node = {k: v for k, v in node.items() if k != "default"}
        return {
            k: walk(v)
            for k, v in node.items()
            if k != "title"
            and not (k == "additionalProperties" and v is True)
            and not (k == "items" and v == {})
        }

    return walk(schema)


def host_characters(result: BaseModel) -> int:
    """How many characters a JSON-RPC answer carrying ``result`` costs, counted as the most
    generous host counts it: the whole response (envelope included) in Python's default JSON
    (a space after every ``,`` and ``:``, non-ASCII written as ``\\uXXXX``).

    The tools/list budget (8,000) is checked with this count, not with the compact form the
    server sends, because hosts measure and show what they re-serialize.
    """
    body = result.model_dump(mode="json", by_alias=True, exclude_none=True)
    return len(json.dumps({"jsonrpc": "2.0", "id": 1, "result": body}))
