"""Policy files and decisions: PolicyLayer acceptance, precedence, operation rules, explain."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from cwm_gateway.errors import ConfigError
from cwm_gateway.policy import (
    CallContext,
    InMemoryRateLimiter,
    PolicyEngine,
    PolicyError,
    load_default_policy,
    load_policy,
    parse_policy,
)
from cwm_generated.types import Operation


def op(
    method: str, path: str, risk: str, *, category: str | None = None, tag: str = "Things"
) -> Operation:
    category = category or path.strip("/").split("/")[0]
    opid = method.lower() + "".join(p.strip("{}").title() for p in path.split("/") if p)
    return Operation(
        operation_id=opid,
        method=method,
        path=path,
        spec_path=path,
        category=category,
        tag=tag,
        summary=f"{method} {path}",
        path_params=(),
        query_params=(),
        body_model=None,
        body_kind="patch" if method == "PATCH" else None,
        body_required=False,
        response_model=None,
        response_is_list=False,
        success_status=200,
        risk=risk,
        function=opid,
        is_list=False,
        response_kind=None,
    )


GET_TICKETS = op("GET", "/service/tickets", "Read", tag="Tickets")
GET_TICKET = op("GET", "/service/tickets/{id}", "Read", tag="Tickets")
PATCH_TICKET = op("PATCH", "/service/tickets/{id}", "Write", tag="Tickets")
POST_TICKET = op("POST", "/service/tickets", "Write", tag="Tickets")
DELETE_COMPANY = op("DELETE", "/company/companies/{id}", "Destructive", tag="Companies")
GET_COMPANY = op("GET", "/company/companies/{id}", "Read", tag="Companies")
POST_INVOICE = op("POST", "/finance/invoices", "Financial", tag="Invoices")
COPY_AGREEMENT = op("POST", "/finance/agreements/{id}/copy", "Execute", tag="Agreements")
MINT_TOKEN = op("POST", "/system/members/{memberIdentifier}/tokens", "Write", tag="Members")

ACCEPTANCE = {
    "version": "1",
    "default": "deny",
    "tools": {
        "execute_api_call": {
            "limits": [
                {
                    "counter": "execute_api_call_rate",
                    "window": "minute",
                    "max": 10,
                    "scope": "grant",
                }
            ]
        }
    },
}


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def engine_for(doc: dict[str, Any], clock: Clock | None = None) -> PolicyEngine:
    clock = clock or Clock()
    return PolicyEngine(parse_policy(doc), InMemoryRateLimiter(clock), clock=clock)


def call(
    tool: str = "execute_api_call",
    operation: Operation | None = None,
    *,
    grant: str = "g1",
    path: str | None = None,
    params: dict | None = None,
    body: Any = None,
    **arguments: Any,
) -> CallContext:
    if operation is not None and path is None:
        path = operation.path.replace("{id}", "5").replace("{memberIdentifier}", "bob")
    return CallContext(
        tool=tool,
        grant=grant,
        arguments=arguments,
        operation=operation,
        path=path,
        params=params,
        body=body,
    )


# -- the PolicyLayer acceptance file -------------------------------------------------------


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_policylayer_acceptance_file(tmp_path: Path, suffix: str) -> None:
    f = tmp_path / f"policy{suffix}"
    f.write_text(json.dumps(ACCEPTANCE) if suffix == ".json" else yaml.safe_dump(ACCEPTANCE))
    clock = Clock(1_000_020.0)  # 20 s into a UTC minute (1_000_020 = 16667 * 60)
    engine = PolicyEngine(load_policy(f), InMemoryRateLimiter(clock), clock=clock)
    for i in range(10):
        d = engine.decide(call(grant="session-A"))
        assert d.action == "allow", (i, d)
    refused = engine.decide(call(grant="session-A"))
    assert refused.action == "deny"
    assert refused.retry_after == pytest.approx(60)  # the minute started at 1_000_020
    assert "10 calls per minute per grant" in refused.reason
    assert "Retry in 60 s" in refused.reason
    assert refused.rule == "tools.execute_api_call.limits[0]"
    # Per grant: another session has its own 10.
    assert engine.decide(call(grant="session-B")).action == "allow"
    # Refused calls do not count; half a minute later still refused, with a shorter wait.
    clock.t += 30
    later = engine.decide(call(grant="session-A"))
    assert later.action == "deny" and later.retry_after == pytest.approx(30)
    assert "Retry in 30 s" in later.reason
    # The next UTC minute starts from zero.
    clock.t += 30
    assert engine.decide(call(grant="session-A")).action == "allow"
    # Every other tool is denied.
    for tool in ("search_operations", "save_query", "anything"):
        d = engine.decide(call(tool, grant="session-C"))
        assert d.action == "deny" and d.rule == "default"
        assert "default: deny" in d.reason


def test_policylayer_fields_hide_require_deny_if_all_tools() -> None:
    engine = engine_for(
        {
            "version": "1",
            "default": "allow",
            "hide": ["delete_account"],
            "all_tools": {"limits": [{"counter": "all", "window": "hour", "max": 3}]},
            "tools": {
                "create_refund": {
                    "require": [{"path": "args.reason", "op": "exists"}],
                    "deny_if": [{"path": "args.amount", "op": "gt", "value": 10000}],
                }
            },
        }
    )
    hidden = engine.decide(call("delete_account"))
    assert hidden.action == "deny" and hidden.hidden and engine.is_tool_hidden("delete_account")
    no_reason = engine.decide(call("create_refund", amount=5))
    assert no_reason.action == "deny" and "args.reason exists" in no_reason.reason
    too_big = engine.decide(call("create_refund", amount=20000, reason="x"))
    assert too_big.action == "deny" and "args.amount gt 10000" in too_big.reason
    assert engine.decide(call("create_refund", amount=50, reason="dup")).action == "allow"
    # all_tools limit counts across tools: 1 allowed above + 2 more, then refused.
    assert engine.decide(call("other")).action == "allow"
    assert engine.decide(call("third")).action == "allow"
    assert engine.decide(call("other")).action == "deny"


def test_hide_star_hides_every_tool() -> None:
    engine = engine_for({"version": "1", "default": "allow", "hide": ["*"]})
    assert engine.is_tool_hidden("anything")
    assert engine.decide(call("anything")).action == "deny"


# -- precedence and the tool + operation combination --------------------------------------


def test_tool_entry_and_operation_rules_both_apply() -> None:
    doc = {
        "version": "1",
        "default": "deny",
        "tools": {"execute_api_call": {}},
        "operations": {
            "rules": [
                {
                    "id": "approve-deletes",
                    "match": {"method": "DELETE", "path": "/company/companies/{companyId}"},
                    "action": "require_approval",
                }
            ]
        },
    }
    engine = engine_for(doc)
    d = engine.decide(call(operation=DELETE_COMPANY))
    assert d.action == "require_approval" and d.rule == "approve-deletes"
    assert engine.decide(call(operation=GET_COMPANY)).action == "allow"
    # The tool entry still applies: an unlisted tool cannot reach the operation.
    assert engine.decide(call("raw_http", operation=DELETE_COMPANY)).action == "deny"


def test_precedence_deny_over_approval_over_allow() -> None:
    rules = [
        {"id": "allow-all", "match": {}, "action": "allow"},
        {"id": "approve-company", "match": {"category": "company"}, "action": "require_approval"},
        {"id": "deny-deletes", "match": {"method": ["DELETE"]}, "action": "deny", "reason": "No."},
    ]
    engine = engine_for({"version": "1", "default": "allow", "operations": {"rules": rules}})
    assert engine.decide(call(operation=GET_TICKETS)).rule == "allow-all"
    assert engine.decide(call(operation=GET_COMPANY)).action == "require_approval"
    d = engine.decide(call(operation=DELETE_COMPANY))
    assert (d.action, d.rule, d.reason) == ("deny", "deny-deletes", "No.")
    # Order in the file does not matter.
    engine2 = engine_for(
        {"version": "1", "default": "allow", "operations": {"rules": list(reversed(rules))}}
    )
    assert engine2.decide(call(operation=DELETE_COMPANY)).rule == "deny-deletes"
    assert engine2.decide(call(operation=GET_COMPANY)).action == "require_approval"


def test_tool_level_require_approval_and_deny_actions() -> None:
    engine = engine_for(
        {
            "version": "1",
            "default": "allow",
            "tools": {
                "risky": {"action": "require_approval"},
                "blocked": {"action": "deny", "reason": "Use the other tool."},
            },
        }
    )
    assert engine.decide(call("risky")).action == "require_approval"
    d = engine.decide(call("blocked"))
    assert d.action == "deny" and d.reason == "Use the other tool."


def test_tool_globs_exact_name_wins() -> None:
    engine = engine_for(
        {
            "version": "1",
            "default": "deny",
            "tools": {"search_*": {}, "search_secret": {"action": "deny"}},
        }
    )
    assert engine.decide(call("search_operations")).action == "allow"
    assert engine.decide(call("search_secret")).action == "deny"
    assert engine.decide(call("save_query")).action == "deny"


# -- operation rule matchers -----------------------------------------------------------------


def rule_engine(match: dict, action: str = "deny", **extra: Any) -> PolicyEngine:
    rule = {"id": "r", "match": match, "action": action, **extra}
    return engine_for({"version": "1", "default": "allow", "operations": {"rules": [rule]}})


@pytest.mark.parametrize(
    ("match", "hits", "misses"),
    [
        ({"risk": ["Destructive", "financial"]}, [DELETE_COMPANY, POST_INVOICE], [GET_TICKETS]),
        ({"method": ["post", "PATCH"]}, [POST_TICKET, PATCH_TICKET], [GET_TICKET, DELETE_COMPANY]),
        ({"path": "/finance/*"}, [POST_INVOICE, COPY_AGREEMENT], [GET_TICKETS]),
        ({"path": "/service/tickets/{ticketId}"}, [PATCH_TICKET, GET_TICKET], [GET_TICKETS]),
        ({"path": "/service/tickets"}, [GET_TICKETS, POST_TICKET], [GET_TICKET]),
        ({"path": "/service/tickets/5"}, [GET_TICKET], [GET_TICKETS]),  # concrete path
        ({"category": ["finance"]}, [POST_INVOICE], [GET_TICKETS]),
        ({"tag": "tickets"}, [GET_TICKETS, PATCH_TICKET], [DELETE_COMPANY]),
        ({"operation_id": "delete*"}, [DELETE_COMPANY], [GET_COMPANY]),
        ({"risk": "Write", "category": "service"}, [POST_TICKET], [MINT_TOKEN, GET_TICKET]),
        ({}, [GET_TICKETS, DELETE_COMPANY], []),
    ],
)
def test_operation_matchers(match: dict, hits: list, misses: list) -> None:
    engine = rule_engine(match)
    for o in hits:
        assert engine.decide(call(operation=o)).rule == "r", o.operation_id
    for o in misses:
        assert engine.decide(call(operation=o)).action == "allow", o.operation_id


def test_argument_conditions_on_params_body_and_args() -> None:
    eq = rule_engine({"where": [{"field": "body.status.name", "op": "equals", "value": "Closed"}]})
    assert eq.decide(call(operation=POST_TICKET, body={"status": {"name": "Closed"}})).rule == "r"
    assert eq.decide(call(operation=POST_TICKET, body={"status": {"name": "New"}})).allowed
    assert eq.decide(call(operation=POST_TICKET, body=None)).allowed

    in_ = rule_engine({"where": [{"field": "body.*.path", "op": "in", "value": ["board"]}]})
    patch = [{"op": "replace", "path": "summary", "value": "x"}]
    assert in_.decide(call(operation=PATCH_TICKET, body=patch)).allowed
    patch.append({"op": "replace", "path": "board", "value": {"id": 1}})
    assert in_.decide(call(operation=PATCH_TICKET, body=patch)).rule == "r"

    rx = rule_engine(
        {"where": [{"field": "params.conditions", "op": "regex", "value": "(?i)closedFlag"}]}
    )
    assert rx.decide(
        call(operation=GET_TICKETS, params={"conditions": "ClosedFlag=true"})
    ).rule == ("r")
    assert rx.decide(call(operation=GET_TICKETS, params={"conditions": "id=1"})).allowed

    plain = rule_engine({"where": [{"field": "page_size", "op": "gt", "value": 100}]})
    assert plain.decide(call(operation=GET_TICKETS, page_size=1000)).rule == "r"
    assert plain.decide(call(operation=GET_TICKETS, page_size="500")).rule == "r"
    assert plain.decide(call(operation=GET_TICKETS, page_size=10)).allowed
    assert plain.decide(call(operation=GET_TICKETS, page_size=True)).allowed  # not a number

    path_rx = rule_engine({"where": [{"field": "path", "op": "regex", "value": "/5$"}]})
    assert path_rx.decide(call(operation=GET_TICKET)).rule == "r"
    assert path_rx.decide(call(operation=GET_TICKET, path="/service/tickets/6")).allowed

    missing = rule_engine({"where": [{"field": "args.reason", "op": "missing"}]})
    assert missing.decide(call(operation=POST_TICKET)).rule == "r"
    assert missing.decide(call(operation=POST_TICKET, reason="ok")).allowed

    no_bool = rule_engine({"where": [{"field": "args.n", "op": "eq", "value": 1}]})
    assert no_bool.decide(call(operation=GET_TICKETS, n=True)).allowed  # True is not 1
    assert no_bool.decide(call(operation=GET_TICKETS, n=1)).rule == "r"


def test_read_only() -> None:
    engine = engine_for({"version": "1", "default": "allow", "read_only": True})
    assert engine.decide(call(operation=GET_TICKETS)).allowed
    d = engine.decide(call(operation=POST_TICKET))
    assert d.action == "deny" and d.rule == "read_only" and "read-only" in d.reason
    # An allow rule cannot lift read_only (deny wins).
    engine2 = engine_for(
        {
            "version": "1",
            "default": "allow",
            "read_only": True,
            "operations": {"rules": [{"id": "all", "match": {}, "action": "allow"}]},
        }
    )
    assert engine2.decide(call(operation=DELETE_COMPANY)).action == "deny"
    # Tools without an operation (Fast Memory, search) are unaffected.
    assert engine.decide(call("save_query")).allowed


def test_hide_rules_hide_and_deny() -> None:
    engine = rule_engine({"path": "/system/members/*/tokens"}, action="hide")
    assert engine.is_hidden(MINT_TOKEN)
    assert not engine.is_hidden(GET_TICKETS)
    assert engine.visible([GET_TICKETS, MINT_TOKEN]) == [GET_TICKETS]
    d = engine.decide(call(operation=MINT_TOKEN))
    assert d.action == "deny" and d.hidden


def test_operations_default() -> None:
    engine = engine_for(
        {
            "version": "1",
            "default": "allow",
            "operations": {
                "default": "deny",
                "rules": [{"id": "reads", "match": {"risk": "Read"}, "action": "allow"}],
            },
        }
    )
    assert engine.decide(call(operation=GET_TICKETS)).allowed
    d = engine.decide(call(operation=POST_TICKET))
    assert d.action == "deny" and d.rule == "operations.default"


# -- rate-limit windows and scopes ---------------------------------------------------------------


@pytest.mark.parametrize(("window", "seconds"), [("minute", 60), ("hour", 3600), ("day", 86400)])
def test_windows_reset_at_utc_boundaries(window: str, seconds: int) -> None:
    start = 1_700_006_400.0  # 2023-11-15 00:00:00 UTC: a minute, hour and day boundary
    clock = Clock(start + seconds / 2)
    engine = rule_engine({}, action="rate_limit", limits=[{"window": window, "max": 2}])
    engine = PolicyEngine(engine.policy, InMemoryRateLimiter(clock), clock=clock)
    assert engine.decide(call(operation=GET_TICKETS)).allowed
    clock.t = start + seconds - 1
    assert engine.decide(call(operation=GET_TICKETS)).allowed
    refused = engine.decide(call(operation=GET_TICKETS))
    assert not refused.allowed and refused.retry_after == pytest.approx(1)
    clock.t = start + seconds  # the next window: both calls are forgotten at once
    assert engine.decide(call(operation=GET_TICKETS)).allowed
    assert engine.decide(call(operation=GET_TICKETS)).allowed
    assert not engine.decide(call(operation=GET_TICKETS)).allowed


@pytest.mark.parametrize(("window", "seconds"), [("minute", 60), ("hour", 3600), ("day", 86400)])
def test_sliding_windows_are_an_explicit_option(window: str, seconds: int) -> None:
    clock = Clock()
    limits = [{"window": window, "max": 2, "sliding": True}]
    engine = rule_engine({}, action="rate_limit", limits=limits)
    engine = PolicyEngine(engine.policy, InMemoryRateLimiter(clock), clock=clock)
    assert engine.decide(call(operation=GET_TICKETS)).allowed
    clock.t += seconds / 2
    assert engine.decide(call(operation=GET_TICKETS)).allowed
    refused = engine.decide(call(operation=GET_TICKETS))
    assert not refused.allowed and refused.retry_after == pytest.approx(seconds / 2)
    assert "sliding" in refused.reason
    clock.t += seconds / 2 + 0.01  # the first call left the window; the second has not
    assert engine.decide(call(operation=GET_TICKETS)).allowed
    assert not engine.decide(call(operation=GET_TICKETS)).allowed


@pytest.mark.parametrize(
    ("scope", "other_grant", "other_tool", "other_op"),
    [
        ("grant", True, False, False),
        ("tool", False, True, False),
        ("operation", False, False, True),
        ("global", False, False, False),
    ],
)
def test_scopes(scope: str, other_grant: bool, other_tool: bool, other_op: bool) -> None:
    """After one call fills the limit, which other calls still get their own count?"""
    engine = engine_for(
        {
            "version": "1",
            "default": "allow",
            "operations": {
                "rules": [
                    {
                        "id": "one",
                        "match": {},
                        "action": "rate_limit",
                        "limits": [{"window": "minute", "max": 1, "scope": scope}],
                    }
                ]
            },
        }
    )
    assert engine.decide(call("t1", GET_TICKETS, grant="a")).allowed
    assert not engine.decide(call("t1", GET_TICKETS, grant="a")).allowed
    assert engine.decide(call("t1", GET_TICKETS, grant="b")).allowed is other_grant
    assert engine.decide(call("t2", GET_TICKETS, grant="a")).allowed is other_tool
    assert engine.decide(call("t1", GET_COMPANY, grant="a")).allowed is other_op


def test_limits_are_all_or_nothing_and_skip_denied_calls() -> None:
    engine = engine_for(
        {
            "version": "1",
            "default": "allow",
            "tools": {"t": {"limits": [{"counter": "big", "window": "minute", "max": 100}]}},
            "operations": {
                "rules": [
                    {
                        "id": "small",
                        "match": {"risk": "Write"},
                        "action": "rate_limit",
                        "limits": ["1/minute"],
                    },
                    {"id": "no", "match": {"risk": "Destructive"}, "action": "deny"},
                ]
            },
        }
    )
    big = engine.policy.tools["t"].limits[0]
    assert engine.decide(call("t", POST_TICKET)).allowed
    for _ in range(5):
        assert not engine.decide(call("t", POST_TICKET)).allowed  # refused by "small"
        assert engine.decide(call("t", DELETE_COMPANY)).action == "deny"  # denied: not counted
    lines = engine.explain(call("t", GET_TICKETS))
    big_line = next(line for line in lines if line.rule == big.source)
    assert "1 of 100 used" in big_line.why


def test_require_approval_consumes_limits() -> None:
    engine = rule_engine(
        {"risk": "Destructive"}, action="require_approval", limits=[{"window": "hour", "max": 1}]
    )
    assert engine.decide(call(operation=DELETE_COMPANY)).action == "require_approval"
    d = engine.decide(call(operation=DELETE_COMPANY))
    assert d.action == "deny" and d.retry_after is not None


def test_decision_after_approval() -> None:
    engine = rule_engine({"risk": "Destructive"}, action="require_approval")
    d = engine.decide(call(operation=DELETE_COMPANY))
    assert d.after_approval(True).allowed
    no = d.after_approval(False, "The user declined.")
    assert no.action == "deny" and no.reason == "The user declined."
    assert "Refused by policy" in no.message()
    assert d.to_dict()["action"] == "require_approval"


# -- explain ---------------------------------------------------------------------------------------


def test_explain_lists_every_rule_and_counts_nothing() -> None:
    engine = PolicyEngine(load_default_policy())
    lines = engine.explain(call(operation=DELETE_COMPANY))
    by_rule = {line.rule: line for line in lines}
    assert by_rule["reads"].matched is False and "risk 'Destructive'" in by_rule["reads"].why
    assert by_rule["destructive-needs-approval"].matched is True
    assert by_rule["no-credential-changes"].matched is False
    assert lines[-1].rule == "result"
    assert lines[-1].why.startswith("require_approval by destructive-needs-approval")
    # Explaining many times uses no budget.
    for _ in range(50):
        engine.explain(call(operation=DELETE_COMPANY))
    assert engine.decide(call(operation=DELETE_COMPANY)).action == "require_approval"


def test_explain_shows_deny_reasons_beyond_the_first() -> None:
    engine = engine_for(
        {
            "version": "1",
            "default": "deny",
            "read_only": True,
            "operations": {"rules": [{"id": "x", "match": {"method": "POST"}, "action": "deny"}]},
        }
    )
    lines = engine.explain(call("unlisted", POST_TICKET))
    matched = [line.rule for line in lines if line.matched]
    assert {"default", "read_only", "x", "result"} <= set(matched)
    assert lines[-1].why.startswith("deny by default")


# -- the shipped default policy ---------------------------------------------------------------


def test_the_default_policys_json_form_is_its_yaml() -> None:
    """The gateway starts from default_policy.json (no YAML parser at start); the commented YAML
    is the source. After editing the YAML: ``nox -s default_policy``."""
    from cwm_gateway.policy.loader import default_policy_json_path, default_policy_path

    written = json.loads(default_policy_json_path().read_text(encoding="utf-8"))
    source = yaml.safe_load(default_policy_path().read_text(encoding="utf-8"))
    assert written == source, "default_policy.json is stale: run `nox -s default_policy`"
    # Named by the file people read and copy.
    assert load_default_policy().source == str(default_policy_path())


def test_default_policy_behaviour() -> None:
    engine = PolicyEngine(load_default_policy())
    assert engine.decide(call(operation=GET_TICKETS)).allowed
    assert engine.decide(call("save_query")).allowed
    assert engine.decide(call("search_operations")).allowed
    write = engine.decide(call(operation=POST_TICKET))
    assert write.allowed and any("per minute" in x for x in write.limits)
    assert engine.decide(call(operation=DELETE_COMPANY)).action == "require_approval"
    assert engine.decide(call(operation=POST_INVOICE)).action == "require_approval"
    assert engine.decide(call(operation=COPY_AGREEMENT)).allowed
    minted = engine.decide(call(operation=MINT_TOKEN))
    assert minted.action == "deny" and minted.rule == "no-credential-changes"
    # Writes are limited per grant: 20 a minute.
    results = [engine.decide(call(operation=POST_TICKET, grant="w")).allowed for _ in range(25)]
    assert results.count(True) == 20


# -- loading errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ({"default": "deny"}, "version"),
        ({"version": "2", "default": "deny"}, "version: must be \"1\", got '2'"),
        ({"version": "1"}, "tools: required key is missing"),  # Intercept: default is allow
        (
            {"version": "1", "default": "maybe"},
            "default: 'maybe' is not a default; use allow or deny",
        ),
        ({"version": "1", "default": "deny", "tols": {}}, "Did you mean 'tools'?"),
        ({"version": "1", "default": "deny", "read_only": "yes"}, "read_only: must be true"),
        (
            {
                "version": "1",
                "default": "deny",
                "tools": {"t": {"limits": [{"window": "minutes", "max": 1}]}},
            },
            "tools.t.limits[0].window: 'minutes' is not a window; use minute, hour or day. Did you mean 'minute'?",
        ),
        (
            {
                "version": "1",
                "default": "deny",
                "tools": {"t": {"limits": [{"window": "minute", "max": 0}]}},
            },
            "max: must be a positive integer",
        ),
        (
            {
                "version": "1",
                "default": "deny",
                "tools": {"t": {"limits": [{"window": "day", "max": 1, "scope": "user"}]}},
            },
            "scope: 'user' is not a scope",
        ),
        (
            {
                "version": "1",
                "default": "deny",
                "tools": {"t": {"deny_if": [{"path": "a", "op": "bigger", "value": 1}]}},
            },
            "unknown operator 'bigger'",
        ),
        (
            {
                "version": "1",
                "default": "deny",
                "tools": {"t": {"require": [{"path": "a", "op": "regex", "value": "("}]}},
            },
            "invalid regex '('",
        ),
        (
            {
                "version": "1",
                "default": "deny",
                "tools": {"t": {"require": [{"path": "a", "op": "in", "value": "x"}]}},
            },
            "'in' needs a list",
        ),
        (
            {
                "version": "1",
                "default": "deny",
                "operations": {"rules": [{"match": {"risk": "Deadly"}, "action": "deny"}]},
            },
            "'Deadly' is not a risk class",
        ),
        (
            {
                "version": "1",
                "default": "deny",
                "operations": {"rules": [{"match": {}, "action": "block"}]},
            },
            "'block' is not an action",
        ),
        (
            {
                "version": "1",
                "default": "deny",
                "operations": {"rules": [{"match": {}, "action": "rate_limit"}]},
            },
            "action rate_limit needs limits",
        ),
        (
            {
                "version": "1",
                "default": "deny",
                "operations": {
                    "rules": [
                        {"match": {"where": [{"field": "a", "op": "exists"}]}, "action": "hide"}
                    ]
                },
            },
            "cannot use 'where'",
        ),
        (
            {
                "version": "1",
                "default": "deny",
                "operations": {"rules": [{"match": {"method": "FETCH"}, "action": "deny"}]},
            },
            "not HTTP methods",
        ),
        (
            {
                "version": "1",
                "default": "deny",
                "operations": {
                    "rules": [{"id": "a", "action": "deny"}, {"id": "a", "action": "allow"}]
                },
            },
            "ids must be unique",
        ),
        ({"version": "1", "default": "deny", "audit": {"record_bodies": "no"}}, "record_bodies"),
        ([], "must be an object at the top level"),
    ],
)
def test_invalid_policies_are_clear(doc: Any, fragment: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(doc, "my.yaml")
    assert fragment in str(info.value)
    assert str(info.value).startswith("my.yaml: ")
    assert isinstance(info.value, ConfigError)


def test_load_policy_file_errors(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="Policy file not found"):
        load_policy(tmp_path / "nope.yaml")
    bad_json = tmp_path / "p.json"
    bad_json.write_text('{"version": "1",')
    with pytest.raises(PolicyError, match=r"not valid JSON \(line 1"):
        load_policy(bad_json)
    bad_yaml = tmp_path / "p.yaml"
    bad_yaml.write_text("version: '1'\ndefault: [deny\n")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(bad_yaml)


def test_approval_limits_count_prompts_even_when_the_call_then_fails() -> None:
    engine = rule_engine(
        {"risk": "Destructive"}, action="require_approval", limits=[{"window": "hour", "max": 1}]
    )
    # No way to ask: nothing was shown to anyone, so the budget comes back.
    d = engine.decide(call(operation=DELETE_COMPANY))
    engine.rollback(d.after_approval(False, "no way to ask", asked=False))
    # A person was asked and approved; the upstream call failed: the prompt still counts.
    d = engine.decide(call(operation=DELETE_COMPANY)).after_approval(True)
    engine.rollback(d)
    refused = engine.decide(call(operation=DELETE_COMPANY))
    assert refused.action == "deny" and refused.retry_after is not None


def test_the_default_policys_hide_list_is_read_without_compiling() -> None:
    """A gateway on the default policy lists its tools before compiling it (issue #9 cold start);
    the hide list it reads must be the compiled policy's."""
    from cwm_gateway.policy.loader import default_policy_hidden_tools

    assert default_policy_hidden_tools() == frozenset(load_default_policy().hide)
