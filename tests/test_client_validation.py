"""One validation path for every client entry (#13): ``call``, ``send``, the per-resource
methods and ``paginate`` refuse an invalid request before anything is sent, and the sandbox's
request log (``/__sandbox/requests``, over HTTP) shows that nothing reached it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from cwm_gateway.client import AsyncClient, Client
from cwm_gateway.config import Settings
from cwm_gateway.errors import RequestValidationError
from cwm_gateway.sandbox.runner import start_sandbox_thread
from cwm_generated.operations import service

BAD_CONDITIONS = 'statuss/name="New"'


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox_thread() as handle:
        yield handle


@pytest.fixture
def settings(sandbox):
    return Settings.from_env(dict(sandbox.credentials))


def _logged(sandbox) -> list[dict[str, Any]]:
    response = httpx.get(sandbox.site_url + "/__sandbox/requests", headers=sandbox.headers())
    response.raise_for_status()
    return response.json()["requests"]


def _clear(sandbox) -> None:
    httpx.delete(sandbox.site_url + "/__sandbox/requests", headers=sandbox.headers())


# The six bad requests of issue #13: only the first two were stopped before.
BAD: dict[str, tuple[Callable[[Client], Any], str]] = {
    "call, misspelled field in conditions": (
        lambda cw: cw.call("GET", "/service/tickets", params={"conditions": BAD_CONDITIONS}),
        "query.conditions",
    ),
    "call, page size over 1000": (
        lambda cw: cw.call("GET", "/service/tickets", params={"pageSize": 5000}),
        "query.pageSize",
    ),
    "send, misspelled field in conditions": (
        lambda cw: cw.send(service.get_service_tickets(conditions=BAD_CONDITIONS)),
        "query.conditions",
    ),
    "send, page size over 1000": (
        lambda cw: cw.send(service.get_service_tickets(page_size=5000)),
        "query.pageSize",
    ),
    "resource method, misspelled field in conditions": (
        lambda cw: cw.service.tickets.list(conditions=BAD_CONDITIONS),
        "query.conditions",
    ),
    "paginate, misspelled field in conditions": (
        lambda cw: next(iter(cw.paginate(service.get_service_tickets(conditions=BAD_CONDITIONS)))),
        "query.conditions",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_requests_are_refused_before_sending(sandbox, settings, case):
    make, where = BAD[case]
    with Client(settings) as cw:
        cw.send(service.get_service_tickets(page_size=1))  # the log records what does arrive
        _clear(sandbox)
        with pytest.raises(RequestValidationError) as refused:
            make(cw)
    assert where in {p.where for p in refused.value.problems}, refused.value
    assert "nothing was sent" in str(refused.value)
    assert _logged(sandbox) == []


def test_unknown_body_fields_are_refused_on_every_path(sandbox, settings):
    body = {"text": "hello", "internalAnalysisFlag": True, "legacyFlag": 1}
    with Client(settings) as cw:
        _clear(sandbox)
        attempts = [
            lambda: cw.service.ticket_notes.create(parent_id=2, body=body),
            lambda: cw.send(
                service.post_service_tickets_by_parent_id_notes(parent_id=2, body=body)
            ),
            lambda: cw.call("POST", "/service/tickets/2/notes", body=body),
        ]
        for attempt in attempts:
            with pytest.raises(RequestValidationError) as refused:
                attempt()
            assert [(p.where, p.message) for p in refused.value.problems] == [
                ("body.legacyFlag", "unknown field")
            ]
    assert _logged(sandbox) == []


def test_valid_requests_still_go_through_and_are_sent_as_validated(sandbox, settings):
    with Client(settings) as cw:
        _clear(sandbox)
        page = cw.send(service.get_service_tickets(page_size="2", order_by=["id asc"]))
        assert len(page.data) == 2
        items = list(cw.paginate(service.get_service_tickets(), page_size=5, max_items=7))
        assert len(items) == 7
    logged = _logged(sandbox)
    # What was sent is the validated request: "2" became 2, the list became a comma list.
    assert dict(parse_qsl(logged[0]["query"])) == {"pageSize": "2", "orderBy": "id asc"}
    assert [r["operation_id"] for r in logged] == ["getServiceTickets"] * 3


async def test_the_async_client_refuses_the_same_requests(sandbox, settings):
    async with AsyncClient(settings) as cw:
        _clear(sandbox)
        with pytest.raises(RequestValidationError):
            await cw.send(service.get_service_tickets(page_size=5000))
        with pytest.raises(RequestValidationError):
            await cw.service.tickets.list(conditions=BAD_CONDITIONS)
        with pytest.raises(RequestValidationError):
            async for _ in cw.paginate(service.get_service_tickets(conditions=BAD_CONDITIONS)):
                pass
    assert _logged(sandbox) == []
