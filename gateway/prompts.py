"""MCP prompts for common MSP workflows, and completions for the server's arguments.

The prompts are recipes over the existing tools (``read_api`` for reads, ``execute_api_call``
for changes): they name the calls, the fields and the checks, so a model needs no search for
the everyday jobs. Completions offer path templates, module and tag names, operation ids and
Fast Memory ids wherever a prompt or resource template takes one of those arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver.prompts.base import Prompt, PromptArgument
from mcp_types import Completion, CompletionArgument, CompletionContext

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from cwm_gateway.core import Gateway

__all__ = ["add_completions", "add_prompts", "completion_values"]

#: The most values one completion answer carries (the MCP limit).
MAX_COMPLETIONS = 100

TICKET_ID = ("ticket_id", "ConnectWise ticket number, e.g. 123", True)


def add_prompts(server: MCPServer) -> None:
    """Register the workflow prompts.

    Built as ``Prompt`` objects from their argument lists (every argument is text), not through
    the SDK's decorator: that derives a validation model per prompt, a cost at every start.
    """

    def prompt(name: str, title: str, *arguments: tuple[str, str, bool]):
        def register(fn: Callable[..., str]) -> Callable[..., str]:
            server.add_prompt(
                Prompt(
                    name=name,
                    title=title,
                    description=" ".join((fn.__doc__ or "").split()),
                    arguments=[
                        PromptArgument(name=n, description=d, required=r) for n, d, r in arguments
                    ],
                    fn=fn,
                    context_kwarg=None,
                )
            )
            return fn

        return register

    @prompt("triage_ticket", "Triage a service ticket", TICKET_ID)
    def triage_ticket(ticket_id: str) -> str:
        """Read a ticket, its notes and its company's other open tickets; propose a triage."""
        return f"""Triage ConnectWise service ticket #{ticket_id}.
1. read_api(path='/service/tickets/{ticket_id}') for the ticket (board, status, priority,
   company, contact, owner, summary).
2. read_api(path='/service/tickets/{ticket_id}/notes', params={{'orderBy': 'id desc',
   'pageSize': 10}}) for what has been said so far.
3. read_api(path='/service/tickets', params={{'conditions': 'company/id=<the company id> and
   closedFlag=false', 'pageSize': 25}}) for related open work (duplicates, an outage).
4. Propose: priority, status and board changes, an owner, and a next step for the customer.
   Do not change anything until I confirm; then use execute_api_call with method='PATCH' and
   data=[{{'op': 'replace', 'path': 'priority', 'value': {{'id': <id>}}}}, ...]."""

    @prompt(
        "log_time_on_ticket",
        "Log time on a ticket",
        TICKET_ID,
        ("hours", "Hours worked, e.g. 1.5", True),
        ("notes", "What was done", True),
    )
    def log_time_on_ticket(ticket_id: str, hours: str, notes: str) -> str:
        """Create a time entry charged to a ticket."""
        return f"""Log {hours} hours on ConnectWise ticket #{ticket_id} with the notes: {notes!r}.
1. get_api_endpoint_details(path='/time/entries', method='POST', field_filter='time') for the
   fields a time entry takes.
2. execute_api_call(path='/time/entries', method='POST', data={{'chargeToType':
   'ServiceTicket', 'chargeToId': {ticket_id}, 'timeStart': '<start, ISO 8601 UTC>',
   'actualHours': {hours}, 'notes': {notes!r}}}); add 'member': {{'identifier': '<me>'}} when
   the entry is for someone other than the API member.
3. Report the new entry's id and hours. If the gateway refuses (policy, validation), say why."""

    @prompt(
        "company_open_tickets",
        "A company's open tickets",
        ("company", "Company name or identifier", True),
    )
    def company_open_tickets(company: str) -> str:
        """Find a company and list its open service tickets."""
        return f"""List the open service tickets of the company {company!r}.
1. read_api(path='/company/companies', params={{'conditions': 'name like "{company}%" or
   identifier="{company}"', 'pageSize': 10}}) and pick the company (ask me if several match).
2. read_api(path='/service/tickets', params={{'conditions': 'company/id=<id> and
   closedFlag=false', 'orderBy': 'priority/sort asc, id desc', 'pageSize': 50}}).
3. Summarize by priority and status; follow the result's 'next' params if it says more."""

    @prompt(
        "close_ticket",
        "Close a ticket with its board's closed status",
        TICKET_ID,
        ("resolution", "Resolution note for the customer", False),
    )
    def close_ticket(ticket_id: str, resolution: str = "") -> str:
        """Close a ticket using a closed status of the ticket's own board."""
        note = (
            f"\n3. execute_api_call(path='/service/tickets/{ticket_id}/notes', method='POST', "
            f"data={{'text': {resolution!r}, 'resolutionFlag': True}}) for the resolution."
            if resolution
            else ""
        )
        last = 4 if resolution else 3
        return f"""Close ConnectWise ticket #{ticket_id}.
1. read_api(path='/service/tickets/{ticket_id}', params={{'fields': 'id,summary,board,status'}})
   for its board.
2. read_api(path='/service/boards/<board id>/statuses', params={{'conditions':
   'closedStatus=true and inactive=false'}}): statuses differ per board; pick the closed one
   (ask me if there are several).{note}
{last}. execute_api_call(path='/service/tickets/{ticket_id}', method='PATCH', data=[{{'op':
   'replace', 'path': 'status', 'value': {{'id': <closed status id>}}}}]) and report the result."""

    @prompt(
        "call_endpoint",
        "Call an endpoint correctly",
        ("path", "Path template, e.g. /service/tickets/{id}", True),
        ("goal", "What the call should achieve", False),
    )
    def call_endpoint(path: str, goal: str = "") -> str:
        """Read an operation's details, then call it."""
        aim = f" to {goal}" if goal else ""
        return f"""Call ConnectWise {path}{aim}.
1. get_api_endpoint_details(path={path!r}) for its methods, parameters and fields.
2. read_api for reads; execute_api_call for anything that changes data. Use the minimal valid
   body from the details, and fix what a validation error names before retrying."""


def completion_values(gateway: Gateway, name: str, value: str) -> list[str]:
    """Completion candidates for an argument called ``name`` that starts with ``value``."""
    from cwm_gateway import catalog

    wanted = (value or "").lower()
    visible = gateway._visible  # noqa: SLF001 - the policy's visibility predicate
    if name == "path":
        from cwm_generated.registry import OPERATIONS

        seen: dict[str, None] = {}
        for op in OPERATIONS:
            if op.path.lower().startswith(wanted) and visible(op):
                seen.setdefault(op.path, None)
        return sorted(seen, key=lambda p: (p.count("/"), p))
    if name == "operation_id":
        from cwm_generated.registry import OPERATIONS

        return sorted(
            op.operation_id
            for op in OPERATIONS
            if op.operation_id.lower().startswith(wanted) and visible(op)
        )
    if name in ("category", "tag"):
        names: dict[str, None] = {}
        for module in catalog.list_categories(visible=visible):
            if module.name.startswith(wanted):
                names.setdefault(module.name, None)
            for tag in module.tags:
                if tag.name.lower().startswith(wanted):
                    names.setdefault(tag.name, None)
        return list(names)
    if name == "query_id":
        return [str(q.id) for q in gateway.memory.list() if str(q.id).startswith(wanted)]
    if name == "method":
        return [
            m for m in ("GET", "POST", "PUT", "PATCH", "DELETE") if m.lower().startswith(wanted)
        ]
    return []


def add_completions(server: MCPServer, gateway: Gateway) -> None:
    """Answer ``completion/complete`` for prompt and resource-template arguments."""

    @server.completion()
    async def complete(
        ref: Any, argument: CompletionArgument, context: CompletionContext | None
    ) -> Completion:
        values = completion_values(gateway, argument.name, argument.value)
        return Completion(
            values=values[:MAX_COMPLETIONS],
            total=len(values),
            has_more=len(values) > MAX_COMPLETIONS,
        )
