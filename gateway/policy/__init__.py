"""Policy layer: rules, decisions, rate limits, approvals and the audit trail.

The policy format: :mod:`cwm_gateway.policy.document` (and the README's Policy section).
"""

from cwm_gateway.policy.approval import (
    ApprovalForm,
    ApprovalNotAsked,
    ApprovalOutcome,
    ApprovalRequest,
    approval_outcome,
    approval_question,
)
from cwm_gateway.policy.audit import AuditLog, render_table, scrub
from cwm_gateway.policy.engine import CallContext, Decision, ExplainLine, PolicyEngine
from cwm_gateway.policy.loader import (
    default_policy_path,
    load_default_policy,
    load_policy,
    parse_policy,
)
from cwm_gateway.policy.ratelimit import InMemoryRateLimiter, SqliteRateLimiter
from cwm_gateway.policy.rules import Policy, PolicyError

__all__ = [
    "ApprovalForm",
    "ApprovalNotAsked",
    "ApprovalOutcome",
    "ApprovalRequest",
    "AuditLog",
    "CallContext",
    "Decision",
    "ExplainLine",
    "InMemoryRateLimiter",
    "Policy",
    "PolicyEngine",
    "PolicyError",
    "SqliteRateLimiter",
    "approval_outcome",
    "approval_question",
    "default_policy_path",
    "load_default_policy",
    "load_policy",
    "parse_policy",
    "render_table",
    "scrub",
]
