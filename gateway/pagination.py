"""Iterate every item of a ConnectWise list operation, page by page (sync and async).

ConnectWise pages with ``page`` (1-based) and ``pageSize`` (at most 1000). Its answers usually
carry a ``Link`` header; when they do, the ``next`` link is followed (that covers both
navigable ``page=`` links and forward-only ``pageId=`` links, which ConnectWise sends when the
request has the header ``pagination-type: forward-only``) and its absence ends the listing.
Without a ``Link`` header, pages are numbered until one comes back short.

The :class:`PagePlan` decides what to ask next from what came back; the iterators only send.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypedDict
from urllib.parse import parse_qsl, urlsplit

from cwm_gateway.errors import Problem, RequestValidationError

if TYPE_CHECKING:
    from cwm_gateway.client import ApiResponse, AsyncClient, Client
    from cwm_generated.types import RequestSpec

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 1000
FORWARD_ONLY_HEADERS = {"pagination-type": "forward-only"}
_PAGING_KEYS = ("page", "pageId")


class PageLimits(TypedDict, total=False):
    """The keyword options every paging method takes (sync and async alike; see :class:`PagePlan`)."""

    page_size: int | None
    """Items a page; default: the spec's ``pageSize``, else 1000."""
    max_items: int | None
    """Stop after this many items."""
    max_pages: int | None
    """Stop after this many pages."""
    forward_only: bool
    """Ask for ``pageId`` (keyset) navigation."""


class PagePlan:
    """What to request next for a paged listing; no I/O.

    ``page_size`` defaults to the spec's ``pageSize`` or 1000. ``forward_only`` asks
    ConnectWise for ``pageId`` (keyset) navigation, which is stable while records change and
    fast on large tables. ``max_items``/``max_pages`` bound the listing.
    """

    def __init__(
        self,
        spec: RequestSpec[Any],
        *,
        page_size: int | None = None,
        max_items: int | None = None,
        max_pages: int | None = None,
        forward_only: bool = False,
    ) -> None:
        op = spec.operation
        problems: list[Problem] = []
        if not op.is_list:
            problems.append(
                Problem(
                    "operation",
                    f"{op.operation_id} ({op.method} {op.path}) is not a paged list operation",
                    "send it with client.send(); paginate() takes a GET that returns a list",
                )
            )
        if page_size is None:
            page_size = spec.params.get("pageSize") or MAX_PAGE_SIZE
        if isinstance(page_size, bool) or not isinstance(page_size, int):
            problems.append(Problem("page_size", f"{page_size!r} is not a whole number", "1-1000"))
        elif not 1 <= page_size <= MAX_PAGE_SIZE:
            problems.append(
                Problem("page_size", f"{page_size} is out of range", "ConnectWise allows 1-1000")
            )
        for name, value in (("max_items", max_items), ("max_pages", max_pages)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                problems.append(
                    Problem(name, f"{value!r} is not a positive whole number", "e.g. 500, or None")
                )
        if problems:
            raise RequestValidationError(problems, op.operation_id)
        self.spec = spec
        self.page_size: int = page_size  # type: ignore[assignment]
        self.max_items = max_items
        self.max_pages = max_pages
        self.forward_only = forward_only or "pageId" in spec.params
        self.headers: dict[str, str] = dict(FORWARD_ONLY_HEADERS) if self.forward_only else {}
        self.pages_done = 0
        self.items_done = 0
        self._seen: set[tuple[tuple[str, str], ...]] = set()

    def first(self) -> dict[str, Any]:
        """Query parameters of the first page."""
        params = dict(self.spec.params)
        params["pageSize"] = self.page_size
        if self.forward_only:
            params.pop("page", None)
        else:
            params.setdefault("page", 1)
        self._seen.add(_key(params))
        return params

    def take(self, items: list[Any]) -> list[Any]:
        """The items of a page that fit within ``max_items``; counts the page."""
        self.pages_done += 1
        if self.max_items is not None:
            items = items[: self.max_items - self.items_done]
        self.items_done += len(items)
        return items

    def next(self, params: Mapping[str, Any], response: ApiResponse[Any]) -> dict[str, Any] | None:
        """Query parameters of the page after ``response`` (sent with ``params``), or None."""
        if self.max_pages is not None and self.pages_done >= self.max_pages:
            return None
        if self.max_items is not None and self.items_done >= self.max_items:
            return None
        body = response.json
        count = len(body) if isinstance(body, list) else 0
        if count == 0:
            return None
        if "link" in response.headers:
            next_url = response.links.get("next")
            if not next_url:
                return None
            link_query = dict(parse_qsl(urlsplit(next_url).query, keep_blank_values=True))
            nxt: dict[str, Any] = {
                k: v for k, v in self.spec.params.items() if k not in _PAGING_KEYS
            }
            nxt["pageSize"] = self.page_size
            nxt.update(link_query)
        else:
            if count < self.page_size:
                return None
            nxt = dict(params)
            if self.forward_only:
                # No link to follow: continue after the last id (pageId means "id > pageId").
                last = body[-1] if isinstance(body, list) and body else None
                if not isinstance(last, dict) or not isinstance(last.get("id"), int):
                    return None
                nxt["pageId"] = last["id"]
            else:
                nxt["page"] = int(params.get("page", 1)) + 1
        key = _key(nxt)
        if key in self._seen:
            # A server that links back to a page already read would make this loop forever.
            log.warning("pagination of %s stopped: next page repeats", self.spec.path)
            return None
        self._seen.add(key)
        return nxt


def _key(params: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, str(v)) for k, v in params.items()))


def _items(plan: PagePlan, response: ApiResponse[Any], raw: bool) -> list[Any]:
    source = response.json if raw else response.data
    return plan.take(list(source) if isinstance(source, list) else [])


def iter_pages(
    client: Client, spec: RequestSpec[Any], *, raw: bool = False, **options: Any
) -> Iterator[ApiResponse[Any]]:
    """Every page (an :class:`ApiResponse`) of a list operation, until the end or a limit.

    Options: ``page_size``, ``max_items``, ``max_pages``, ``forward_only`` (see
    :class:`PagePlan`). Bad options raise RequestValidationError here, before any request.
    """
    plan = PagePlan(spec, **options)

    def pages() -> Iterator[ApiResponse[Any]]:
        params: dict[str, Any] | None = plan.first()
        while params is not None:
            response = client.send(spec._replace(params=params), headers=plan.headers)
            plan.take(response.json if isinstance(response.json, list) else [])
            yield response
            params = plan.next(params, response)

    return pages()


def iter_items(
    client: Client, spec: RequestSpec[Any], *, raw: bool = False, **options: Any
) -> Iterator[Any]:
    """Every item of a list operation across pages (models, or dicts with ``raw=True``)."""
    plan = PagePlan(spec, **options)

    def items() -> Iterator[Any]:
        params: dict[str, Any] | None = plan.first()
        while params is not None:
            response = client.send(spec._replace(params=params), headers=plan.headers)
            yield from _items(plan, response, raw)
            params = plan.next(params, response)

    return items()


def aiter_pages(
    client: AsyncClient, spec: RequestSpec[Any], *, raw: bool = False, **options: Any
) -> AsyncIterator[ApiResponse[Any]]:
    """Async :func:`iter_pages`."""
    plan = PagePlan(spec, **options)

    async def pages() -> AsyncIterator[ApiResponse[Any]]:
        params: dict[str, Any] | None = plan.first()
        while params is not None:
            response = await client.send(spec._replace(params=params), headers=plan.headers)
            plan.take(response.json if isinstance(response.json, list) else [])
            yield response
            params = plan.next(params, response)

    return pages()


def aiter_items(
    client: AsyncClient, spec: RequestSpec[Any], *, raw: bool = False, **options: Any
) -> AsyncIterator[Any]:
    """Async :func:`iter_items`."""
    plan = PagePlan(spec, **options)

    async def items() -> AsyncIterator[Any]:
        params: dict[str, Any] | None = plan.first()
        while params is not None:
            response = await client.send(spec._replace(params=params), headers=plan.headers)
            for item in _items(plan, response, raw):
                yield item
            params = plan.next(params, response)

    return items()
