"""Asking a person to approve a request, through MCP elicitation.

When the policy answers ``require_approval``, the user sees exactly what would be sent
(method, concrete path, query, body or PATCH operations) and ticks "approve" or declines. Only
an explicit accept with ``approve: true`` counts: a decline, a cancel, an unexpected answer or
a client without elicitation support all mean "not approved", with a message saying why. No
argument the model passes to a tool (a "confirm" flag or similar) is ever consulted.

The question is asked through a tool parameter marked ``Annotated[ElicitationResult[
ApprovalForm], Resolve(fn)]``: MCP 2026-07-28 connections cannot take a server-to-client
request in the middle of a tool call, and the SDK drives ``Resolve`` parameters through the
multi-round ``InputRequiredResult`` flow there (and a direct elicitation on older versions).
The resolver returns :func:`approval_question`; the tool turns what the SDK injected into an
:class:`ApprovalOutcome` with :func:`approval_outcome`. Resolved parameters are not part of the
tool's input schema, so the model cannot supply the approval. ``cwm_gateway.server`` is the
user of this pattern.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, StrictBool

__all__ = [
    "ApprovalForm",
    "ApprovalNotAsked",
    "ApprovalOutcome",
    "ApprovalRequest",
    "approval_outcome",
    "approval_question",
]

#: A request whose body does not fit in this many characters is not put to a person at all:
#: a prompt must show everything that would be sent, and no one reviews more than this.
MAX_BODY_CHARS = 50_000


class ApprovalForm(BaseModel):
    """The form the client shows: one checkbox."""

    # Strict: only a real boolean true approves (a string "true" is not an answer).
    approve: StrictBool = Field(
        default=False,
        description="Tick to send this request to ConnectWise exactly as shown.",
    )


@dataclass(frozen=True)
class ApprovalRequest:
    """Everything the user needs to judge one request."""

    tool: str
    method: str
    path: str
    """The concrete path that will be requested."""
    operation_id: str | None = None
    summary: str | None = None
    """The operation's summary from the spec."""
    risk: str | None = None
    params: Mapping[str, Any] | None = None
    body: Any = None
    reason: str = ""
    """Why approval is needed (the policy's text)."""
    rule: str = ""

    @classmethod
    def from_call(cls, call: Any, decision: Any = None) -> ApprovalRequest:
        """Build from a :class:`~cwm_gateway.policy.engine.CallContext` and its decision."""
        op = call.operation
        return cls(
            tool=call.tool,
            method=op.method if op is not None else "CALL",
            path=call.path or (op.path if op is not None else call.tool),
            operation_id=op.operation_id if op is not None else None,
            summary=getattr(op, "summary", None) if op is not None else None,
            risk=getattr(op, "risk", None) if op is not None else None,
            params=call.params,
            body=call.body,
            reason=getattr(decision, "reason", "") or "",
            rule=getattr(decision, "rule", "") or "",
        )

    def fingerprint(self) -> str:
        """A short digest of exactly what would be sent (method, path, query, body).

        It is part of the prompt, so an answer given to one prompt can never be taken for a
        request that differs in any byte (MCP ties recorded answers to the question's text).
        """
        canonical = json.dumps(
            [self.method, self.path, dict(self.params or {}), self.body],
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=True,
            default=str,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def too_large(self) -> str | None:
        """Why this request cannot be shown whole in a prompt, or None when it can."""
        if self.body is None:
            return None
        size = len(json.dumps(self.body, indent=2, ensure_ascii=False, default=str))
        if size <= MAX_BODY_CHARS:
            return None
        return (
            f"{self.method} {self.path} needs a person's approval, but its body is {size:,} "
            f"characters, more than an approval prompt shows in full ({MAX_BODY_CHARS:,}); "
            "no one can approve what they cannot see. Nothing was sent. Send fewer records "
            "per call."
        )

    def render(self) -> str:
        """The prompt text: the exact request, whole, then why approval is needed."""
        lines = ["Approve this ConnectWise request?", "", f"{self.method} {self.path}"]
        if self.params:
            query = "&".join(f"{k}={v}" for k, v in self.params.items())
            lines.append(f"Query: {query}")
        if self.operation_id or self.risk:
            what = self.operation_id or ""
            if self.summary:
                what += f" - {self.summary}"
            if self.risk:
                what += f" (risk: {self.risk})"
            lines.append(f"Operation: {what.strip()}")
        if self.body is not None:
            if _is_patch(self.body):
                lines.append("Changes (PATCH operations):")
                for op in self.body:
                    value = json.dumps(op.get("value"), ensure_ascii=False, default=str)
                    lines.append(f"  - {op.get('op')} {op.get('path')} = {value}")
            text = json.dumps(self.body, indent=2, ensure_ascii=False, default=str)
            lines += ["Body sent:", text]
        else:
            lines.append("No request body.")
        lines.append(f"Request fingerprint: {self.fingerprint()}")
        lines.append("")
        if self.reason:
            lines.append(f"Why you are asked: {self.reason}")
        lines.append("Nothing is sent unless you tick 'approve' and accept.")
        return "\n".join(lines)


def _is_patch(body: Any) -> bool:
    return (
        isinstance(body, list)
        and bool(body)
        and all(isinstance(x, Mapping) and "op" in x and "path" in x for x in body)
    )


@dataclass(frozen=True)
class ApprovalOutcome:
    """The answer: approved or not, and why."""

    approved: bool
    status: str
    """``approved``, ``not_ticked``, ``declined``, ``cancelled``, ``timeout``, ``unsupported``
    or ``error``."""
    message: str


def _client_can_elicit(ctx: Any) -> bool:
    try:
        session = ctx.request_context.session
    except (AttributeError, ValueError):
        return False
    caps = getattr(session, "client_capabilities", None)
    elicitation = getattr(caps, "elicitation", None) if caps is not None else None
    if elicitation is None:
        return False
    # An empty elicitation capability means form mode (the 2025-06 meaning); a client that
    # declares only URL mode cannot show our form.
    form = getattr(elicitation, "form", None)
    url = getattr(elicitation, "url", None)
    return form is not None or url is None


@dataclass(frozen=True)
class ApprovalNotAsked:
    """What an approval resolver returns when it does not ask (see :func:`approval_question`)."""

    status: str
    """``not_needed`` (the policy needs no approval), ``unsupported`` (the client cannot ask),
    ``too_large`` (the request cannot be shown whole) or ``error`` (preparing the question
    failed)."""
    message: str


def _unsupported_message(what: str) -> str:
    return (
        f"{what} needs a person's approval, but this MCP client cannot ask (it does not "
        "support elicitation). Nothing was sent. Use a client with elicitation support, "
        "or ask an administrator to change the policy."
    )


def approval_question(ctx: Any, summary: ApprovalRequest | None) -> Any:
    """For a ``Resolve`` resolver: the ``Elicit`` question for ``summary``, or why none is asked.

    Pass None when the call needs no approval. Returns ``Elicit(message, ApprovalForm)`` when
    the client can answer, else an :class:`ApprovalNotAsked` (so a client without elicitation
    gets a clear refusal instead of a protocol error).
    """
    if summary is None:
        return ApprovalNotAsked("not_needed", "No approval is needed.")
    too_large = summary.too_large()
    if too_large is not None:
        return ApprovalNotAsked("too_large", too_large)
    if not _client_can_elicit(ctx):
        return ApprovalNotAsked(
            "unsupported", _unsupported_message(f"{summary.method} {summary.path}")
        )
    from mcp.server.mcpserver.resolve import Elicit

    return Elicit(summary.render(), ApprovalForm)


def approval_outcome(resolved: Any, summary: ApprovalRequest) -> ApprovalOutcome:
    """Turn the value the SDK injected for a ``Resolve``-d approval parameter into an outcome.

    ``resolved`` is the ``ElicitationResult[ApprovalForm]`` union (annotate the parameter so,
    not as the bare model, or a decline aborts the call). Only an accepted form with
    ``approve`` ticked approves.
    """
    what = f"{summary.method} {summary.path}"
    action = getattr(resolved, "action", None)
    data = getattr(resolved, "data", None)
    if action == "accept" and isinstance(data, ApprovalNotAsked):
        if data.status in ("unsupported", "too_large", "error"):
            return ApprovalOutcome(False, data.status, data.message)
        # The resolver decided no approval was needed, yet the call needs one now: the policy
        # or the request changed between the two checks. Refuse rather than guess.
        return ApprovalOutcome(
            False,
            "error",
            f"{what} needs approval but none was asked for; nothing was sent. Try again.",
        )
    return _outcome_from_result(resolved, what)


def _outcome_from_result(result: Any, what: str) -> ApprovalOutcome:
    action = getattr(result, "action", None)
    if action == "accept":
        data = getattr(result, "data", None)
        if isinstance(data, ApprovalForm) and data.approve is True and type(data.approve) is bool:
            return ApprovalOutcome(True, "approved", f"The user approved {what}.")
        return ApprovalOutcome(
            False,
            "not_ticked",
            f"The user answered without ticking 'approve' for {what}. Nothing was sent.",
        )
    if action == "decline":
        return ApprovalOutcome(False, "declined", f"The user declined {what}. Nothing was sent.")
    if action == "cancel":
        return ApprovalOutcome(
            False, "cancelled", f"The user cancelled the approval of {what}. Nothing was sent."
        )
    return ApprovalOutcome(
        False, "error", f"Unexpected answer to the approval request for {what}. Nothing was sent."
    )
