"""The rules that give every operation its risk class.

Order matters: the first rule that matches wins, from most to least dangerous.

- DELETE anything → Destructive.
- A write (POST/PUT/PATCH) touching money → Financial: the ``/finance`` module (invoices,
  agreements, billing), and anywhere else a path names invoices, payments, purchase orders,
  billing, GL, tax, pricing or credits.
- A POST to an action endpoint (the last literal segment is a verb such as approve, merge, copy,
  deactivate, convert, submit) → Execute. Such calls run server-side workflows rather than store
  a record.
- A POST to a search endpoint (the last literal segment is ``search``, e.g.
  ``/service/tickets/search``: conditions in a body instead of the query string, answered with
  the same list a GET gives) → Read. The registry has two (service and project tickets); the
  ``.../count`` POSTs are not reads (``/system/bundles/count`` runs a bundle of requests).
- Other POST/PUT/PATCH → Write.
- GET/HEAD → Read. Reading financial data is still a read: policies can match on category if
  they want to restrict it.
"""

from __future__ import annotations

import re

_FINANCIAL = re.compile(
    r"invoice|payment|purchaseorder|billing|glaccount|glentr|glpath|gltype|tax|pricing|"
    r"credit|currenc|accounting|expense/reports|agreement",
    re.IGNORECASE,
)
_ACTION_VERBS = frozenset(
    """
    approve reject merge copy deactivate activate convert submit reopen close send
    transfer void apply unapply clear reset test testconnection sync run execute process
    link unlink linksso linkssouser unlinkssouser markas reverse release recall cancel
    attach detach import export move refresh generate calculate recalculate validate
    forecast convertToTicket converttoproject converttoticket
    """.lower().split()
)


def _last_literal(path: str) -> str:
    for segment in reversed(path.strip("/").split("/")):
        if not segment.startswith("{"):
            return segment
    return ""


def is_action_path(path: str) -> bool:
    """True when the path ends in a verb-like action segment (``.../{id}/approve``)."""
    last = _last_literal(path).lower()
    if last in _ACTION_VERBS:
        return True
    return any(last.startswith(verb) for verb in ("convert", "copy", "merge", "link", "unlink"))


def risk_class(method: str, path: str) -> str:
    """Risk class of one operation: Read, Write, Execute, Destructive or Financial."""
    method = method.upper()
    if method == "DELETE":
        return "Destructive"
    if method in ("GET", "HEAD", "OPTIONS"):
        return "Read"
    if method == "POST" and _last_literal(path).lower() == "search":
        return "Read"
    if path.startswith("/finance/") or _FINANCIAL.search(path):
        return "Financial"
    if method == "POST" and is_action_path(path):
        return "Execute"
    return "Write"
