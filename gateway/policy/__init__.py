"""Policy layer: rules, decisions, rate limits, approvals and the audit trail.

The policy format: :mod:`cwm_gateway.policy.document` (and the README's Policy section).

The names below load from their modules on first use: the server starts with the approval
form, the audit log and the rate limiter, and loads the engine (and the rules it runs) when the
first call needs a decision (see :class:`cwm_gateway.core.DeferredEngine`).
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what IDEs and type checkers see; __getattr__ finds the same at run time
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

#: Where the package's names come from: each submodule's public names (its ``__all__``),
#: looked up in this order, the ones cheapest to import first.
_SUBMODULES = ("approval", "audit", "ratelimit", "loader", "rules", "engine")


def __getattr__(name: str) -> Any:
    # Tools probe modules for dunders (__wrapped__, __path__...): no submodule defines those.
    for submodule in () if name.startswith("__") else _SUBMODULES:
        module = import_module(f"{__name__}.{submodule}")
        if name in module.__all__:
            value = getattr(module, name)
            globals()[name] = value  # the next lookup finds it without this function
            return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    names = (import_module(f"{__name__}.{m}").__all__ for m in _SUBMODULES)
    return sorted({*globals(), *(n for public in names for n in public)})
