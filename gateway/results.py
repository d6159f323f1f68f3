"""Structured results of the MCP tools (their output schemas) and their readable text forms.

Each result is a Pydantic model: the server publishes its JSON schema as the tool's output
schema, sends the model as structured content and :meth:`text` as the readable content.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field, PrivateAttr


class _Result(BaseModel):
    def text(self) -> str:  # pragma: no cover - every subclass overrides
        return self.model_dump_json(indent=2)


class Endpoint(BaseModel):
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

    def line(self) -> str:
        score = f"  [{self.why}]" if self.why else ""
        return f"{self.method:6} {self.path}  — {self.summary} (risk: {self.risk}){score}"


class SearchResult(_Result):
    query: str
    results: list[Endpoint]

    def text(self) -> str:
        if not self.results:
            return (
                f"No operations match {self.query!r}. Try other words (e.g. 'tickets', "
                "'time entries', 'companies') or list_api_categories()."
            )
        lines = [f"{len(self.results)} operations for {self.query!r}:"]
        lines += [f"{i}. {e.line()}" for i, e in enumerate(self.results, 1)]
        lines.append("Next: get_api_endpoint_details(path, method) for parameters and body fields.")
        return "\n".join(lines)


class TagSummary(BaseModel):
    name: str
    operation_count: int


class Category(BaseModel):
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


class EndpointDetailsResult(_Result):
    details: dict[str, Any]

    def text(self) -> str:
        d = self.details
        lines = [f"{d.get('method')} {d.get('path')} — {d.get('summary')} (risk: {d.get('risk')})"]
        for key in ("path_parameters", "query_parameters"):
            params = d.get(key) or []
            if params:
                lines.append(key.replace("_", " ") + ":")
                for p in params:
                    req = " required" if p.get("required") else ""
                    enum = f" one of {p['enum']}" if p.get("enum") else ""
                    lines.append(f"  - {p.get('name')}: {p.get('type')}{req}{enum}")
        body = d.get("body")
        if body:
            lines.append("body: " + json.dumps(body, default=str)[:1500])
        if d.get("example_body") is not None:
            lines.append("minimal valid body: " + json.dumps(d["example_body"], default=str))
        if d.get("response"):
            lines.append("response: " + json.dumps(d["response"], default=str)[:600])
        return "\n".join(lines)


class ListSummary(BaseModel):
    """How a list answer was shown: nothing is cut without saying so."""

    returned: int
    """Items ConnectWise returned for this page."""
    shown: int
    """Items included in ``data`` (the first ``shown``)."""
    page: int
    page_size: int
    more_pages_likely: bool
    next_page_params: dict[str, Any] | None = None


class ApiCallResult(_Result):
    operation_id: str
    method: str
    path: str
    status: int
    risk: str
    data: Any = None
    list_summary: ListSummary | None = None
    notes: list[str] = Field(default_factory=list)
    saved_query_id: int | None = None
    _file: Any = PrivateAttr(default=None)

    @property
    def file(self) -> Any:
        """A file returned beside the result (``cwm_gateway.files.FileDownload``), never part
        of its JSON; the MCP layer sends it as an embedded resource."""
        return self._file

    def with_file(self, download: Any) -> ApiCallResult:
        """This result carrying ``download`` (see :attr:`file`)."""
        self._file = download
        return self

    def text(self) -> str:
        head = f"{self.method} {self.path} → {self.status} ({self.operation_id})"
        lines = [head]
        if self.list_summary is not None:
            s = self.list_summary
            lines.append(
                f"{s.returned} items on page {s.page} (pageSize {s.page_size}); showing {s.shown}."
            )
            if s.more_pages_likely and s.next_page_params:
                lines.append(f"More pages: call again with params {json.dumps(s.next_page_params)}")
        if isinstance(self.data, list):
            # One compact item per line reads (and scans) better than an indented tree.
            body = "\n".join(
                json.dumps(item, default=str, ensure_ascii=False) for item in self.data
            )
        else:
            body = json.dumps(self.data, indent=1, default=str, ensure_ascii=False)
        if len(body) > 6000:
            body = body[:6000] + "\n… (text view cut; the structured result has everything shown)"
        lines.append(body)
        lines += self.notes
        return "\n".join(lines)


class SavedQueryView(BaseModel):
    id: int
    description: str
    path: str
    method: str
    params: dict[str, Any] | None = None
    data: Any = None
    last_used: str
    usage_count: int
    shared: bool = False
    """Saved for every grant (a team's shared entry) rather than for the caller alone."""


class MemoryListResult(_Result):
    search_term: str | None
    queries: list[SavedQueryView]
    message: str | None = None
    """Set when not every saved query fits in one answer."""

    def text(self) -> str:
        if not self.queries:
            suffix = f" matching {self.search_term!r}" if self.search_term else ""
            return f"No saved queries{suffix}. Save one with save_to_fast_memory(...)."
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
    action: str
    message: str
    query: SavedQueryView | None = None
    count: int | None = None

    def text(self) -> str:
        return self.message


class ToolFailure(BaseModel):
    """Structured form of a tool error (sent with isError)."""

    error: str
    message: str
    problems: list[dict[str, Any]] = Field(default_factory=list)
    decision: dict[str, Any] | None = None
    status: int | None = None
