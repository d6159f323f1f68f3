"""List queries as ConnectWise reads them: validate, then filter, sort, page and project.

Every list the sandbox serves (stored collections, sub-collections derived from them, and
sample-backed lists) goes through :class:`ListQuery`, so ``page=AAA``, ``pageSize=2147483648``
or a condition on an unknown field get ConnectWise's 400 everywhere, ``/count`` included.

The conditions *language* is parsed and evaluated with :mod:`cwm_gateway.conditions` (one
grammar); which field names a resource accepts is decided by :mod:`cwm_gateway.sandbox.fields`,
the sandbox's own reading of ConnectWise's rules, and errors are worded by
:mod:`cwm_gateway.sandbox.errors`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cwm_gateway import conditions as _conditions
from cwm_gateway.sandbox import errors, fields

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 1000
_INT32_MAX = 2**31 - 1

Doc = dict[str, Any]
Predicate = Callable[[Mapping[str, Any]], bool]


def _int32(params: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise errors.invalid_parameter(name, raw) from None
    if not minimum <= value <= _INT32_MAX:
        raise errors.invalid_parameter(name, raw)
    return value


_INT64_MAX = 2**63 - 1


def check_query_types(op: Any, params: Mapping[str, str]) -> None:
    """Every declared query parameter's value is of its type, as ASP.NET's model binding
    insists on any endpoint (``pageSize=941111655781481344`` is a 400 even where nothing is
    paged)."""
    for p in op.query_params:
        raw = params.get(p.name)
        if raw is None or raw == "":
            continue
        text = raw.strip()
        if p.type == "integer":
            limit = _INT64_MAX if p.format == "int64" else _INT32_MAX
            try:
                ok = -limit - 1 <= int(text) <= limit
            except ValueError:
                ok = False
        elif p.type == "number":
            try:
                ok = math.isfinite(float(text))
            except ValueError:
                ok = False
        elif p.type == "boolean":
            ok = text.lower() in ("true", "false")
        else:
            ok = True
        if not ok:
            raise errors.invalid_parameter(p.name, raw)


def _parse(text: str) -> Any:
    try:
        return _conditions.parse(text)
    except _conditions.ConditionSyntaxError as exc:
        raise errors.invalid_condition(
            f"The condition could not be read at position {exc.position}."
        ) from None


def _check_names(expr: Any, schemas: Mapping[str, Any], schema: str, *, child: bool) -> None:
    for path in _conditions.field_paths(expr):
        if not fields.resolve(schemas, schema, path, child=child):
            raise errors.unrecognized_name(path)


def _custom_field_matcher(expr: Any) -> Predicate:
    return lambda doc: any(
        isinstance(cf, Mapping) and _conditions.evaluate(expr, cf)
        for cf in doc.get("customFields") or ()
    )


@dataclass
class ListQuery:
    """The list parameters of one request, validated against the item schema."""

    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE
    page_id: int | None = None
    """Forward-only paging: records with an id above this one."""
    order_by: list[tuple[str, bool]] = field(default_factory=list)
    """(path, descending) pairs."""
    projection: list[str] | None = None
    filters: list[Predicate] = field(default_factory=list)

    @classmethod
    def parse(
        cls,
        params: Mapping[str, str],
        schema: str | None,
        schemas: Mapping[str, Any],
        *,
        forward_only: bool = False,
    ) -> ListQuery:
        """Read and check ``params``; raises :class:`~.errors.ApiError` like ConnectWise."""
        q = cls()
        q.page = _int32(params, "page", 1, 1)
        # ConnectWise quietly caps the page size at 1,000.
        q.page_size = min(_int32(params, "pageSize", DEFAULT_PAGE_SIZE, 1), MAX_PAGE_SIZE)
        if "pageId" in params or forward_only:
            q.page_id = _int32(params, "pageId", 0, 0)
        name = schema or ""
        for param, child in (("conditions", False), ("childConditions", True)):
            text = params.get(param)
            if text:
                expr = _parse(text)
                _check_names(expr, schemas, name, child=child)
                q.filters.append(lambda doc, e=expr: _conditions.evaluate(e, doc))
        text = params.get("customFieldConditions")
        if text:
            q.filters.append(_custom_field_matcher(_parse(text)))
        text = params.get("orderBy")
        if text:
            q.order_by = _order_keys(text, schemas, name)
            if q.page_id is not None and any(p.lower() != "id" for p, _ in q.order_by):
                raise errors.api_error(
                    400,
                    "InvalidObject",
                    "Forward-only pagination requires orderBy to be by id.",
                    [errors.field_error("InvalidField", "orderBy must be id.", name, "orderBy")],
                )
        text = params.get("fields")
        if text:
            paths = [p.strip() for p in text.split(",")]
            for path in paths:
                if not path or not fields.resolve_projection(schemas, name, path):
                    raise errors.unrecognized_name(path or "(empty)")
            q.projection = paths
        return q

    def filter(self, docs: Iterable[Doc]) -> list[Doc]:
        """The documents every condition keeps."""
        return [d for d in docs if all(keep(d) for keep in self.filters)]

    def page_of(self, docs: list[Doc], url: Any) -> tuple[list[Doc], list[str]]:
        """One page of filtered ``docs`` (sorted, projected) and its Link header parts.

        ``url`` is the request's :class:`starlette.datastructures.URL`, used to build links.
        """
        links: list[str] = []
        if self.page_id is not None:
            rest = [d for d in docs if d.get("id", 0) > self.page_id]
            chunk = rest[: self.page_size]
            if len(rest) > len(chunk):
                nxt = url.remove_query_params("page").include_query_params(
                    pageId=chunk[-1]["id"], pageSize=self.page_size
                )
                links.append(f'<{nxt}>; rel="next"')
        else:
            docs = order(docs, self.order_by)
            last = max(1, math.ceil(len(docs) / self.page_size))
            page = self.page
            chunk = docs[(page - 1) * self.page_size : page * self.page_size]

            def link(p: int) -> str:
                return str(url.include_query_params(page=p, pageSize=self.page_size))

            if page > 1:
                links.append(f'<{link(1)}>; rel="first"')
                links.append(f'<{link(min(page - 1, last))}>; rel="prev"')
            if page < last:
                links.append(f'<{link(page + 1)}>; rel="next"')
                links.append(f'<{link(last)}>; rel="last"')
        if self.projection:
            chunk = [project(d, self.projection) for d in chunk]
        return chunk, links


def _order_keys(text: str, schemas: Mapping[str, Any], schema: str) -> list[tuple[str, bool]]:
    keys = []
    for item in text.split(","):
        words = item.split()
        if not words:
            raise errors.unrecognized_name("(empty)")
        if len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise errors.unrecognized_name(item.strip())
        if not fields.resolve(schemas, schema, words[0], child=False):
            raise errors.unrecognized_name(words[0])
        keys.append((words[0], len(words) == 2 and words[1].lower() == "desc"))
    return keys


def project_one(doc: Mapping[str, Any], text: str, schemas: Mapping[str, Any], schema: str) -> Doc:
    """``fields=`` on a single record."""
    paths = [p.strip() for p in text.split(",")]
    for path in paths:
        if not path or not fields.resolve_projection(schemas, schema, path):
            raise errors.unrecognized_name(path or "(empty)")
    return project(doc, paths)


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


def order(docs: list[Doc], keys: list[tuple[str, bool]]) -> list[Doc]:
    """Sort by (path, descending) keys (stable; later keys break ties of earlier ones)."""
    result = list(docs)
    for path, desc in reversed(keys):
        result.sort(key=lambda d, p=path: _sort_key(_get(d, p)), reverse=desc)
    return result


def project(doc: Mapping[str, Any], paths: Iterable[str]) -> Doc:
    """Only the listed field paths (``company/name`` keeps ``{"company": {"name": ...}}``)."""
    out: Doc = {}
    for path in paths:
        _copy_path(doc, out, path.strip().split("/"))
    return out


def _copy_path(src: Any, dst: Doc, segs: list[str]) -> None:
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
