"""PolicyLayer's documented policies load unchanged and behave as documented.

The fixtures in ``tests/fixtures/policylayer`` are PolicyLayer's own examples (see SOURCES.md
there): Intercept's POLICY.md and README, policies shipped with Intercept, and the hosted
"Writing policies" page. Time is a controlled clock; windows are UTC calendar windows.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cwm_gateway.policy import CallContext, InMemoryRateLimiter, PolicyEngine, PolicyError
from cwm_gateway.policy.document import json_schema
from cwm_gateway.policy.loader import load_default_policy, load_policy, parse_policy

FIXTURES = Path(__file__).parent / "fixtures" / "policylayer"
PREFIX = "[INTERCEPT POLICY DENIED] "
MIDNIGHT = 1_700_006_400.0  # 2023-11-15 00:00:00 UTC


class Clock:
    def __init__(self, t: float = MIDNIGHT + 10) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def fixture(name: str) -> Any:
    """A fixture as data; fragments are wrapped into a complete policy, as SOURCES.md says."""
    data = yaml.safe_load((FIXTURES / name).read_text(encoding="utf-8"))
    if isinstance(data, list):  # a rule list
        data = {"tools": {"create_charge": {"rules": data}}}
    elif "conditions" in data:  # a conditions list
        data = {"tools": {"create_charge": {"rules": [{"name": "r", **data}]}}}
    elif "tools" not in data and "version" not in data:  # tool entries
        data = {"tools": data}
    data.setdefault("version", "1")
    return data


def engine(data: Any, clock: Clock | None = None) -> tuple[PolicyEngine, Clock]:
    clock = clock or Clock()
    return PolicyEngine(parse_policy(data), InMemoryRateLimiter(clock), clock=clock), clock


def call(tool: str, **arguments: Any) -> CallContext:
    return CallContext(tool=tool, grant="g", arguments=arguments)


def allowed(e: PolicyEngine, tool: str, **arguments: Any) -> bool:
    return e.decide(call(tool, **arguments)).allowed


def denial(e: PolicyEngine, tool: str, **arguments: Any) -> str:
    d = e.decide(call(tool, **arguments))
    assert d.action == "deny", d
    return d.message()


ALL_FIXTURES = sorted(
    str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*") if p.suffix in (".yaml", ".json")
)


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_every_documented_policy_loads(name: str) -> None:
    policy = parse_policy(fixture(name), name)
    expected = "hosted" if name.startswith("hosted/") else "intercept"
    assert policy.dialect == expected


@pytest.mark.parametrize("name", ["shipped/stripe.yaml", "shipped/filesystem.yaml"])
def test_shipped_policies_load_from_their_files_and_allow_their_tools(name: str) -> None:
    policy = load_policy(FIXTURES / name)
    e = PolicyEngine(policy, InMemoryRateLimiter())
    assert policy.default == "allow" and policy.tools
    for tool in policy.tools:
        assert allowed(e, tool), tool
    assert allowed(e, "not_in_the_file")  # default: "allow"


# -- Intercept: POLICY.md, section by section ----------------------------------------------


def test_hiding_tools() -> None:
    e, _ = engine(fixture("intercept/hide.yaml"))
    for tool in ("delete_repository", "list_webhooks", "transfer_repository"):
        assert e.is_tool_hidden(tool)
        assert denial(e, tool) == f'{PREFIX}Tool "{tool}" is hidden by policy'
    assert not e.is_tool_hidden("create_issue")
    assert allowed(e, "some_other_tool")  # default omitted: allow


def test_hide_star_hides_everything() -> None:
    e, _ = engine({"version": "1", "hide": ["*"], "tools": {"a": {"rules": []}}})
    assert e.is_tool_hidden("a") and e.is_tool_hidden("b")
    assert not allowed(e, "a")


def test_default_deny_posture() -> None:
    e, _ = engine(fixture("intercept/default-deny.yaml"))
    assert allowed(e, "read_file")
    assert denial(e, "write_file") == f'{PREFIX}Tool "write_file" is not permitted by policy'
    for _ in range(5):
        assert allowed(e, "create_issue")
    assert (
        denial(e, "create_issue") == PREFIX + "Rate limit of 5 per hour reached. Try again later."
    )


@pytest.mark.parametrize("name", ["intercept/rules.yaml", "intercept/rate-limit-shorthand.yaml"])
def test_hourly_issue_limit_resets_at_the_top_of_the_hour(name: str) -> None:
    e, clock = engine(fixture(name), Clock(MIDNIGHT + 3000))
    for _ in range(5):
        assert allowed(e, "create_issue")
    assert denial(e, "create_issue") == PREFIX + "Hourly limit of 5 new issues reached"
    clock.t = MIDNIGHT + 3599.999
    assert not allowed(e, "create_issue")
    clock.t = MIDNIGHT + 3600  # 01:00:00 UTC
    assert allowed(e, "create_issue")


def test_conditions_lte() -> None:
    e, _ = engine(fixture("intercept/conditions.yaml"))
    assert allowed(e, "create_charge", amount=50000)
    assert allowed(e, "create_charge", amount=49999.5)
    message = denial(e, "create_charge", amount=50001)
    assert message == PREFIX + 'Denied by rule "r"'  # no on_deny: Intercept's fallback
    assert not allowed(e, "create_charge")  # absent: a comparison fails
    assert not allowed(e, "create_charge", amount="lots")
    assert not allowed(e, "create_charge", amount=True)


def test_and_logic() -> None:
    e, _ = engine(fixture("intercept/and-logic.yaml"))
    assert allowed(e, "create_charge", amount=100, currency="usd")
    assert allowed(e, "create_charge", amount=100, currency="eur")
    assert not allowed(e, "create_charge", amount=100, currency="gbp")
    assert not allowed(e, "create_charge", amount=60000, currency="usd")
    assert not allowed(e, "create_charge", amount=100, currency="USD")  # eq is exact


def test_daily_spend_cap_with_dynamic_increments() -> None:
    e, clock = engine(fixture("intercept/daily-spend-cap.yaml"), Clock(MIDNIGHT + 86000))
    # lt 1000000: the counter may reach 999999.
    assert allowed(e, "create_charge", amount=500000)
    assert allowed(e, "create_charge", amount=499999)
    message = denial(e, "create_charge", amount=1)
    assert message == PREFIX + "Daily spending cap of $10,000.00 reached"
    assert allowed(e, "create_charge", amount=0)
    # An amount that is absent, not a number or negative cannot be counted: refused.
    assert not allowed(e, "create_charge")
    clock.t = MIDNIGHT + 86400  # midnight UTC: a new day
    assert not allowed(e, "create_charge", amount="5")
    assert not allowed(e, "create_charge", amount=-5000)
    assert allowed(e, "create_charge", amount=999999)
    assert not allowed(e, "create_charge", amount=1)


def test_counters_are_per_tool() -> None:
    data = fixture("intercept/counter-scoping.yaml")
    data["tools"]["create_pr"] = {
        "rules": [
            {
                "name": "hourly limit",
                "conditions": [{"path": "state.create_pr.hourly_count", "op": "lte", "value": 1}],
                "state": {"counter": "hourly_count", "window": "hour"},
            }
        ]
    }
    e, _ = engine(data)
    for _ in range(5):
        assert allowed(e, "create_issue")
    assert allowed(e, "create_pr")  # same counter name, its own count
    assert not allowed(e, "create_issue")
    assert denial(e, "create_pr") == PREFIX + "Rate limit exceeded for hourly limit"


def test_wildcard_counter_is_global_and_applies_to_every_tool() -> None:
    e, clock = engine(fixture("intercept/wildcard-global.yaml"), Clock(MIDNIGHT + 30))
    for i in range(60):
        assert allowed(e, f"tool_{i % 7}")
    assert not allowed(e, "tool_x")
    clock.t = MIDNIGHT + 60
    assert allowed(e, "tool_x")


def test_wildcard_rules_apply_in_addition_and_never_admit_unlisted_tools() -> None:
    data = {
        "version": "1",
        "default": "deny",
        "tools": {
            "tool_a": {
                "rules": [
                    {
                        "name": "specific",
                        "conditions": [{"path": "args.x", "op": "eq", "value": "good"}],
                        "on_deny": "specific denied",
                    }
                ]
            },
            "*": {
                "rules": [
                    {
                        "name": "global",
                        "conditions": [{"path": "args.y", "op": "eq", "value": "ok"}],
                        "on_deny": "global denied",
                    }
                ]
            },
        },
    }
    e, _ = engine(data)
    assert allowed(e, "tool_a", x="good", y="ok")
    d = e.decide(call("tool_a", x="good", y="bad"))
    assert d.rule == "global" and d.message() == PREFIX + "global denied"
    d = e.decide(call("tool_a", x="bad", y="ok"))
    assert d.rule == "specific"  # tool-specific rules are evaluated first
    d = e.decide(call("tool_b", y="ok"))
    assert d.rule == "default" and "not permitted" in d.reason


def test_complete_github_example() -> None:
    e, clock = engine(fixture("intercept/github.yaml"), Clock(MIDNIGHT + 5))
    assert (
        denial(e, "transfer_repository")
        == PREFIX + 'Tool "transfer_repository" is hidden by policy'
    )
    assert denial(e, "delete_repository") == (
        PREFIX + "Repository deletion is not permitted via AI agents"
    )
    for _ in range(3):
        assert allowed(e, "create_pull_request")
    assert (
        denial(e, "create_pull_request") == PREFIX + "Hourly limit of 3 new pull requests reached"
    )
    # The "*" limit counts every call, the tool's own rules included.
    for _ in range(5):
        assert allowed(e, "create_issue")
    assert not allowed(e, "create_issue")
    used = 3 + 5  # denied calls do not count
    for _ in range(60 - used):
        assert allowed(e, "get_me")
    assert denial(e, "get_me") == PREFIX + "Rate limit of 60 per minute reached. Try again later."
    clock.t = MIDNIGHT + 60
    assert allowed(e, "get_me")


def test_complete_stripe_example() -> None:
    e, _ = engine(fixture("intercept/stripe.yaml"), Clock(MIDNIGHT + 1))
    assert denial(e, "create_charge", amount=50001, currency="usd") == (
        PREFIX + "Single charge cannot exceed $500.00"
    )
    assert denial(e, "create_charge", amount=100, currency="gbp") == (
        PREFIX + "Only USD and EUR charges are permitted"
    )
    assert denial(e, "delete_customer") == (
        PREFIX + "Customer deletion is not permitted via AI agents"
    )
    assert denial(e, "create_refund", amount=10001) == (
        PREFIX + "Refunds over $100.00 require manual processing"
    )
    for _ in range(10):  # lte 10: ten refunds a day
        assert allowed(e, "create_refund", amount=5)
    assert denial(e, "create_refund", amount=5) == PREFIX + "Daily refund limit (10) reached"
    for _ in range(20):
        assert allowed(e, "create_charge", amount=50000, currency="eur")  # 1,000,000 spent
    assert denial(e, "create_charge", amount=1, currency="usd") == (
        PREFIX + "Daily spending cap of $10,000.00 reached"
    )
    used = 10 + 20  # allowed calls this minute
    for _ in range(60 - used):
        assert allowed(e, "list_customers")
    assert denial(e, "list_customers") == PREFIX + "Rate limit: maximum 60 tool calls per minute"


def test_readme_quick_start_blocks_repository_deletion() -> None:
    e, _ = engine(fixture("intercept/readme-quick-start.yaml"))
    assert denial(e, "delete_repository") == PREFIX + "Repository deletion is not permitted"
    assert allowed(e, "create_issue")


def test_reserve_then_rollback_gives_quota_back() -> None:
    e, _ = engine(fixture("intercept/daily-spend-cap.yaml"))
    for _ in range(5):
        d = e.decide(call("create_charge", amount=999999))
        assert d.allowed
        e.rollback(d)  # the upstream call failed: no quota used
    d = e.decide(call("create_charge", amount=999999))
    assert d.allowed
    e.commit(d)
    e.rollback(d)  # after commit nothing is given back
    assert not allowed(e, "create_charge", amount=1)


def test_denied_calls_take_nothing_from_other_counters() -> None:
    e, _ = engine(fixture("intercept/stripe.yaml"))
    for _ in range(100):
        assert not allowed(e, "create_charge", amount=100, currency="gbp")
    for _ in range(60):
        assert allowed(e, "list_customers")


# -- operators: PolicyLayer's table --------------------------------------------------------

OPERATOR_CASES = [
    ("eq", "main", "main", True),
    ("eq", "main", "Main", False),
    ("eq", 50000, 50000.0, True),
    ("eq", True, True, True),
    ("eq", True, 1, False),
    ("neq", "draft", "final", True),
    ("neq", "draft", "draft", False),
    ("in", ["usd", "eur"], "eur", True),
    ("in", ["usd", "eur"], "gbp", False),
    ("not_in", ["admin"], "user", True),
    ("not_in", ["admin"], "admin", False),
    ("lt", 100, 99, True),
    ("lt", 100, 100, False),
    ("lte", 50000, 50000, True),
    ("gt", 0, 1, True),
    ("gt", 0, 0, False),
    ("gte", 1, 1, True),
    ("regex", "^feat/", "feat/x", True),
    ("regex", "^feat/", "fix/x", False),
    ("regex", r"\d+", 42, False),  # never matches a non-string
    ("contains", "test", "a test run", True),
    ("contains", "b", ["a", "b", "c"], True),
    ("contains", "d", ["a", "b", "c"], False),
    ("contains", "4", 42, False),
    ("exists", True, "x", True),
    ("exists", False, "x", False),
]


@pytest.mark.parametrize(("op", "value", "actual", "holds"), OPERATOR_CASES)
def test_operators(op: str, value: Any, actual: Any, holds: bool) -> None:
    rule = {"name": "r", "conditions": [{"path": "args.v", "op": op, "value": value}]}
    e, _ = engine({"version": "1", "tools": {"t": {"rules": [rule]}}})
    assert allowed(e, "t", v=actual) is holds


def test_exists_false_means_absent() -> None:
    rule = {"name": "r", "conditions": [{"path": "args.name", "op": "exists", "value": False}]}
    e, _ = engine({"version": "1", "tools": {"t": {"rules": [rule]}}})
    assert allowed(e, "t")
    assert allowed(e, "t", name=None)  # null counts as absent
    assert not allowed(e, "t", name="alice")
    hosted = {
        "version": "1",
        "default": "allow",
        "tools": {"t": {"deny_if": [{"path": "args.force", "op": "exists", "value": False}]}},
    }
    e, _ = engine(hosted)
    assert not allowed(e, "t")  # deny_if absent → denied
    assert allowed(e, "t", force=True)


def test_nested_paths_and_missing_intermediates() -> None:
    rule = {
        "name": "r",
        "conditions": [{"path": "args.recipient.email", "op": "regex", "value": r"@example\.com$"}],
    }
    e, _ = engine({"version": "1", "tools": {"send": {"rules": [rule]}}})
    assert allowed(e, "send", recipient={"email": "user@example.com"})
    assert not allowed(e, "send")
    assert not allowed(e, "send", recipient="not-a-map")


# -- hosted JSON ---------------------------------------------------------------------------


def test_hosted_policy_shape() -> None:
    e, _ = engine(json.loads((FIXTURES / "hosted/policy-shape.json").read_text()))
    assert e.is_tool_hidden("delete_account") and not allowed(e, "delete_account")
    assert allowed(e, "create_charge")
    assert not allowed(e, "refund")


def test_hosted_default_deny() -> None:
    e, _ = engine(json.loads((FIXTURES / "hosted/default-deny.json").read_text()))
    assert allowed(e, "list_customers")
    d = e.decide(call("delete_customer"))
    assert d.action == "deny" and d.rule == "default"


def test_hosted_on_deny_on_condition_tool_and_limit() -> None:
    e, clock = engine(json.loads((FIXTURES / "hosted/custom-rules.json").read_text()))
    d = e.decide(call("create_refund"))
    assert d.reason == "Say why you refund."
    assert allowed(e, "create_refund", reason="duplicate")
    d = e.decide(call("create_charge", amount=20000))
    assert d.reason == "Charges over 10000 need a person."
    for _ in range(30):
        assert allowed(e, "create_charge", amount=5)
    d = e.decide(call("create_charge", amount=5))
    assert d.reason.startswith("30 charges a minute at most.") and d.retry_after is not None


def test_hosted_counters_are_per_tool_and_all_tools_is_global() -> None:
    data = {
        "version": "1",
        "default": "allow",
        "all_tools": {"limits": [{"counter": "c", "window": "minute", "max": 5}]},
        "tools": {
            "a": {"limits": [{"counter": "c", "window": "minute", "max": 2}]},
            "b": {"limits": [{"counter": "c", "window": "minute", "max": 2}]},
        },
    }
    e, _ = engine(data)
    assert allowed(e, "a") and allowed(e, "a") and not allowed(e, "a")
    assert allowed(e, "b") and allowed(e, "b")  # b's own count
    assert allowed(e, "c")  # all_tools: 5 of 5 used
    assert not allowed(e, "d")


# -- the two upstream tools ----------------------------------------------------------------


@pytest.mark.parametrize("written", ["execute_api_call", "send_raw_api_request"])
def test_an_upstream_entry_applies_to_both_upstream_tools(written: str) -> None:
    rule = {
        "name": "no system",
        "conditions": [{"path": "args.path", "op": "regex", "value": "^/(?!system/)"}],
        "on_deny": "No /system",
    }
    e, _ = engine({"version": "1", "default": "deny", "tools": {written: {"rules": [rule]}}})
    for tool in ("execute_api_call", "send_raw_api_request"):
        assert allowed(e, tool, method="GET", path="/service/tickets")
        assert denial(e, tool, method="GET", path="/system/members") == PREFIX + "No /system"
    assert not allowed(e, "search_api")


def test_upstream_tools_share_the_entry_counters() -> None:
    data = {
        "version": "1",
        "default": "deny",
        "tools": {"execute_api_call": {"limits": [{"window": "minute", "max": 2}]}},
    }
    e, _ = engine(data)
    assert allowed(e, "execute_api_call")
    assert allowed(e, "send_raw_api_request")
    assert not allowed(e, "execute_api_call")
    assert not allowed(e, "send_raw_api_request")


def test_request_roots_read_the_canonical_request() -> None:
    data = {
        "version": "1",
        "default": "allow",
        "tools": {
            "execute_api_call": {
                "deny_if": [
                    {"path": "request.method", "op": "in", "value": ["POST", "DELETE"]},
                    {"path": "request.body.*.path", "op": "in", "value": ["closedFlag"]},
                    {"path": "request.path", "op": "regex", "value": "^/system/"},
                ]
            }
        },
    }
    e, _ = engine(data)

    def ctx(method: str, path: str, body: Any = None) -> CallContext:
        request = SimpleNamespace(method=method, path=path, body=body)
        return CallContext("execute_api_call", "g", {}, request=request)

    assert e.decide(ctx("GET", "/service/tickets")).allowed
    assert not e.decide(ctx("POST", "/service/tickets")).allowed
    assert not e.decide(ctx("GET", "/system/members")).allowed
    patch = [{"op": "replace", "path": "summary"}, {"op": "replace", "path": "closedFlag"}]
    assert not e.decide(ctx("PATCH", "/service/tickets/1", patch)).allowed
    assert e.decide(ctx("PATCH", "/service/tickets/1", patch[:1])).allowed


def test_negative_operators_need_every_value() -> None:
    rule = {
        "name": "r",
        "conditions": [{"path": "args.ops.*.path", "op": "not_in", "value": ["closedFlag"]}],
    }
    e, _ = engine({"version": "1", "tools": {"t": {"rules": [rule]}}})
    assert allowed(e, "t", ops=[{"path": "summary"}])
    assert not allowed(e, "t", ops=[{"path": "summary"}, {"path": "closedFlag"}])


# -- load errors: never a silent reinterpretation ------------------------------------------

BAD = [
    ({"path": "args.a", "op": "neqq", "value": 1}, "unknown operator 'neqq'. Did you mean 'neq'?"),
    ({"path": "args.a", "op": "exists", "value": "false"}, "needs value true or false"),
    ({"path": "args.a", "op": "lt", "value": "10"}, "operator 'lt' needs a numeric value"),
    ({"path": "args.a", "op": "in", "value": "usd"}, "operator 'in' needs a list value"),
    ({"path": "args.a", "op": "in", "value": []}, "can never hold"),
    ({"path": "args.a", "op": "regex", "value": 5}, "regex value must be a string"),
    ({"path": "args.a", "op": "eq"}, "operator 'eq' needs a value"),
    ({"path": "amount", "op": "eq", "value": 1}, 'path must start with "args.", "state."'),
    ({"path": "request.method", "op": "eq", "value": "post"}, "can never match"),
    ({"path": "request.verb", "op": "eq", "value": "x"}, "request has no 'verb'"),
    ({"path": "state.t.nope", "op": "lte", "value": 1}, "no matching state block found"),
    ({"path": "args.a", "op": "eq", "value": 1, "vlaue": 2}, "Did you mean 'value'?"),
]


@pytest.mark.parametrize(("condition", "fragment"), BAD)
def test_conditions_that_would_mislead_are_load_errors(condition: dict, fragment: str) -> None:
    rule = {"name": "r", "conditions": [condition]}
    with pytest.raises(PolicyError) as info:
        parse_policy({"version": "1", "tools": {"t": {"rules": [rule]}}}, "p.yaml")
    assert fragment in str(info.value)
    assert str(info.value).startswith("p.yaml: ")


BAD_RULES = [
    (
        {"name": "r", "action": "deny", "conditions": [{"path": "args.a", "op": "exists"}]},
        "deny rules must not have conditions",
    ),
    ({"name": "r"}, "evaluate rules must have at least one condition"),
    ({"action": "deny"}, "name"),
    ({"name": "r", "action": "block"}, "'block' is not an action; use evaluate or deny"),
    ({"name": "r", "rate_limit": "5/week"}, "'week' is not a window"),
    ({"name": "r", "rate_limit": "0/hour"}, "must be a positive integer"),
    (
        {"name": "r", "rate_limit": "5/hour", "action": "deny"},
        'rate_limit cannot be used with action "deny"',
    ),
    (
        {"name": "r", "rate_limit": "5/hour", "conditions": [{"path": "args.a", "op": "exists"}]},
        "rate_limit cannot be combined with conditions or state",
    ),
    (
        {
            "name": "r",
            "conditions": [{"path": "args.a", "op": "exists"}],
            "state": {"counter": "c", "window": "day"},
        },
        "counter 'c' has no limit",
    ),
    (
        {
            "name": "r",
            "conditions": [{"path": "state.t.c", "op": "lte", "value": 1}],
            "state": {"counter": "c", "window": "day", "increment_from": "amount"},
        },
        'increment_from must start with "args."',
    ),
    (
        {"name": "r", "conditons": [{"path": "args.a", "op": "exists"}]},
        "unknown key 'conditons'. Did you mean 'conditions'?",
    ),
]


@pytest.mark.parametrize(("rule", "fragment"), BAD_RULES)
def test_invalid_intercept_rules_are_clear(rule: dict, fragment: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy({"version": "1", "tools": {"t": {"rules": [rule]}}}, "p.yaml")
    assert fragment in str(info.value)


def test_duplicate_counters_and_hide_entries_are_errors() -> None:
    rule = {
        "name": "a",
        "conditions": [{"path": "state.t.c", "op": "lte", "value": 1}],
        "state": {"counter": "c", "window": "day"},
    }
    with pytest.raises(PolicyError, match="duplicate state counter 'c'"):
        parse_policy({"version": "1", "tools": {"t": {"rules": [rule, {**rule, "name": "b"}]}}})
    with pytest.raises(PolicyError, match="duplicate entry 'x'"):
        parse_policy({"version": "1", "hide": ["x", "x"], "tools": {}})
    with pytest.raises(PolicyError, match="entry must not be empty"):
        parse_policy({"version": "1", "hide": [" "], "tools": {}})


# -- the schema and the shipped default ----------------------------------------------------


def test_json_schema_covers_both_dialects_and_marks_extensions() -> None:
    schema = json_schema()
    text = json.dumps(schema)
    assert {"HostedPolicy", "InterceptPolicy", "InterceptRule", "State"} <= set(schema["$defs"])
    assert '"x-extension": true' in text
    hosted = schema["$defs"]["HostedPolicy"]
    assert hosted["properties"]["read_only"]["x-extension"] is True
    assert "all three upstream tools" in hosted["properties"]["tools"]["description"]
    ops = schema["$defs"]["Condition"]["properties"]["op"]["enum"]
    assert {"eq", "neq", "in", "not_in", "exists", "regex", "contains"} <= set(ops)


def test_the_default_policy_still_loads() -> None:
    policy = load_default_policy()
    assert policy.dialect == "hosted" and policy.rules


def test_request_risks_name_runtime_risks() -> None:
    data = {
        "version": "1",
        "default": "allow",
        "tools": {
            "execute_api_call": {
                "deny_if": [{"path": "request.risks", "op": "contains", "value": "CustomerVisible"}]
            }
        },
    }
    e, _ = engine(data)
    seen = SimpleNamespace(risks=("Write", "CustomerVisible"))
    quiet = SimpleNamespace(risks=("Write",))
    assert not e.decide(CallContext("execute_api_call", "g", {}, request=seen)).allowed
    assert e.decide(CallContext("execute_api_call", "g", {}, request=quiet)).allowed


def test_the_readme_policy_examples_load_and_decide() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("**Policy files.**", 1)[1].split("### As a Python client", 1)[0]
    intercept = yaml.safe_load(section.split("```yaml\n", 1)[1].split("```", 1)[0])
    hosted = json.loads(section.split("```json\n", 1)[1].split("```", 1)[0])
    e, _ = engine(intercept)
    assert e.policy.dialect == "intercept"
    assert allowed(e, "execute_api_call", method="GET", path="/service/tickets")
    assert denial(e, "execute_api_call", method="GET", path="/system/members") == (
        PREFIX + "System settings are changed by an administrator"
    )
    assert e.is_tool_hidden("send_raw_api_request")
    e, _ = engine(hosted)
    assert e.policy.dialect == "hosted"
    delete = SimpleNamespace(method="DELETE", path="/service/tickets/1")
    d = e.decide(CallContext("send_raw_api_request", "g", {}, request=delete))
    assert d.action == "deny" and d.reason == "No deletes"
    assert not allowed(e, "search_api_endpoints")


def test_a_condition_may_read_another_tools_counter() -> None:
    data = fixture("intercept/counter-scoping.yaml")
    data["tools"]["close_issue"] = {
        "rules": [
            {
                "name": "only after creating",
                "conditions": [
                    {"path": "state.create_issue.hourly_count", "op": "gte", "value": 1}
                ],
                "on_deny": "Create an issue first",
            }
        ]
    }
    e, _ = engine(data)
    assert denial(e, "close_issue") == PREFIX + "Create an issue first"
    assert allowed(e, "create_issue")
    assert allowed(e, "close_issue")


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.sampled_from(["x", "1", "args.a", "*"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
_conditions = st.fixed_dictionaries(
    {"path": st.sampled_from(["args.a", "args.a.*", "request.body.*.path", "state.t.c", "a"])},
    optional={
        "op": st.sampled_from(
            ["eq", "neq", "in", "not_in", "gt", "regex", "contains", "exists", "nope"]
        ),
        "value": _json,
    },
)


@settings(max_examples=150, deadline=None)
@given(
    cond=_conditions,
    dialect=st.sampled_from(["hosted", "intercept"]),
    args=st.dictionaries(st.sampled_from(["a", "b"]), _json, max_size=2),
)
def test_any_condition_loads_or_is_refused_clearly_and_never_crashes_a_decision(
    cond: dict, dialect: str, args: dict
) -> None:
    if dialect == "hosted":
        doc = {"version": "1", "default": "allow", "tools": {"t": {"deny_if": [cond]}}}
    else:
        doc = {"version": "1", "tools": {"t": {"rules": [{"name": "r", "conditions": [cond]}]}}}
    try:
        policy = parse_policy(doc)
    except PolicyError as exc:
        assert str(exc).startswith("<policy>: ")
        return
    e = PolicyEngine(policy, InMemoryRateLimiter())
    d = e.decide(CallContext("t", "g", args))
    assert d.action in ("allow", "deny")
