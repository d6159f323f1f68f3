"""Pagination across real HTTP pages: page numbers, Link/next (page and pageId), limits."""

from __future__ import annotations

import pytest

from cwm_gateway.client import AsyncClient, Client
from cwm_gateway.config import Settings
from cwm_gateway.errors import RequestValidationError
from tests.loopback import LoggedRequest, LoopbackServer, Reply

pytest.importorskip("cwm_generated.registry")
from cwm_generated.models import load_model  # noqa: E402
from cwm_generated.operations import service  # noqa: E402

BASE = "/v4_6_release/apis/3.0"
TICKETS = f"{BASE}/service/tickets"
RECORDS = [{"id": i, "summary": f"t{i}"} for i in range(1, 8)]  # 7 tickets


@pytest.fixture(scope="module")
def server():
    with LoopbackServer() as srv:
        yield srv


@pytest.fixture
def srv(server):
    server.reset()
    return server


@pytest.fixture
def client(srv):
    settings = Settings(
        company_id="acme",
        public_key="pub",
        private_key="priv",
        client_id="cid",
        api_url=srv.url + BASE,
    )
    with Client(settings) as c:
        yield c


def numbered_pages(request: LoggedRequest) -> Reply:
    """ConnectWise without Link headers: slice by page/pageSize."""
    size = int(request.params.get("pageSize", 25))
    page = int(request.params.get("page", 1))
    return Reply(json=RECORDS[(page - 1) * size : page * size])


def linked_pages(srv: LoopbackServer):
    """Navigable pagination: a Link header with next (and last) until the last page."""

    def handler(request: LoggedRequest) -> Reply:
        size = int(request.params["pageSize"])
        page = int(request.params.get("page", 1))
        last = -(-len(RECORDS) // size)
        links = []
        if page < last:
            links.append(f'<{srv.url}{TICKETS}?pageSize={size}&page={page + 1}>; rel="next"')
        links.append(f'<{srv.url}{TICKETS}?pageSize={size}&page={last}>; rel="last"')
        return Reply(
            json=RECORDS[(page - 1) * size : page * size], headers={"Link": ", ".join(links)}
        )

    return handler


def forward_only_pages(srv: LoopbackServer):
    """Forward-only pagination: pageId is "id > pageId"; Link next carries the last id."""

    def handler(request: LoggedRequest) -> Reply:
        size = int(request.params["pageSize"])
        after = int(request.params.get("pageId", 0))
        chunk = [r for r in RECORDS if r["id"] > after][:size]
        headers = {}
        if chunk and chunk[-1]["id"] < RECORDS[-1]["id"]:
            nxt = f"{srv.url}{TICKETS}?pageSize={size}&pageId={chunk[-1]['id']}"
            headers["Link"] = f'<{nxt}>; rel="next"'
        else:
            headers["Link"] = ""  # ConnectWise sends an empty Link on the last page
        return Reply(json=chunk, headers=headers)

    return handler


def test_numbered_pages_until_a_short_page(srv, client):
    srv.handle("GET", TICKETS, numbered_pages)
    items = list(client.paginate(service.get_service_tickets(conditions="id > 0"), page_size=3))
    assert [t.id for t in items] == [1, 2, 3, 4, 5, 6, 7]
    assert all(isinstance(t, load_model("Ticket")) for t in items)
    assert [(r.params["page"], r.params["pageSize"]) for r in srv.requests] == [
        ("1", "3"),
        ("2", "3"),
        ("3", "3"),
    ]
    assert all(r.params["conditions"] == "id > 0" for r in srv.requests)


def test_an_exact_multiple_ends_on_an_empty_page(srv, client):
    srv.handle("GET", TICKETS, numbered_pages)
    items = list(client.paginate(service.get_service_tickets(), page_size=7, raw=True))
    assert items == RECORDS  # raw=True gives the dicts as received
    assert len(srv.requests) == 2


def test_link_next_is_followed_until_absent(srv, client):
    srv.handle("GET", TICKETS, linked_pages(srv))
    pages = list(client.pages(service.get_service_tickets(order_by="id"), page_size=3))
    assert [len(p.json) for p in pages] == [3, 3, 1]
    assert "next" in pages[0].links and "next" not in pages[-1].links
    assert [r.params["page"] for r in srv.requests] == ["1", "2", "3"]
    assert all(r.params["orderBy"] == "id" for r in srv.requests)


def test_forward_only_follows_page_id_links(srv, client):
    srv.handle("GET", TICKETS, forward_only_pages(srv))
    items = list(client.paginate(service.get_service_tickets(), page_size=3, forward_only=True))
    assert [t.id for t in items] == [1, 2, 3, 4, 5, 6, 7]
    assert [r.headers.get("pagination-type") for r in srv.requests] == ["forward-only"] * 3
    assert "page" not in srv.requests[0].params
    assert [r.params.get("pageId") for r in srv.requests] == [None, "3", "6"]


def test_max_items_stops_without_fetching_more(srv, client):
    srv.handle("GET", TICKETS, numbered_pages)
    items = list(client.paginate(service.get_service_tickets(), page_size=3, max_items=4))
    assert [t.id for t in items] == [1, 2, 3, 4]
    assert len(srv.requests) == 2


def test_max_pages_bounds_the_listing(srv, client):
    srv.handle("GET", TICKETS, numbered_pages)
    items = list(client.paginate(service.get_service_tickets(), page_size=2, max_pages=2))
    assert len(items) == 4 and len(srv.requests) == 2


def test_a_link_back_to_a_read_page_stops_the_loop(srv, client):
    loop = f'<{srv.url}{TICKETS}?pageSize=2&page=1>; rel="next"'
    srv.script("GET", TICKETS, Reply(json=RECORDS[:2], headers={"Link": loop}))
    assert len(list(client.paginate(service.get_service_tickets(), page_size=2))) == 2
    assert len(srv.requests) == 1


@pytest.mark.parametrize(
    ("options", "where"),
    [
        ({"page_size": 0}, "page_size"),
        ({"page_size": 1001}, "page_size"),
        ({"max_items": 0}, "max_items"),
        ({"max_pages": -1}, "max_pages"),
    ],
)
def test_bad_options_fail_before_any_request(srv, client, options, where):
    with pytest.raises(RequestValidationError) as info:
        client.paginate(service.get_service_tickets(), **options)
    assert info.value.problems[0].where == where
    assert srv.requests == []


def test_only_list_operations_paginate(srv, client):
    with pytest.raises(RequestValidationError, match="not a paged list operation"):
        client.paginate(service.get_service_tickets_by_id(id_=1))


def test_page_size_defaults_to_the_maximum(srv, client):
    srv.handle("GET", TICKETS, numbered_pages)
    list(client.paginate(service.get_service_tickets()))
    assert srv.requests[0].params["pageSize"] == "1000"


async def test_async_pagination(srv):
    settings = Settings(
        company_id="acme", public_key="pub", private_key="priv", api_url=srv.url + BASE
    )
    srv.handle("GET", TICKETS, linked_pages(srv))
    async with AsyncClient(settings) as c:
        ids = [t.id async for t in c.paginate(service.get_service_tickets(), page_size=3)]
        pages = [p async for p in c.pages(service.get_service_tickets(), page_size=5)]
    assert ids == [1, 2, 3, 4, 5, 6, 7]
    assert [len(p.json) for p in pages] == [5, 2]
