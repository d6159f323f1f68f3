"""Customer-visible requests: the runtime risk class ``CustomerVisible``.

An operation's risk class (Read, Write...) is fixed by the generator; whether a write reaches a
customer depends on the values sent. ConnectWise shows a ticket note on the customer portal when
it is a Discussion note (``detailDescriptionFlag``) or a Resolution note (``resolutionFlag``),
never when it is only Internal (``internalAnalysisFlag``); ``processNotifications`` runs the
board's notification rules, which e-mail the ticket's contact; a time entry copies its notes into
the ticket's Discussion or Resolution (``addToDetailDescriptionFlag``, ``addToResolutionFlag``)
and e-mails the contact or the Cc addresses (``emailContactFlag``, ``emailCcFlag``;
``emailResourceFlag`` only reaches members, so it is not customer-visible); a ticket with
``automaticEmailContactFlag``/``automaticEmailCcFlag`` e-mails the contact on later updates and
``allowAllClientsPortalView`` shows it to every contact of the company on the portal. A document
attached to a ticket without ``privateFlag`` is listed with the ticket on the portal.

:func:`customer_visible` reads the canonical request (operation and body, PATCH operations
included) and says why it is customer-visible, or nothing. The policy engine adds
:data:`CUSTOMER_VISIBLE` to a call's risks when it is, so a rule ``match: {risk:
[CustomerVisible]}`` can ask for approval on exactly those requests.

Not covered (the request alone cannot tell): editing the text of a note that is already a
Discussion note, and board-level notification rules that fire on status changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["CUSTOMER_VISIBLE", "RUNTIME_RISKS", "customer_visible"]

#: The runtime risk class of requests a customer sees (portal) or receives (e-mail).
CUSTOMER_VISIBLE = "CustomerVisible"
#: Risk classes decided per request at run time (beside the generated, per-operation ones).
RUNTIME_RISKS = (CUSTOMER_VISIBLE,)

_NOTE_FLAGS = {
    "detailDescriptionFlag": "a Discussion note, shown to the customer on the portal",
    "resolutionFlag": "a Resolution note, shown to the customer on the portal",
    "processNotifications": "runs the board's notifications, which e-mail the ticket's contact",
    "externalFlag": "an external note, meant for the customer",
}
_TICKET_FLAGS = {
    "automaticEmailContactFlag": "e-mails the ticket's contact on every update",
    "automaticEmailCcFlag": "e-mails the Cc addresses on every update",
    "allowAllClientsPortalView": "shows the ticket to every contact of the company on the portal",
    "processNotifications": "runs the board's notifications, which e-mail the ticket's contact",
}
_TIME_ENTRY_FLAGS = {
    "addToDetailDescriptionFlag": "adds the notes to the ticket's Discussion, shown on the portal",
    "addToResolutionFlag": "adds the notes to the ticket's Resolution, shown on the portal",
    "emailContactFlag": "e-mails the ticket's contact",
    "emailCcFlag": "e-mails the Cc addresses",
}
#: Resource schema (the body model, or the patched resource) → flags that make it visible.
_FLAGS: dict[str, dict[str, str]] = {
    "ServiceNote": _NOTE_FLAGS,
    "TicketNote": _NOTE_FLAGS,
    "ProjectTicketNote": _NOTE_FLAGS,
    "Ticket": _TICKET_FLAGS,
    "ProjectTicket": _TICKET_FLAGS,
    "TimeEntry": _TIME_ENTRY_FLAGS,
}
#: Document record types that ConnectWise lists with a ticket on the portal.
_TICKET_RECORD_TYPES = frozenset({"ticket", "projectticket", "service"})


def _resource(op: Any) -> str | None:
    if op.method not in ("POST", "PUT", "PATCH"):
        return None
    if op.path.endswith("/defaults"):
        return None  # asks for defaults; nothing is stored or sent on
    if op.body_kind == "patch":
        return op.response_model
    return op.body_model


def _patch_values(body: Any) -> dict[str, Any]:
    """Field → value set by add/replace operations (paths compared without slashes and case)."""
    out: dict[str, Any] = {}
    if not isinstance(body, list):
        return out
    for item in body:
        if not isinstance(item, Mapping):
            continue
        if str(item.get("op", "")).lower() not in ("add", "replace"):
            continue
        path = item.get("path")
        if isinstance(path, str):
            out[path.strip("/").split("/")[0].lower()] = item.get("value")
    return out


_TRUE_TEXT = frozenset({"true", "1", "yes", "on", "t", "y"})


def _truthy(value: Any) -> bool:
    # Validation keeps the caller's JSON type and accepts what Pydantic reads as true ("true",
    # 1, "yes"...); whatever could be read as true counts, so a spelling cannot slip past.
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value == 1
    return isinstance(value, str) and value.strip().lower() in _TRUE_TEXT


def customer_visible(op: Any, body: Any) -> tuple[str, ...]:
    """Why this request is visible to the customer (``field: effect`` lines), or ``()``.

    ``op`` is a ``cwm_generated.types.Operation``; ``body`` the canonical request body.
    """
    resource = _resource(op)
    if resource is None:
        return ()
    if resource == "DocumentFormData":
        return _document_reasons(body)
    flags = _FLAGS.get(resource)
    if flags is None:
        return ()
    if op.body_kind == "patch":
        values = _patch_values(body)
        lowered = {k.lower(): k for k in flags}
        return tuple(
            f"{lowered[k]}: {flags[lowered[k]]}"
            for k, v in values.items()
            if k in lowered and _truthy(v)
        )
    items = body if isinstance(body, list) else [body]
    reasons: list[str] = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        for name, effect in flags.items():
            line = f"{name}: {effect}"
            if _truthy(item.get(name)) and line not in reasons:
                reasons.append(line)
    return tuple(reasons)


def _document_reasons(body: Any) -> tuple[str, ...]:
    if not isinstance(body, Mapping):
        return ()
    record_type = body.get("recordType")
    if not isinstance(record_type, str) or record_type.lower() not in _TICKET_RECORD_TYPES:
        return ()
    if _truthy(body.get("privateFlag")):
        return ()
    return (
        f"recordType {record_type} without privateFlag: the document is listed with the ticket "
        "on the customer portal",
    )
