"""Check the values of a validated request against the connection's reference data.

Validation (``validation``) knows field names and types; this module knows which values exist.
For every top-level reference field of the body (``status``, ``board``, ``workRole``,
``member``...; PATCH operations included) it

- resolves a name or identifier where ConnectWise needs an id: ticket status ``{"name":
  "Closed"}`` on board 1 becomes ``{"id": 7, "name": "Closed"}``; a closing word (close,
  closed, resolve, complete, done) with no status of that name picks the board's closed status;
- refuses a value that cannot exist, with the valid choices and a did-you-mean: a status or type
  that is not on the ticket's board (the board comes from the body, else from the ticket itself,
  fetched and kept briefly), a work role, work type, member, priority, location or department
  that does not exist, a company identifier that matches no company.

:func:`check_values` returns the rewritten request: the resolved values are what the policy
judges and what is sent. Refusals are one :class:`RequestValidationError` listing every problem;
nothing is sent. A reference list that cannot be read (permissions, outage) is not a refusal:
the value goes as written and a note says it was not checked.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cwm_gateway.errors import Problem, RequestValidationError
from cwm_gateway.refdata import KINDS, Choices, ReferenceData, RefItem, Unavailable
from cwm_gateway.validation import CanonicalRequest
from cwm_generated.types import RequestSpec

__all__ = ["REFERENCE_KINDS", "MayRead", "check_request", "check_values"]

#: Whether the caller's policy lets it read ``GET path`` (a list or one record).
MayRead = Callable[[str], bool]

#: Reference schema → reference-data kind. Statuses and types are per board.
REFERENCE_KINDS: dict[str, str] = {
    "BoardReference": "boards",
    "ServiceStatusReference": "statuses",
    "ServiceTypeReference": "types",
    "PriorityReference": "priorities",
    "WorkRoleReference": "work_roles",
    "WorkTypeReference": "work_types",
    "MemberReference": "members",
    "SystemLocationReference": "locations",
    "SystemDepartmentReference": "departments",
    "CompanyReference": "company",
}
_PER_BOARD = frozenset({"statuses", "types"})
#: Words that mean "close the ticket" when the board has no status of that name.
_CLOSING = frozenset(
    {"close", "closed", "resolve", "resolved", "complete", "completed", "done", "finished"}
)
#: Operations whose body is a service ticket: statuses and types are checked against its board.
_TICKET_PATHS = ("/service/tickets", "/service/tickets/{id}")


@dataclass
class _Ref:
    """One reference value found in the body, and how to write its resolution back."""

    field: str
    """Body field, e.g. ``status``."""
    kind: str
    where: str
    """Problem location: ``body.status`` or ``body[2].value``."""
    value: Any
    """The caller's value: an object, or an id/name/identifier for PATCH sub-paths."""
    sub: str | None = None
    """For PATCH ``status/id``-style paths: ``id``, ``name`` or ``identifier``."""
    index: int | None = None
    """Index of the PATCH operation, None for object bodies."""


@dataclass
class _Outcome:
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _resource(spec: RequestSpec[Any]) -> str | None:
    op = spec.operation
    if op.method not in ("POST", "PUT", "PATCH"):
        return None
    if op.body_kind == "patch":
        return op.response_model
    if op.body_kind == "model":
        return op.body_model
    return None


def _reference_fields(resource: str) -> dict[str, str]:
    """Top-level reference fields of a schema → kind (cached per schema)."""
    hit = _FIELDS_CACHE.get(resource)
    if hit is None:
        from cwm_generated.schemas import SCHEMAS

        schema = SCHEMAS.get(resource)
        hit = {}
        if schema is not None:
            for name, f in schema.fields.items():
                kind = REFERENCE_KINDS.get(f.ref or "")
                if kind is not None and f.type == "object" and not f.read_only:
                    hit[name] = kind
        _FIELDS_CACHE[resource] = hit
    return hit


_FIELDS_CACHE: dict[str, dict[str, str]] = {}


def _find_refs(spec: RequestSpec[Any], fields: dict[str, str]) -> list[_Ref]:
    body = spec.body
    refs: list[_Ref] = []
    if spec.operation.body_kind == "patch":
        if not isinstance(body, list):
            return refs
        lowered = {k.lower(): k for k in fields}
        for i, item in enumerate(body):
            if not isinstance(item, Mapping) or str(item.get("op", "")).lower() not in (
                "add",
                "replace",
            ):
                continue
            path = item.get("path")
            if not isinstance(path, str):
                continue
            parts = [p for p in path.strip("/").split("/") if p]
            if not parts or parts[0].lower() not in lowered:
                continue
            name = lowered[parts[0].lower()]
            sub = parts[1].lower() if len(parts) == 2 else None
            if len(parts) > 2 or (sub is not None and sub not in ("id", "name", "identifier")):
                continue
            refs.append(_Ref(name, fields[name], f"body[{i}].value", item.get("value"), sub, i))
        return refs
    if isinstance(body, Mapping):
        for name, kind in fields.items():
            if name in body and body[name] is not None:
                refs.append(_Ref(name, kind, f"body.{name}", body[name]))
    return refs


def _wanted(ref: _Ref) -> tuple[int | None, str | None, str | None]:
    """(id, name, identifier) the caller asked for."""
    value = ref.value
    if ref.sub is not None:
        if ref.sub == "id":
            return (
                (value if isinstance(value, int) and not isinstance(value, bool) else None),
                None,
                None,
            )
        text = value if isinstance(value, str) else None
        return (None, text, None) if ref.sub == "name" else (None, None, text)
    if not isinstance(value, Mapping):
        return None, None, None
    raw_id = value.get("id")
    ident = value.get("identifier")
    name = value.get("name")
    return (
        raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else None,
        name if isinstance(name, str) and name.strip() else None,
        ident if isinstance(ident, str) and ident.strip() else None,
    )


def _did_you_mean(word: str, choices: list[str]) -> str:
    folded = {c.casefold(): c for c in choices}
    close = difflib.get_close_matches(word.casefold(), list(folded), n=3, cutoff=0.6)
    if not close:
        close = [f for f in folded if word.casefold() in f or f in word.casefold()][:3]
    return f"did you mean {', '.join(repr(folded[c]) for c in close)}? " if close else ""


def _closing_status(choices: Choices) -> RefItem | None:
    closed = [i for i in choices.items if i.closed and not i.inactive]
    if not closed:
        return None
    for test in (
        lambda n: n == "closed",
        lambda n: "closed" in n,
        lambda n: "resolved" in n,
        lambda n: "complete" in n,
    ):
        for item in closed:
            if test(item.name.casefold()):
                return item
    return closed[0]


def _by_name(choices: Choices, name: str) -> list[RefItem]:
    found = choices.by_name.get(name.strip().casefold(), [])
    return sorted(found, key=lambda i: i.inactive)  # active first


class _Checker:
    def __init__(
        self, spec: RequestSpec[Any], refdata: ReferenceData, may_read: MayRead | None
    ) -> None:
        self.spec = spec
        self.refdata = refdata
        self.may_read = may_read
        self.out = _Outcome()
        self.resolved: dict[int, tuple[_Ref, RefItem, str]] = {}  # id(ref) → (ref, item, kind)

    async def choices(self, kind: str, board: int | None = None) -> Choices | Unavailable:
        return await self.refdata.choices(kind, board)

    def unavailable(self, ref: _Ref, what: str, why: Unavailable) -> None:
        self.out.notes.append(
            f"{ref.field}: not checked, the {what} could not be read ({why.reason}); sent as given."
        )

    async def check(self, ref: _Ref, board: int | None, board_label: str) -> RefItem | None:
        """Resolve one reference; records a problem and returns None when it cannot exist."""
        want_id, want_name, want_ident = _wanted(ref)
        if want_id is None and want_name is None and want_ident is None:
            return None  # nothing checkable (e.g. only _info); validation judged the shape
        path = (
            "/company/companies"
            if ref.kind == "company"
            else KINDS[ref.kind].path.replace("{board}", str(board))
        )
        if self.may_read is not None and not self.may_read(path):
            self.out.notes.append(
                f"{ref.field}: not checked, the policy does not allow reading {path}; sent as given."
            )
            return None
        if ref.kind == "company":
            return await self.check_company(ref, want_id, want_ident)
        label = _label(ref.kind)
        what = (
            f"{label}es of board {board_label}"
            if ref.kind == "statuses"
            else (f"types of board {board_label}" if ref.kind == "types" else f"{label}s")
        )
        choices = await self.choices(ref.kind, board)
        if isinstance(choices, Unavailable):
            self.unavailable(ref, what, choices)
            return None
        item = self.lookup(choices, want_id, want_name, want_ident)
        if item is None:
            fresh = await self.refdata.choices(ref.kind, board, reload_on_miss=True)
            if isinstance(fresh, Choices):
                choices = fresh
                item = self.lookup(choices, want_id, want_name, want_ident)
        closing = False
        if item is None and ref.kind == "statuses" and want_id is None and want_name:
            if want_name.strip().casefold() in _CLOSING:
                item = _closing_status(choices)
                closing = item is not None
                if item is not None:
                    self.out.notes.append(
                        f"{ref.field} {want_name!r}: board {board_label} has no status of that "
                        f"name; used its closed status {item.name!r} (id {item.id})."
                    )
                else:
                    self.out.problems.append(
                        Problem(
                            ref.where,
                            f"board {board_label} has no closed status to close the ticket with",
                            f"its statuses: {choices.describe()}",
                        )
                    )
                    return None
        if item is None:
            asked = f"id {want_id}" if want_id is not None else repr(want_ident or want_name)
            names = choices.names()
            hint = _did_you_mean(want_ident or want_name or "", names) if want_id is None else ""
            scope = f"on board {board_label}" if ref.kind in _PER_BOARD else "in ConnectWise"
            self.out.problems.append(
                Problem(
                    ref.where,
                    f"{label} {asked} does not exist {scope}",
                    f"{hint}valid {what}: {choices.describe()}",
                )
            )
            return None
        if item.inactive:
            self.out.notes.append(f"{ref.field}: {label} {item.name!r} (id {item.id}) is inactive.")
        if want_id is None and not closing:
            shown = item.identifier if ref.kind == "members" and item.identifier else item.name
            self.out.notes.append(
                f"{ref.field} {(want_ident or want_name)!r} resolved to {label} {shown!r} "
                f"(id {item.id})" + (f" of board {board_label}." if ref.kind in _PER_BOARD else ".")
            )
        self.resolved[id(ref)] = (ref, item, ref.kind)
        return item

    def lookup(
        self, choices: Choices, want_id: int | None, want_name: str | None, want_ident: str | None
    ) -> RefItem | None:
        if want_id is not None:
            return choices.by_id.get(want_id)
        if want_ident is not None:
            hit = choices.by_identifier.get(want_ident.strip().casefold())
            if hit is not None:
                return hit
            if choices.kind.identifier_field == "identifier" and want_name is None:
                return None
        if want_name is not None:
            found = _by_name(choices, want_name)
            if found:
                return found[0]
            if choices.kind.key == "members":  # members are named by identifier too
                return choices.by_identifier.get(want_name.strip().casefold())
        return None

    async def check_company(
        self, ref: _Ref, want_id: int | None, want_ident: str | None
    ) -> RefItem | None:
        if want_id is not None or want_ident is None:
            return None  # ids of companies are not listed (too many); ConnectWise checks them
        found = await self.refdata.company(want_ident.strip())
        if isinstance(found, Unavailable):
            self.unavailable(ref, "companies", found)
            return None
        if found is None:
            self.out.problems.append(
                Problem(
                    ref.where,
                    f"no company has the identifier {want_ident!r}",
                    'find it with GET /company/companies?conditions=name like "…%" and pass '
                    "{'id': …} or its exact identifier",
                )
            )
            return None
        self.out.notes.append(
            f"{ref.field} {want_ident!r} resolved to company {found.name!r} (id {found.id})."
        )
        self.resolved[id(ref)] = (ref, found, "company")
        return found


def _label(kind: str) -> str:
    return {
        "boards": "board",
        "statuses": "status",
        "types": "type",
        "priorities": "priority",
        "work_roles": "work role",
        "work_types": "work type",
        "members": "member",
        "locations": "location",
        "departments": "department",
        "company": "company",
    }[kind]


def _canonical(kind: str, item: RefItem) -> dict[str, Any]:
    if kind in ("members", "company") and item.identifier:
        return {"id": item.id, "identifier": item.identifier}
    return {"id": item.id, "name": item.name}


def _ticket_id(spec: RequestSpec[Any]) -> int | None:
    tail = spec.path.rstrip("/").rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else None


async def check_values(
    spec: RequestSpec[Any], refdata: ReferenceData, may_read: MayRead | None = None
) -> tuple[RequestSpec[Any], list[str]]:
    """Check and resolve the reference values of a validated request (see the module doc).

    Returns the request with resolved values (unchanged when there was nothing to resolve) and
    notes for the caller; raises :class:`RequestValidationError` when a value cannot exist.
    ``may_read(path)`` says whether the caller may read a list (``GET path``) under its policy:
    a value whose list it may not read is left unchecked, so neither a refusal's choices nor a
    resolution reveal what the policy hides.
    """
    resource = _resource(spec)
    if resource is None:
        return spec, []
    fields = _reference_fields(resource)
    if not fields:
        return spec, []
    refs = _find_refs(spec, fields)
    if not refs:
        return spec, []
    checker = _Checker(spec, refdata, may_read)
    is_ticket = spec.operation.path in _TICKET_PATHS
    # Boards first: statuses and types are judged on the board the ticket will be on.
    board_id: int | None = None
    board_label = ""
    for ref in refs:
        if ref.kind == "boards":
            item = await checker.check(ref, None, "")
            if item is not None:
                board_id, board_label = item.id, f"{item.name!r} (id {item.id})"
    per_board = [r for r in refs if r.kind in _PER_BOARD]
    if per_board and is_ticket and board_id is None:
        if any(r.kind == "boards" for r in refs):
            per_board = []  # the board itself was refused or unreadable; that is the problem
        elif spec.operation.method != "POST" and (ticket_id := _ticket_id(spec)) is not None:
            allowed = may_read is None or may_read(f"/service/tickets/{ticket_id}")
            ticket = await refdata.ticket(ticket_id) if allowed else None
            board = ticket.get("board") if ticket else None
            if isinstance(board, Mapping) and isinstance(board.get("id"), int):
                board_id = board["id"]
                board_label = f"{board.get('name', board_id)!r} (id {board_id})"
            else:
                checker.out.notes.append(
                    f"ticket {ticket_id} could not be read; its status and type were not checked."
                )
                per_board = []
        else:
            checker.out.notes.append(
                "No board given: the ticket goes on ConnectWise's default board, so its status "
                "and type were not checked; pass board to have them checked."
            )
            per_board = []
    for ref in refs:
        if ref.kind == "boards" or (ref.kind in _PER_BOARD and not is_ticket):
            continue
        if ref.kind in _PER_BOARD and ref not in per_board:
            continue
        await checker.check(ref, board_id if ref.kind in _PER_BOARD else None, board_label)
    _check_closing(spec, checker, board_id, board_label)
    if checker.out.problems:
        raise RequestValidationError(checker.out.problems, spec.operation.operation_id)
    if is_ticket and spec.operation.method != "POST" and (tid := _ticket_id(spec)) is not None:
        if any(r.kind == "boards" for r in refs):
            refdata.invalidate("ticket", "service", tid)  # its board (all we keep) is changing
    return _rewrite(spec, checker), checker.out.notes


def _rewrite(spec: RequestSpec[Any], checker: _Checker) -> RequestSpec[Any]:
    changes = [
        (ref, item, kind)
        for ref, item, kind in checker.resolved.values()
        if _wanted(ref)[0] is None  # given by name or identifier: write the id
    ]
    if not changes:
        return spec
    body = copy.deepcopy(spec.body)
    for ref, item, kind in changes:
        value = _canonical(kind, item)
        if ref.index is None:
            body[ref.field] = value
        else:
            op = dict(body[ref.index])
            op["path"] = ref.field
            op["value"] = value
            body[ref.index] = op
    return spec._replace(body=body)


async def check_request(
    request: CanonicalRequest, refdata: ReferenceData, may_read: MayRead | None = None
) -> tuple[CanonicalRequest, list[str]]:
    """:func:`check_values` for a canonical request: the same request with resolved values."""
    spec, notes = await check_values(request.spec, refdata, may_read)
    if spec is request.spec:
        return request, notes
    return dataclasses.replace(request, spec=spec), notes


def _closes(spec: RequestSpec[Any]) -> bool:
    """Whether the request sets ``closedFlag`` true."""
    body = spec.body
    if spec.operation.body_kind == "patch" and isinstance(body, list):
        return any(
            isinstance(op, Mapping)
            and str(op.get("path", "")).strip("/").lower() == "closedflag"
            and str(op.get("op", "")).lower() in ("add", "replace")
            and op.get("value") is True
            for op in body
        )
    return isinstance(body, Mapping) and body.get("closedFlag") is True


def _check_closing(
    spec: RequestSpec[Any], checker: _Checker, board_id: int | None, board_label: str
) -> None:
    """A ticket closed (``closedFlag`` true) with a status that is not a closed status."""
    if board_id is None or not _closes(spec):
        return
    for ref, item, kind in checker.resolved.values():
        if kind != "statuses" or item.closed:
            continue
        choices = checker.refdata.peek(("statuses", board_id))
        closed = (
            ", ".join(
                f"{i.name!r} (id {i.id})" for i in choices.items if i.closed and not i.inactive
            )
            if isinstance(choices, Choices)
            else ""
        )
        checker.out.problems.append(
            Problem(
                ref.where,
                f"closedFlag is true but status {item.name!r} (id {item.id}) is not a closed "
                f"status of board {board_label}",
                f"closed statuses of the board: {closed}" if closed else "use a closed status",
            )
        )
