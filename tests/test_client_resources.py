"""The typed client's per-category, per-resource access against the sandbox over loopback HTTP."""

from __future__ import annotations

import pytest

from cwm_gateway.client import AsyncClient, Client
from cwm_gateway.config import Settings
from cwm_gateway.sandbox.runner import start_sandbox_thread
from cwm_generated.models import load_model
from cwm_generated.operations import service


@pytest.fixture(scope="module")
def settings():
    with start_sandbox_thread() as sandbox:
        yield Settings.from_env(dict(sandbox.credentials))


def test_short_names_map_to_the_resource_operations():
    assert service.Tickets.list is service.get_service_tickets
    assert service.Tickets.get is service.get_service_tickets_by_id
    assert service.Tickets.update is service.patch_service_tickets_by_id
    assert service.Tickets.count is service.get_service_tickets_count
    assert service.RESOURCES["tickets"] is service.Tickets
    assert service.RESOURCES["ticket_notes"].create is (
        service.post_service_tickets_by_parent_id_notes
    )


def test_category_then_resource_calls_send_typed_requests(settings):
    with Client(settings) as cw:
        page = cw.service.tickets.list(page_size=3, order_by="id asc")
        assert [t.id for t in page] == [1, 2, 3]
        assert isinstance(page[0], load_model("Ticket"))
        one = cw.service.tickets.get(id_=2)
        assert one.id == 2
        assert cw.service.tickets.count().count >= 3
        note = cw.service.ticket_notes.create(
            parent_id=2, body={"text": "from the client", "internalAnalysisFlag": True}
        )
        assert note.text == "from the client" and note.id
        # The full function names work on a resource and on the category too.
        assert cw.service.tickets.get_service_tickets_by_id(id_=2).id == 2
        assert cw.service.get_service_tickets_by_id(id_=2).id == 2
        # Bound once: later lookups return the same objects.
        assert cw.service is cw.service and cw.service.tickets is cw.service.tickets
        assert cw.service.tickets.get is cw.service.tickets.get
        assert cw.service.tickets.get.__doc__ == service.get_service_tickets_by_id.__doc__
        with pytest.raises(AttributeError, match="did you mean list"):
            cw.service.tickets.lst  # noqa: B018
        with pytest.raises(AttributeError, match="tickets"):
            cw.service.tikets  # noqa: B018


async def test_async_client_has_the_same_resources(settings):
    async with AsyncClient(settings) as cw:
        page = await cw.service.tickets.list(page_size=2)
        assert len(page) == 2 and isinstance(page[0], load_model("Ticket"))
        assert (await cw.service.tickets.get(id_=2)).id == 2
        with pytest.raises(AttributeError, match="did you mean list"):
            cw.service.tickets.lst  # noqa: B018


def test_file_responses_come_back_as_bytes(settings):
    with Client(settings) as cw:
        pdf = cw.finance.invoices.get_finance_invoices_by_id_pdf(id_=1)
    assert isinstance(pdf, bytes) and pdf.startswith(b"%PDF")
