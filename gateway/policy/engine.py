"""The policy engine: one decision per tool call, with counters, reservations and an audit trail.

Typical use in a tool (see :mod:`cwm_gateway.policy.rules` for the policy format)::

    engine = PolicyEngine(load_policy(path), SqliteRateLimiter(), AuditLog())
    call = CallContext.for_request("execute_api_call", grant=session_id,
                                   arguments=args, request=spec)
    decision = engine.decide(call)          # reserves counter budget unless it denies
    if decision.action == "require_approval":
        outcome = approval_outcome(approval, ApprovalRequest.from_call(call, decision))
        decision = decision.after_approval(outcome.approved, outcome.message)
    if not decision.allowed:
        engine.rollback(decision)           # nothing is sent: give the budget back
        engine.record(call, decision)
        return decision.message()
    try:
        ...send...
    except UpstreamFailure:
        engine.rollback(decision)           # a failed upstream call uses no quota
        raise
    engine.commit(decision)
    engine.record(call, decision, status=200, latency_ms=12.5)

``preview`` and ``explain`` never count. Decisions are synchronous and fast (no I/O unless
counters apply, then one SQLite transaction).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, NamedTuple

from cwm_gateway.errors import RequestValidationError
from cwm_gateway.policy.audit import AuditLog, new_correlation_id
from cwm_gateway.policy.ratelimit import (
    InMemoryRateLimiter,
    LimitRequest,
    RateLimiter,
    Reservation,
)
from cwm_gateway.policy.rules import (
    Check,
    Limit,
    Policy,
    path_key,
    request_attr,
    walk,
)
from cwm_gateway.policy.visibility import CUSTOMER_VISIBLE, customer_visible

__all__ = ["CallContext", "Decision", "ExplainLine", "PolicyEngine"]

ALLOW = "allow"
DENY = "deny"
REQUIRE_APPROVAL = "require_approval"
_RANK = {ALLOW: 0, REQUIRE_APPROVAL: 1, DENY: 2}
#: What Intercept puts before every denial it returns to the agent.
INTERCEPT_PREFIX = "[INTERCEPT POLICY DENIED] "


@dataclass(frozen=True)
class CallContext:
    """What the engine knows about one tool call.

    ``grant`` is the client session id (limits with scope grant count per grant).
    ``operation`` is a ``cwm_generated.types.Operation`` when the call targets ConnectWise (as
    the request exercises it: its risk may be raised, e.g. for a soft delete); ``request`` is
    then the canonical request (``cwm_gateway.validation.CanonicalRequest``, read by conditions
    as ``request.<attr>``) and ``path``, ``params`` and ``body`` are exactly what would be sent.
    For the upstream tools, ``arguments`` are the canonical ``{method, path, params, data}``,
    whichever tool (and spelling) carried the request.
    """

    tool: str
    grant: str | None = None
    arguments: Mapping[str, Any] = field(default_factory=dict)
    operation: Any = None
    path: str | None = None
    params: Mapping[str, Any] | None = None
    body: Any = None
    correlation_id: str = field(default_factory=new_correlation_id)
    request: Any = None
    risks: frozenset[str] = frozenset()
    """Runtime risk classes of this request beside the operation's (e.g. ``CustomerVisible``,
    see :mod:`cwm_gateway.policy.visibility`); operation rules match ``risk`` against both."""
    risk_reasons: tuple[str, ...] = ()
    """Why the runtime risks apply (``field: effect`` lines), for prompts and explanations."""

    @property
    def method(self) -> str | None:
        """The operation's HTTP method, if the call targets one."""
        return self.operation.method if self.operation is not None else None

    @classmethod
    def for_request(
        cls,
        tool: str,
        *,
        grant: str | None,
        arguments: Mapping[str, Any] | None = None,
        request: Any,
        correlation_id: str | None = None,
    ) -> CallContext:
        """Build from a canonical request (``cwm_gateway.validation.CanonicalRequest``).

        A bare ``RequestSpec`` (operation, path, params, body) is accepted too. The request's
        runtime risks are classified here, from the canonical body, so every decision on a
        request sees them.
        """
        canonical = request if hasattr(request, "spec") else None
        if arguments is None:
            arguments = canonical.arguments() if canonical is not None else {}
        reasons = customer_visible(request.operation, request.body)
        return cls(
            tool=tool,
            grant=grant,
            arguments=arguments or {},
            operation=request.operation,
            path=request.path,
            params=request.params,
            body=request.body,
            correlation_id=correlation_id or new_correlation_id(),
            request=canonical,
            risks=frozenset({CUSTOMER_VISIBLE}) if reasons else frozenset(),
            risk_reasons=reasons,
        )


@dataclass(frozen=True)
class Decision:
    """The engine's answer for one call."""

    action: str
    """``allow``, ``deny`` or ``require_approval``."""
    reason: str
    """Human text for the agent (and the audit log)."""
    rule: str
    """Id of the rule that decided: ``tools.<name>``, a rule name, ``default``..."""
    retry_after: float | None = None
    """Seconds until a refused rate-limited call may be retried."""
    hidden: bool = False
    """True when the tool or operation is hidden by the policy."""
    limits: tuple[str, ...] = ()
    """The limits this call was counted against (descriptions)."""
    dialect: str = "hosted"
    """The policy's dialect: Intercept denials carry Intercept's prefix."""
    reservation: Reservation | None = field(default=None, repr=False, compare=False)
    """Counter budget taken by :meth:`PolicyEngine.decide`; commit or roll back."""
    prompt_counters: frozenset[int] = frozenset()
    """Indexes (in the reservation) of limits that count approval prompts."""
    asked: bool = False
    """A person was asked about this call (their budget stays used once asked)."""

    @property
    def allowed(self) -> bool:
        """True when the call may go ahead now."""
        return self.action == ALLOW

    def message(self) -> str:
        """Text to return to the agent when the call does not go ahead."""
        if self.action == ALLOW:
            return "Allowed."
        if self.action == REQUIRE_APPROVAL:
            return f"Needs approval: {self.reason}"
        if self.dialect == "intercept":
            return INTERCEPT_PREFIX + self.reason
        return f"Refused by policy ({self.rule}): {self.reason}"

    def after_approval(self, approved: bool, message: str = "", *, asked: bool = True) -> Decision:
        """The decision once a person answered a require_approval prompt (``asked=False``:
        there was no way to ask)."""
        if self.action != REQUIRE_APPROVAL:
            return self
        if approved:
            text = f"Approved by the user. {self.reason}"
            return replace(self, action=ALLOW, reason=text, asked=asked)
        text = message or "The user did not approve the request."
        return replace(self, action=DENY, reason=text, asked=asked)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for tool output."""
        out: dict[str, Any] = {"action": self.action, "reason": self.reason, "rule": self.rule}
        if self.retry_after is not None:
            out["retry_after"] = round(self.retry_after, 3)
        if self.hidden:
            out["hidden"] = True
        return out


class ExplainLine(NamedTuple):
    """One step of :meth:`PolicyEngine.explain`."""

    rule: str
    matched: bool
    why: str


class _Verdicts:
    """Collects verdicts; the strictest wins, the first of each kind is reported."""

    __slots__ = ("action", "rule", "reason", "hidden", "limits", "trace")

    def __init__(self, trace: list[ExplainLine] | None) -> None:
        self.action = ALLOW
        self.rule = "default"
        self.reason = "Allowed by the policy."
        self.hidden = False
        self.limits: list[Limit] = []
        self.trace = trace

    def add(self, action: str, rule: str, reason: str, hidden: bool = False) -> None:
        # Among allows the last (most specific: operation rules come last) is reported.
        if _RANK[action] > _RANK[self.action] or (action == ALLOW and self.action == ALLOW):
            self.action, self.rule, self.reason, self.hidden = action, rule, reason, hidden

    def note(self, rule: str, matched: bool, why: str) -> None:
        if self.trace is not None:
            self.trace.append(ExplainLine(rule, matched, why))

    @property
    def done(self) -> bool:
        # Nothing can beat a deny; stop early unless explaining.
        return self.action == DENY and self.trace is None


class PolicyEngine:
    """Decides tool calls against a :class:`Policy`.

    ``ratelimiter`` defaults to an :class:`InMemoryRateLimiter` (pass a
    :class:`SqliteRateLimiter` in a server so counters hold across restarts and processes).
    ``audit`` is optional; without it :meth:`record` does nothing.
    """

    def __init__(
        self,
        policy: Policy,
        ratelimiter: RateLimiter | None = None,
        audit: AuditLog | None = None,
        *,
        clock: Any = time.time,
    ) -> None:
        self.policy = policy
        self.ratelimiter: RateLimiter = ratelimiter or InMemoryRateLimiter(clock)
        self.audit = audit
        self._clock = clock
        self._templates: dict[str, str] = {}
        self._hidden: dict[str, bool] = {}
        self._hide_rules = tuple(r for r in policy.rules if r.action == "hide")
        self._intercept = policy.dialect == "intercept"

    # -- listings ------------------------------------------------------------------------

    def is_hidden(self, operation: Any) -> bool:
        """Whether an operation is hidden (left out of search and category results)."""
        key = operation.operation_id
        hit = self._hidden.get(key)
        if hit is None:
            template = self._template(operation.path)
            hit = any(
                r.static_mismatch(operation) is None
                and (r.paths is None or any(p.matches(template, None) for p in r.paths))
                for r in self._hide_rules
            )
            self._hidden[key] = hit
        return hit

    def visible(self, operations: Iterable[Any]) -> list[Any]:
        """The operations that are not hidden, in their order."""
        return [op for op in operations if not self.is_hidden(op)]

    def is_tool_hidden(self, tool: str) -> bool:
        """Whether a tool should be left out of tools/list."""
        return self.policy.is_tool_hidden(tool)

    # -- decisions -----------------------------------------------------------------------

    def decide(self, call: CallContext) -> Decision:
        """Decide one call, reserving counter budget when the answer is not deny.

        The budget stays taken (:meth:`commit`) unless :meth:`rollback` gives it back: when
        the call is not sent after all or the upstream call fails.
        """
        v = _Verdicts(None)
        self._evaluate(call, v)
        dialect = self.policy.dialect
        if v.action == DENY:
            return Decision(DENY, v.reason, v.rule, hidden=v.hidden, dialect=dialect)
        limits = _dedupe(v.limits, call)
        if not limits:
            return Decision(v.action, v.reason, v.rule, dialect=dialect)
        reqs = []
        for key, lim in limits:
            amount = _amount(lim, call)
            if amount is None:
                shown = "args." + ".".join(str(p) for p in lim.increment_from or ())
                return Decision(
                    DENY,
                    f"{shown} must be a number of at least 0 to count against "
                    f"{lim.namespace}.{lim.counter}.",
                    lim.rule or lim.source,
                    dialect=dialect,
                )
            reqs.append(LimitRequest(key, lim.seconds, lim.max, amount, lim.sliding))
        got = self.ratelimiter.acquire(reqs)
        described = tuple(lim.describe() for _, lim in limits)
        if not got.allowed:
            assert got.blocked is not None
            lim = limits[got.blocked][1]
            return Decision(
                DENY,
                self._limit_message(lim, got.retry_after),
                lim.rule or lim.source,
                retry_after=got.retry_after,
                limits=described,
                dialect=dialect,
            )
        return Decision(
            v.action,
            v.reason,
            v.rule,
            limits=described,
            dialect=dialect,
            reservation=got.reservation,
            prompt_counters=frozenset(i for i, (_, lim) in enumerate(limits) if lim.counts_prompts),
        )

    def commit(self, decision: Decision) -> None:
        """The call went through: its reserved budget stays used."""
        if decision.reservation is not None:
            decision.reservation.released = True  # nothing left to give back

    def rollback(self, decision: Decision) -> None:
        """The call was not sent or failed upstream: give its reserved budget back.

        Limits that count approval prompts stay used once a person was asked.
        """
        reservation = decision.reservation
        if reservation is None or reservation.released:
            return
        if decision.asked and decision.prompt_counters:
            keep = decision.prompt_counters
            back = [e for i, e in enumerate(reservation.entries) if i not in keep]
            reservation.released = True
            self.ratelimiter.release(Reservation(back))
        else:
            self.ratelimiter.release(reservation)

    def preview(self, call: CallContext, *, with_limits: bool = False) -> Decision:
        """The decision, taking nothing (e.g. to prepare an approval).

        With ``with_limits`` a call whose counters are full now is refused here too, so no
        person is asked to approve a call that would then be refused.
        """
        v = _Verdicts(None)
        self._evaluate(call, v)
        dialect = self.policy.dialect
        if with_limits and v.action != DENY:
            for key, lim in _dedupe(v.limits, call):
                req = LimitRequest(key, lim.seconds, lim.max, 1.0, lim.sliding)
                amount = _amount(lim, call)
                if amount is None or self.ratelimiter.peek(req) + amount > lim.max:
                    reason = self._limit_message(lim, None)
                    return Decision(DENY, reason, lim.rule or lim.source, dialect=dialect)
        return Decision(v.action, v.reason, v.rule, hidden=v.hidden, dialect=dialect)

    def explain(self, call: CallContext) -> list[ExplainLine]:
        """A dry run: every rule checked, whether it matched and why; nothing is counted.

        The last line (rule ``result``) is the decision :meth:`decide` would make now.
        """
        trace: list[ExplainLine] = []
        v = _Verdicts(trace)
        self._evaluate(call, v)
        action, rule, reason = v.action, v.rule, v.reason
        for key, lim in _dedupe(v.limits, call):
            req = LimitRequest(key, lim.seconds, lim.max, 1.0, lim.sliding)
            used = self.ratelimiter.peek(req)
            amount = _amount(lim, call) or 0.0
            full = used + amount > lim.max
            trace.append(
                ExplainLine(
                    lim.source,
                    True,
                    f"limit {lim.describe()}: {used:g} of {lim.max:g} used in the current window"
                    + (" (full: the call would be refused)" if full else ""),
                )
            )
            if full and action != DENY:
                action, rule = DENY, lim.rule or lim.source
                reason = self._limit_message(lim, None)
        trace.append(ExplainLine("result", True, f"{action} by {rule}: {reason}"))
        return trace

    def _state(self, call: CallContext) -> Any:
        def read(lim: Limit) -> float:
            key = _limit_key(lim, call)
            return self.ratelimiter.peek(LimitRequest(key, lim.seconds, lim.max, 1.0, lim.sliding))

        return read

    def _check(self, check: Check, call: CallContext, v: _Verdicts) -> None:
        tool, kind = call.tool, check.kind
        if kind == "deny":
            default = (
                f'Denied by rule "{check.rule}"'
                if self._intercept
                else f"The tool {tool!r} is denied by the policy."
            )
            v.add(DENY, check.rule, check.message or default)
            v.note(check.rule, True, "denies every call")
            return
        if kind == "approval":
            text = check.message or f"The policy requires approval for every use of {tool!r}."
            v.add(REQUIRE_APPROVAL, check.rule, text)
            v.note(check.rule, True, "requires approval")
            return
        state = self._state(call)
        for cond in check.conditions:
            ok = cond.holds(call, state)
            if kind == "deny_if":
                v.note(
                    cond.source,
                    ok,
                    f"deny_if {cond.describe()}: {'holds' if ok else 'does not hold'}",
                )
                if ok:
                    v.add(
                        DENY,
                        check.rule,
                        check.message or f"Denied for {tool!r} because {cond.describe()}.",
                    )
                    return
                continue
            v.note(cond.source, not ok, f"{kind} {cond.describe()}: {'met' if ok else 'NOT met'}")
            if not ok:
                if kind == "evaluate":
                    text = check.message or f'Denied by rule "{check.rule}"'
                else:
                    text = check.message or f"The policy requires {cond.describe()} for {tool!r}."
                v.add(DENY, check.rule, text)
                return

    def _evaluate(self, call: CallContext, v: _Verdicts) -> None:
        policy = self.policy
        tool = call.tool
        # Tool level, PolicyLayer semantics.
        if policy.is_tool_hidden(tool):
            text = (
                f'Tool "{tool}" is hidden by policy'
                if self._intercept
                else f"The tool {tool!r} is hidden by the policy."
            )
            v.add(DENY, "hide", text, hidden=True)
            v.note("hide", True, f"{tool!r} is on the hide list")
            if v.done:
                return
        else:
            v.note("hide", False, f"{tool!r} is not on the hide list")
        listed = policy.is_listed(tool)
        if not listed and policy.default == DENY:
            text = (
                f'Tool "{tool}" is not permitted by policy'
                if self._intercept
                else f"The tool {tool!r} is not allowed: the policy denies every tool it does "
                "not list (default: deny)."
            )
            v.add(DENY, "default", text)
            v.note("default", True, f"{tool!r} has no entry under tools; default is deny")
            # Unlisted tools are refused before any rule, "*" included (explain goes on).
            if v.done:
                return
        if not listed:
            v.note("default", True, f"{tool!r} has no entry under tools; default is allow")
        for entry in policy.entries_for(tool):
            if entry is not policy.wildcard and not any(c.kind == "deny" for c in entry.checks):
                v.add(ALLOW, entry.id, f"The tool {tool!r} is allowed by the policy.")
            v.note(entry.id, True, f"entry {entry.name!r}: {len(entry.checks)} checks")
            for check in entry.checks:
                self._check(check, call, v)
                if v.done:
                    return
            v.limits.extend(entry.limits)
        v.limits.extend(policy.all_tools_limits)
        op = call.operation
        if op is None:
            v.note("operations", False, "the call targets no ConnectWise operation")
            return
        # Operation level (extension).
        label = f"{op.method} {op.path}"
        if policy.read_only:
            if op.risk != "Read":
                v.add(
                    DENY,
                    "read_only",
                    f"The policy is read-only and {label} is a {op.risk} operation.",
                )
                v.note("read_only", True, f"{op.risk} operation under a read-only policy")
                if v.done:
                    return
            else:
                v.note("read_only", False, "Read operation: allowed under read_only")
        template = self._template(op.path)
        known: list[str | None] = []

        def concrete() -> str | None:
            if not known:
                known.append(_concrete_key(call))
            return known[0]

        matched = False
        for rule in policy.rules:
            why = rule.mismatch(op, template, concrete, call)
            if why is not None:
                v.note(rule.id, False, why)
                continue
            matched = True
            v.note(rule.id, True, f"{rule.describe_match()} -> {rule.action}")
            # A rule matched through a runtime risk says what in the request made it so.
            why_risk = (
                f" Why: {'; '.join(call.risk_reasons)}."
                if rule.risks is not None and rule.risks & call.risks and call.risk_reasons
                else ""
            )
            if rule.action == "hide":
                v.add(DENY, rule.id, rule.reason or f"{label} is hidden by the policy.", True)
            elif rule.action == DENY:
                v.add(
                    DENY, rule.id, (rule.reason or f"{label} is denied by the policy.") + why_risk
                )
            elif rule.action == REQUIRE_APPROVAL:
                v.add(
                    REQUIRE_APPROVAL,
                    rule.id,
                    (rule.reason or f"{label} is a {op.risk} operation; a person must approve it.")
                    + why_risk,
                )
                v.limits.extend(rule.limits)
            else:
                v.add(ALLOW, rule.id, rule.reason or f"{label} is allowed by rule {rule.id!r}.")
                v.limits.extend(rule.limits)
            if v.done:
                return
        if not matched:
            d = policy.operations_default
            v.note("operations.default", True, f"no operation rule matched; default is {d}")
            if d == DENY:
                v.add(DENY, "operations.default", f"No policy rule allows {label}.")
            elif d == REQUIRE_APPROVAL:
                v.add(
                    REQUIRE_APPROVAL,
                    "operations.default",
                    f"No policy rule covers {label}; a person must approve it.",
                )

    def _template(self, path: str) -> str:
        t = self._templates.get(path)
        if t is None:
            t = self._templates[path] = path_key(path)
        return t

    def _limit_message(self, lim: Limit, retry_after: float | None) -> str:
        if self._intercept and lim.rule is not None:
            return lim.on_deny or f"Rate limit exceeded for {lim.rule}"
        text = lim.on_deny or f"Rate limit reached: {lim.describe()}."
        if retry_after is None:
            return text
        wait = max(1, math.ceil(retry_after))
        when = datetime.fromtimestamp(self._clock() + retry_after, UTC).strftime("%H:%M:%S UTC")
        return f"{text} Retry in {wait} s (at {when}); calls made before then are refused too."

    # -- audit ---------------------------------------------------------------------------

    def record(
        self,
        call: CallContext,
        decision: Decision | None = None,
        *,
        kind: str = "tool_call",
        status: int | None = None,
        latency_ms: float | None = None,
        error: str | BaseException | None = None,
    ) -> None:
        """Write the call (and its decision and outcome) to the audit log, if there is one."""
        if self.audit is None:
            return
        op = call.operation
        self.audit.record(
            kind=kind,
            correlation_id=call.correlation_id,
            grant=call.grant,
            tool=call.tool,
            operation_id=op.operation_id if op is not None else None,
            method=op.method if op is not None else None,
            path=call.path or (op.path if op is not None else None),
            decision=decision.action if decision else None,
            rule=decision.rule if decision else None,
            reason=decision.reason if decision else None,
            status=status,
            latency_ms=latency_ms,
            error=error,
            params=call.params,
            arguments=call.arguments,
            body=call.body if call.body is not None else None,
            record_bodies=self.policy.record_bodies,
        )


def _concrete_key(call: CallContext) -> str | None:
    """The call's concrete path as path rules compare it."""
    path = request_attr(call, "path")
    if not isinstance(path, str):
        return None
    if call.request is not None:
        # The router wrote the canonical path (the template's spelling, values filled in):
        # only the case remains to fold.
        return path.lower()
    try:
        return path_key(path)
    except RequestValidationError:  # not a path the router would accept: no path rule
        return None


def _amount(lim: Limit, call: CallContext) -> float | None:
    """What a call adds to a counter: ``increment``, or the ``increment_from`` argument."""
    if lim.increment_from is None:
        return lim.increment
    found: list[Any] = []
    walk(call.arguments, lim.increment_from, 0, found)
    if len(found) != 1:
        return None
    value = found[0]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    # A negative amount would give quota back; PolicyLayer counts spend, which only grows.
    return float(value) if math.isfinite(value) and value >= 0 else None


def _dedupe(limits: list[Limit], call: CallContext) -> list[tuple[str, Limit]]:
    """Counter keys for the call's limits; one per key, the strictest when repeated."""
    out: dict[str, Limit] = {}
    for lim in limits:
        key = _limit_key(lim, call)
        prev = out.get(key)
        if prev is None or lim.max < prev.max:
            out[key] = lim
    return list(out.items())


def _limit_key(lim: Limit, call: CallContext) -> str:
    scope = lim.scope
    if scope == "grant":
        who = f"grant={call.grant or '-'}"
    elif scope == "tool":
        who = f"tool={call.tool}"
    elif scope == "operation":
        op = call.operation
        who = f"op={op.operation_id}" if op is not None else f"op=tool:{call.tool}"
    else:
        who = "global"
    kind = "sliding" if lim.sliding else "utc"
    return f"{lim.namespace}.{lim.counter}|{lim.window}:{kind}|{who}"
