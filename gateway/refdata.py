"""Reference data of one ConnectWise connection, loaded lazily through the typed client.

Boards with their statuses and types, priorities, work roles, work types, members, locations,
departments, and companies by identifier: the values other records point at. Each list is read
once (every page, only the fields the checks need) and kept for ``ttl`` seconds; concurrent
first lookups share one load. Tickets (their board and status) are kept briefly, since they
change under the agent's hands. A list that cannot be read (no permission, ConnectWise down) is
remembered as unavailable for a short while so each call does not retry it.

:func:`reference_data` gives the one :class:`ReferenceData` of an :class:`AsyncClient` (one
connection: one site, company and key), so two connections never share a cache. Lookups on a
warm cache are dictionary reads (no I/O, no await on a lock).
"""

from __future__ import annotations

import asyncio
import os
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from cwm_gateway.errors import ApiError, CWMError, NotFoundError
from cwm_gateway.validation import build_request

if TYPE_CHECKING:
    from cwm_gateway.client import AsyncClient  # httpx loads on the first call, not at start

__all__ = ["KINDS", "Choices", "Kind", "RefItem", "ReferenceData", "reference_data"]

#: How long a reference list is trusted (seconds).
DEFAULT_TTL = 300.0
#: How long a ticket's board and status are trusted (seconds).
TICKET_TTL = 10.0
#: How long a list that could not be read is left alone (seconds).
UNAVAILABLE_TTL = 60.0
#: A list is reloaded on a miss (a value created since it was read) at most this often.
MISS_RELOAD_AFTER = 15.0
#: Upper bound of items read per list (members, boards... never come near it).
MAX_ITEMS = 20_000


class RefItem(NamedTuple):
    """One reference value: its id, the name ConnectWise shows, and what the checks need."""

    id: int
    name: str
    identifier: str | None = None
    inactive: bool = False
    closed: bool = False
    """For ticket statuses: a closed status of its board (``closedStatus``)."""
    sort: int = 0


@dataclass(frozen=True)
class Kind:
    """One kind of reference data and how to read it."""

    key: str
    label: str
    """Singular noun for messages: ``status``, ``work role``..."""
    path: str
    """List path; ``{board}`` is replaced by a board id for per-board lists."""
    fields: str
    inactive_field: str | None = "inactiveFlag"
    identifier_field: str | None = None


KINDS: dict[str, Kind] = {
    k.key: k
    for k in (
        Kind("boards", "board", "/service/boards", "id,name,inactiveFlag"),
        Kind(
            "statuses",
            "status",
            "/service/boards/{board}/statuses",
            "id,name,inactive,closedStatus,sortOrder",
            inactive_field="inactive",
        ),
        Kind("types", "type", "/service/boards/{board}/types", "id,name,inactiveFlag"),
        Kind("priorities", "priority", "/service/priorities", "id,name,sortOrder", None),
        Kind("work_roles", "work role", "/time/workRoles", "id,name,inactiveFlag"),
        Kind("work_types", "work type", "/time/workTypes", "id,name,inactiveFlag"),
        Kind(
            "members",
            "member",
            "/system/members",
            "id,identifier,firstName,lastName,inactiveFlag",
            identifier_field="identifier",
        ),
        Kind("locations", "location", "/system/locations", "id,name", None),
        Kind(
            "departments",
            "department",
            "/system/departments",
            "id,identifier,name",
            None,
            identifier_field="identifier",
        ),
    )
}


class Choices:
    """The values of one reference list, indexed by id, by name and by identifier."""

    __slots__ = ("kind", "items", "by_id", "by_name", "by_identifier", "loaded_at")

    def __init__(self, kind: Kind, items: list[RefItem], loaded_at: float) -> None:
        self.kind = kind
        self.items = tuple(sorted(items, key=lambda i: (i.sort, i.id)))
        self.by_id = {i.id: i for i in self.items}
        self.by_name: dict[str, list[RefItem]] = {}
        for i in self.items:
            self.by_name.setdefault(i.name.casefold(), []).append(i)
        self.by_identifier = {
            i.identifier.casefold(): i for i in self.items if i.identifier is not None
        }
        self.loaded_at = loaded_at

    def names(self, *, active_only: bool = True) -> list[str]:
        """Display names (``identifier`` for members), active ones unless asked otherwise."""
        return [
            (i.identifier or i.name) if self.kind.identifier_field == "identifier" else i.name
            for i in self.items
            if not (active_only and i.inactive)
        ]

    def describe(self, limit: int = 25) -> str:
        """``"New" (id 1), "Closed" (id 7, closed)...`` for messages, at most ``limit`` items."""
        shown = [i for i in self.items if not i.inactive][:limit]
        parts = []
        for i in shown:
            extra = ", closed" if i.closed else ""
            label = i.identifier if self.kind.identifier_field == "identifier" else i.name
            parts.append(f"{label!r} (id {i.id}{extra})")
        rest = sum(1 for i in self.items if not i.inactive) - len(shown)
        return ", ".join(parts) + (f" and {rest} more" if rest > 0 else "")


class _Entry(NamedTuple):
    value: Any
    expires: float
    loaded_at: float


class Unavailable(NamedTuple):
    """A list that could not be read, and why (kept for ``UNAVAILABLE_TTL``)."""

    reason: str


def _item(kind: Kind, row: Mapping[str, Any]) -> RefItem | None:
    raw_id = row.get("id")
    if not isinstance(raw_id, int) or isinstance(raw_id, bool):
        return None
    if kind.key == "members":
        name = " ".join(p for p in (row.get("firstName"), row.get("lastName")) if p) or str(
            row.get("identifier") or raw_id
        )
    else:
        name = str(row.get("name") or raw_id)
    identifier = row.get(kind.identifier_field) if kind.identifier_field else None
    inactive = bool(row.get(kind.inactive_field)) if kind.inactive_field else False
    sort = row.get("sortOrder")
    return RefItem(
        id=raw_id,
        name=name,
        identifier=identifier if isinstance(identifier, str) else None,
        inactive=inactive,
        closed=bool(row.get("closedStatus")),
        sort=sort if isinstance(sort, int) else 0,
    )


class ReferenceData:
    """The reference-data cache of one connection (see the module docstring)."""

    def __init__(
        self,
        client: AsyncClient,
        *,
        ttl: float = DEFAULT_TTL,
        ticket_ttl: float = TICKET_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self.ttl = ttl
        self.ticket_ttl = ticket_ttl
        self._clock = clock
        self._entries: dict[tuple[Any, ...], _Entry] = {}
        self._loading: dict[tuple[Any, ...], asyncio.Future[Any]] = {}
        self.loads = 0
        """Upstream reads made so far (lists count once however many pages)."""

    # -- the cache ---------------------------------------------------------------------------

    async def _cached(
        self, key: tuple[Any, ...], load: Callable[[], Any], ttl: float, *, reload: bool = False
    ) -> Any:
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and entry.expires > now and not reload:
            return entry.value
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            try:
                value = await load()
                expires = self._clock() + ttl
            except (ApiError, CWMError) as exc:
                value = Unavailable(_reason(exc))
                expires = self._clock() + min(ttl, UNAVAILABLE_TTL)
            self.loads += 1
            self._entries[key] = _Entry(value, expires, self._clock())
            future.set_result(value)
            return value
        except BaseException as exc:  # cancelled or a bug: waiters see it too, nothing cached
            future.set_exception(exc)
            future.exception()  # mark retrieved: no "never retrieved" warning without waiters
            raise
        finally:
            del self._loading[key]

    def peek(self, key: tuple[Any, ...]) -> Any:
        """A fresh cached value, or None; never loads."""
        entry = self._entries.get(key)
        if entry is not None and entry.expires > self._clock():
            return entry.value
        return None

    def invalidate(self, *key: Any) -> None:
        """Forget one entry (e.g. ``invalidate("ticket", 42)`` after changing ticket 42)."""
        self._entries.pop(tuple(key), None)

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()

    # -- lists ------------------------------------------------------------------------------

    async def choices(
        self, kind: str, board: int | None = None, *, reload_on_miss: bool = False
    ) -> Choices | Unavailable:
        """Every value of a reference list (``kind`` from :data:`KINDS`; per-board lists take
        ``board``). ``reload_on_miss=True`` reads the list again when it is older than
        ``MISS_RELOAD_AFTER`` seconds (a value created since), at most that often."""
        spec = KINDS[kind]
        key = (kind, board) if "{board}" in spec.path else (kind,)
        reload = False
        if reload_on_miss:
            entry = self._entries.get(key)
            reload = entry is not None and self._clock() - entry.loaded_at >= MISS_RELOAD_AFTER
        return await self._cached(
            key, lambda: self._load_list(spec, board), self.ttl, reload=reload
        )

    async def _load_list(self, kind: Kind, board: int | None) -> Choices:
        path = kind.path.replace("{board}", str(board)) if board is not None else kind.path
        request = build_request("GET", path, {"fields": kind.fields, "pageSize": 1000})
        items: list[RefItem] = []
        async for row in self._client.paginate(request, raw=True, max_items=MAX_ITEMS):
            if isinstance(row, Mapping):
                item = _item(kind, row)
                if item is not None:
                    items.append(item)
        return Choices(kind, items, self._clock())

    # -- single records ---------------------------------------------------------------------

    async def company(self, identifier: str) -> RefItem | None | Unavailable:
        """The company with this identifier (ConnectWise's short name), or None."""
        key = ("company", identifier.casefold())
        return await self._cached(key, lambda: self._load_company(identifier), self.ttl)

    async def _load_company(self, identifier: str) -> RefItem | None:
        quoted = identifier.replace("\\", "\\\\").replace('"', '\\"')
        request = build_request(
            "GET",
            "/company/companies",
            {"conditions": f'identifier="{quoted}"', "fields": "id,identifier,name", "pageSize": 2},
        )
        response = await self._client.send(request)
        rows = response.json if isinstance(response.json, list) else []
        for row in rows:
            if isinstance(row, Mapping) and str(row.get("identifier", "")).casefold() == (
                identifier.casefold()
            ):
                raw_id = row.get("id")
                if isinstance(raw_id, int):
                    return RefItem(raw_id, str(row.get("name") or identifier), identifier)
        return None

    async def ticket(self, ticket_id: int, *, project: bool = False) -> dict[str, Any] | None:
        """A ticket's id, board and status (kept ``ticket_ttl`` seconds), None when it does not
        exist or cannot be read."""
        key = ("ticket", "project" if project else "service", ticket_id)
        value = await self._cached(
            key, lambda: self._load_ticket(ticket_id, project), self.ticket_ttl
        )
        return value if isinstance(value, dict) else None

    async def _load_ticket(self, ticket_id: int, project: bool) -> dict[str, Any] | None:
        base = "/project/tickets" if project else "/service/tickets"
        request = build_request("GET", f"{base}/{ticket_id}", {"fields": "id,board,status"})
        try:
            response = await self._client.send(request)
        except NotFoundError:
            return None
        return response.json if isinstance(response.json, dict) else None


def _reason(exc: BaseException) -> str:
    status = getattr(exc, "status", None)
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{status}: {first}" if status else first


_BY_CLIENT: weakref.WeakKeyDictionary[AsyncClient, ReferenceData] = weakref.WeakKeyDictionary()


#: Environment variable: seconds a reference list is trusted (default 300).
TTL_ENV = "CWM_GATEWAY_REFDATA_TTL"


def ttl_from_env(environ: Mapping[str, str] | None = None) -> float:
    """``CWM_GATEWAY_REFDATA_TTL`` in seconds, or the default when unset or not a positive
    number (a bad value must not turn the checks off)."""
    raw = (os.environ if environ is None else environ).get(TTL_ENV, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_TTL
    except ValueError:
        return DEFAULT_TTL
    return value if value > 0 else DEFAULT_TTL


def reference_data(client: AsyncClient, **options: Any) -> ReferenceData:
    """The reference-data cache of this client's connection (created on first use; its TTL
    from ``CWM_GATEWAY_REFDATA_TTL`` unless given)."""
    refdata = _BY_CLIENT.get(client)
    if refdata is None:
        options.setdefault("ttl", ttl_from_env())
        refdata = _BY_CLIENT[client] = ReferenceData(client, **options)
    return refdata
