"""README-style uses of the typed client, for pyright (tests/test_typing.py asserts the types it
infers: each ``reveal_type`` below is checked against the comment on its line). Never run."""

from __future__ import annotations

from typing import reveal_type

from cwm_gateway import AsyncClient, Client, Settings
from cwm_gateway.client import ApiResponse
from cwm_generated.models import CompanyReference, Ticket, TicketNote
from cwm_generated.operations import service


def sync_usage(cw: Client) -> None:
    tickets = cw.send(service.get_service_tickets(conditions='status/name="New"', page_size=50))
    reveal_type(tickets)  # ApiResponse[list[Ticket]]
    reveal_type(tickets.data)  # list[Ticket]
    for t in tickets.data:
        reveal_type(t.summary)  # str
        reveal_type(t.status)  # ServiceStatusReference | None
    reveal_type(cw.service.tickets.get(id_=42))  # Ticket
    reveal_type(cw.service.tickets.list(page_size=10))  # list[Ticket]
    reveal_type(cw.service.get_service_tickets_by_id(id_=42))  # Ticket
    reveal_type(cw.service.tickets.count())  # Count
    note = cw.service.ticket_notes.create(parent_id=42, body={"text": "Called"})
    reveal_type(note)  # ServiceNote
    reveal_type(cw.service.tickets.delete(id_=42))  # None
    reveal_type(cw.finance.invoices.get_finance_invoices_by_id_pdf(id_=1))  # bytes
    reveal_type(cw.call("GET", "/service/tickets/42"))  # ApiResponse[Any]
    for ticket in cw.paginate(service.get_service_tickets(page_size=1000), max_items=5000):
        reveal_type(ticket)  # Ticket


async def async_usage(acw: AsyncClient) -> None:
    reveal_type(await acw.service.tickets.get(id_=42))  # Ticket
    reveal_type(acw.service.tickets.count())  # Coroutine[Any, Any, Count]
    reveal_type(await acw.send(service.get_service_tickets()))  # ApiResponse[list[Ticket]]
    async for ticket in acw.paginate(service.get_service_tickets()):
        reveal_type(ticket)  # Ticket


def models_and_exports() -> None:
    reveal_type(Client)  # type[Client]
    reveal_type(AsyncClient)  # type[AsyncClient]
    reveal_type(Settings)  # type[Settings]
    reveal_type(Ticket)  # type[Ticket]
    ticket = Ticket(summary="Printer down", company=CompanyReference(id=2))
    reveal_type(ticket)  # Ticket
    reveal_type(TicketNote(text="x").text)  # str | None
    reveal_type(service.post_service_tickets(body=ticket))  # RequestSpec[Ticket]
    reveal_type(service.Tickets.get(id_=42))  # RequestSpec[Ticket]
    reveal_type(ApiResponse)  # type[ApiResponse[Unknown]]
