"""Policy layer: rules, decisions, rate limits, approvals and the audit trail.

The policy format: :mod:`cwm_gateway.policy.document` (and the README's Policy section).

The names below load from their modules on first use: the server starts with the approval
form, the audit log and the rate limiter, and loads the engine (and the rules it runs) when the
first call needs a decision (see :class:`cwm_gateway.core.DeferredEngine`).
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what IDEs and type checkers see; _EXPORTS says the same at run time
    from cwm_gateway.policy.approval import ApprovalForm as ApprovalForm
    from cwm_gateway.policy.approval import ApprovalNotAsked as ApprovalNotAsked
    from cwm_gateway.policy.approval import ApprovalOutcome as ApprovalOutcome
    from cwm_gateway.policy.approval import ApprovalRequest as ApprovalRequest
    from cwm_gateway.policy.approval import approval_outcome as approval_outcome
    from cwm_gateway.policy.approval import approval_question as approval_question
    from cwm_gateway.policy.audit import AuditLog as AuditLog
    from cwm_gateway.policy.audit import render_table as render_table
    from cwm_gateway.policy.audit import scrub as scrub
    from cwm_gateway.policy.engine import CallContext as CallContext
    from cwm_gateway.policy.engine import Decision as Decision
    from cwm_gateway.policy.engine import ExplainLine as ExplainLine
    from cwm_gateway.policy.engine import PolicyEngine as PolicyEngine
    from cwm_gateway.policy.loader import default_policy_path as default_policy_path
    from cwm_gateway.policy.loader import load_default_policy as load_default_policy
    from cwm_gateway.policy.loader import load_policy as load_policy
    from cwm_gateway.policy.loader import parse_policy as parse_policy
    from cwm_gateway.policy.ratelimit import InMemoryRateLimiter as InMemoryRateLimiter
    from cwm_gateway.policy.ratelimit import SqliteRateLimiter as SqliteRateLimiter
    from cwm_gateway.policy.rules import Policy as Policy
    from cwm_gateway.policy.rules import PolicyError as PolicyError

#: Each exported name and the submodule that defines it.
_EXPORTS = {
    **dict.fromkeys(
        (
            "ApprovalForm",
            "ApprovalNotAsked",
            "ApprovalOutcome",
            "ApprovalRequest",
            "approval_outcome",
            "approval_question",
        ),
        "approval",
    ),
    **dict.fromkeys(("AuditLog", "render_table", "scrub"), "audit"),
    **dict.fromkeys(("CallContext", "Decision", "ExplainLine", "PolicyEngine"), "engine"),
    **dict.fromkeys(
        ("default_policy_path", "load_default_policy", "load_policy", "parse_policy"), "loader"
    ),
    **dict.fromkeys(("InMemoryRateLimiter", "SqliteRateLimiter"), "ratelimit"),
    **dict.fromkeys(("Policy", "PolicyError"), "rules"),
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # the next lookup finds it without this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
