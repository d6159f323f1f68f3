"""Policy files: what an agent may do through the gateway, and how often.

A policy is one JSON or YAML document. The gateway checks every MCP tool call against it
before anything is sent to ConnectWise. The format starts from PolicyLayer's policy document
(``version``, ``default``, ``hide``, ``all_tools``, ``tools`` with ``require``, ``deny_if`` and
``limits``): a PolicyLayer file loads unchanged and behaves as PolicyLayer describes. On top
of it the gateway adds ``read_only``, per-operation rules and audit settings.

Example (YAML; the same structure works as JSON)::

    version: "1"                 # required; only "1" is recognised
    default: deny                # required; allow | deny, for tools not listed under tools
    read_only: false             # true: every ConnectWise operation whose risk is not Read is denied
    hide: [dangerous_tool]       # tools removed from tools/list and denied; "*" hides every tool
    all_tools:
      limits:                    # limits counted on every tool call
        - {counter: all_calls, window: minute, max: 120, scope: grant}
    tools:                       # per-tool entries; under default: deny, listing a tool allows it
      execute_api_call:
        limits:
          - {counter: execute_api_call_rate, window: minute, max: 10, scope: grant}
        require:                 # every condition must hold, else the call is denied
          - {field: args.method, op: in, value: [GET, POST, PATCH]}
        deny_if:                 # any condition that holds denies the call
          - {field: args.path, op: regex, value: "^/system/"}
      "search_*": {}             # keys may be globs; an exact name wins over a glob
      risky_tool:
        action: require_approval # extension: allow (default) | deny | require_approval
        reason: A person confirms every use of this tool.
    operations:                  # extension: rules for calls that target a ConnectWise operation
      default: allow             # allow | deny | require_approval, when no rule matches
      rules:
        - id: approve-destructive
          description: Deletions and money need a person's yes.
          match: {risk: [Destructive, Financial]}
          action: require_approval
        - id: writes-rate-limited
          match: {risk: [Write]}
          action: rate_limit
          limits: [{window: minute, max: 30, scope: grant}]
        - id: no-finance
          match: {category: [finance], method: [POST, PUT, PATCH, DELETE]}
          action: deny
          reason: Finance changes are made by the billing team, not by agents.
        - id: hide-api-members
          match: {path: "/system/apiMembers*"}
          action: hide
        - id: closed-tickets-only
          match:
            path: /service/tickets/{id}
            method: [PATCH]
            where: [{field: body.*.path, op: in, value: [status, closedFlag]}]
          action: allow
    audit:
      record_bodies: false       # true: store request bodies (secrets scrubbed) instead of hashes

Decisions
    A call is checked against the tool entry (``hide``, ``default``, the entry's ``action``,
    ``require``, ``deny_if``) and, when it targets a ConnectWise operation, against
    ``read_only`` and every operation rule. All matching verdicts count and the strictest wins:
    deny > require_approval > allow. ``hide`` is a deny that also removes the operation from
    search and category listings. ``rate_limit`` is an allow that carries limits. When no
    operation rule matches, ``operations.default`` decides (allow when the section is absent).

Operation rules
    ``match`` keys (all given keys must match; a list matches any of its items; an empty match
    matches every operation): ``operation_id`` (glob), ``method``, ``path``, ``category``,
    ``tag``, ``risk`` (Read, Write, Execute, Destructive, Financial, or CustomerVisible: a
    request a customer sees or receives, decided from its values by ``policy/visibility.py``)
    and ``where`` (argument conditions, all must hold). ``path`` is a template
    (``/company/companies/{id}``; parameter names do not matter), a glob (``/finance/*``; ``*`` also crosses ``/``) or a concrete path,
    compared case-insensitively with the operation's template and with the call's concrete path.
    ``action`` is allow, deny, hide, require_approval or rate_limit; ``reason`` is shown to the
    agent on deny; ``limits`` may go with allow, rate_limit and require_approval. ``hide`` rules
    cannot use ``where`` (hiding does not depend on arguments).

Conditions
    ``{field: <where>, op: <op>, value: <value>}``. ``field`` is a dotted path whose first part
    picks the source: ``args`` (tool arguments; the default when no source is named),
    ``params`` (query parameters), ``body`` (request body), ``path`` (the concrete path) or
    ``method``. Numeric parts index lists and ``*`` means any element (``body.*.path`` for PATCH
    operations). ``path`` is accepted as an alias of ``field``. Ops: exists, missing, eq (equals),
    ne, in, not_in, regex (search; numbers and strings, other values as JSON), contains (substring
    or list member), gt, gte, lt, lte. A missing field satisfies only ``missing``.

Limits
    ``{counter, window, max, scope}`` or the shorthand ``"30/minute"``. ``window`` is minute,
    hour or day; ``max`` a positive integer; ``scope`` grant (one count per client session, the
    default), tool, operation (one count per ConnectWise operation) or global. Limits with the
    same counter, window and scope share one count. ``counter`` defaults to the tool name for
    tool entries and to the rule id for operation rules. Windows are sliding: a call is allowed
    when fewer than ``max`` calls were allowed in the last window length, so there is no burst
    at window boundaries. A refused call does not count, and its message says when to retry.
    Limits are consumed only when the decision is not deny (allow or require_approval, so
    approval prompts are limited too), and all limits of one call are taken atomically.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cwm_gateway.errors import ConfigError
from cwm_gateway.policy.visibility import RUNTIME_RISKS

__all__ = [
    "ACTIONS",
    "RISK_CLASSES",
    "SCOPES",
    "WINDOWS",
    "Condition",
    "Limit",
    "OperationRule",
    "Policy",
    "PolicyError",
    "ToolEntry",
    "default_policy_path",
    "load_default_policy",
    "load_policy",
    "parse_policy",
]

try:  # The generated contract is the source of truth once it exists.
    from cwm_generated.types import RISK_CLASSES
except ImportError:  # pragma: no cover - only before the first code generation
    RISK_CLASSES = ("Read", "Write", "Execute", "Destructive", "Financial")

#: Rate-limit windows and their length in seconds.
WINDOWS: dict[str, int] = {"minute": 60, "hour": 3600, "day": 86400}
#: What a limit counts separately.
SCOPES = ("grant", "tool", "operation", "global")
#: Actions of operation rules.
ACTIONS = ("allow", "deny", "hide", "require_approval", "rate_limit")
_TOOL_ACTIONS = ("allow", "deny", "require_approval")
_DEFAULT_ACTIONS = ("allow", "deny", "require_approval")
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_ROOTS = ("args", "params", "body", "path", "method")
_GLOB_CHARS = frozenset("*?[")
_PARAM_RE = re.compile(r"\{[^}]*\}")

_OPS: dict[str, str] = {
    "exists": "exists",
    "present": "exists",
    "missing": "missing",
    "absent": "missing",
    "not_exists": "missing",
    "eq": "eq",
    "equals": "eq",
    "==": "eq",
    "ne": "ne",
    "not_equals": "ne",
    "!=": "ne",
    "in": "in",
    "not_in": "not_in",
    "regex": "regex",
    "matches": "regex",
    "contains": "contains",
    "gt": "gt",
    ">": "gt",
    "gte": "gte",
    ">=": "gte",
    "lt": "lt",
    "<": "lt",
    "lte": "lte",
    "<=": "lte",
}


class PolicyError(ConfigError):
    """A policy file is missing, unreadable or malformed (the message says where and why)."""


# -- small helpers -------------------------------------------------------------------------


def _suggest(word: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def normalize_path(path: str) -> str:
    """Lower-case, leading ``/``, no trailing ``/``, every ``{param}`` written ``{}``."""
    path = path.strip().lower()
    if not path.startswith("/"):
        path = "/" + path
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    return _PARAM_RE.sub("{}", path)


_MISSING = object()


# -- conditions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """One argument condition, compiled for fast evaluation."""

    field: str
    op: str
    value: Any
    source: str
    """Where the condition is in the policy, e.g. ``tools.x.deny_if[0]``."""
    _root: str = field(repr=False, compare=False, default="args")
    _parts: tuple[str | int, ...] = field(repr=False, compare=False, default=())
    _test: Callable[[Any], bool] = field(repr=False, compare=False, default=bool)

    def describe(self) -> str:
        """Human text, e.g. ``body.amount gt 10000``."""
        if self.op in ("exists", "missing"):
            return f"{self.field} {self.op}"
        return f"{self.field} {self.op} {json.dumps(self.value)}"

    def values(self, call: Any) -> list[Any]:
        """Every value the field names in this call (several when the path has ``*``)."""
        if self._root == "args":
            start = getattr(call, "arguments", None)
        elif self._root == "params":
            start = getattr(call, "params", None)
        elif self._root == "body":
            start = getattr(call, "body", None)
        elif self._root == "path":
            start = getattr(call, "path", None)
        else:
            start = getattr(call, "method", None)
        found: list[Any] = []
        _walk(start, self._parts, 0, found)
        return found

    def holds(self, call: Any) -> bool:
        """Whether the condition is true for this call."""
        found = self.values(call)
        if self.op == "exists":
            return bool(found)
        if self.op == "missing":
            return not found
        test = self._test
        return any(test(v) for v in found)


def _walk(node: Any, parts: tuple[str | int, ...], i: int, out: list[Any]) -> None:
    if node is None or node is _MISSING:
        return
    if i == len(parts):
        out.append(node)
        return
    part = parts[i]
    if part == "*":
        if isinstance(node, Mapping):
            children = list(node.values())
        elif isinstance(node, list | tuple):
            children = list(node)
        else:
            return
        for child in children:
            _walk(child, parts, i + 1, out)
        return
    if isinstance(node, Mapping):
        if part in node:
            _walk(node[part], parts, i + 1, out)
        elif isinstance(part, int) and str(part) in node:
            _walk(node[str(part)], parts, i + 1, out)
    elif isinstance(node, list | tuple) and isinstance(part, int):
        if -len(node) <= part < len(node):
            _walk(node[part], parts, i + 1, out)


def _eq(a: Any, b: Any) -> bool:
    # True == 1 in Python; in a policy a boolean and a number are never the same value.
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return a == b


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if _is_number(value) or isinstance(value, bool):
        return json.dumps(value)
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return str(value)


def _compile_test(op: str, value: Any, where: str) -> Callable[[Any], bool]:
    if op == "eq":
        return lambda v: _eq(v, value)
    if op == "ne":
        return lambda v: not _eq(v, value)
    if op in ("in", "not_in"):
        if not isinstance(value, list):
            raise PolicyError(f"{where}.value: '{op}' needs a list of values, got {value!r}.")
        hashable = all(isinstance(x, str | int | float | bool) or x is None for x in value)
        if hashable:
            members = frozenset((type(x) is bool, x) for x in value)

            def is_in(v: Any) -> bool:
                try:
                    return (type(v) is bool, v) in members
                except TypeError:  # unhashable value from the call
                    return False
        else:

            def is_in(v: Any) -> bool:
                return any(_eq(v, x) for x in value)

        return is_in if op == "in" else (lambda v: not is_in(v))
    if op == "regex":
        if not isinstance(value, str):
            raise PolicyError(f"{where}.value: 'regex' needs a pattern string, got {value!r}.")
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise PolicyError(f"{where}.value: {value!r} is not a valid regex ({exc}).") from None
        return lambda v: pattern.search(_as_text(v)) is not None
    if op == "contains":

        def contains(v: Any) -> bool:
            if isinstance(v, str):
                return isinstance(value, str) and value in v
            if isinstance(v, list | tuple):
                return any(_eq(x, value) for x in v)
            if isinstance(v, Mapping):
                return value in v
            return False

        return contains
    # Ordered comparisons.
    if not _is_number(value) or not math.isfinite(value):
        raise PolicyError(f"{where}.value: '{op}' needs a finite number, got {value!r}.")
    cmp = {
        "gt": lambda a: a > value,
        "gte": lambda a: a >= value,
        "lt": lambda a: a < value,
        "lte": lambda a: a <= value,
    }[op]

    def ordered(v: Any) -> bool:
        if isinstance(v, str):
            # Tool arguments often carry numbers as text; compare them as numbers.
            try:
                v = float(v)
            except ValueError:
                return False
        return _is_number(v) and cmp(v)

    return ordered


def _parse_condition(raw: Any, where: str) -> Condition:
    if not isinstance(raw, Mapping):
        raise PolicyError(
            f"{where}: a condition is an object like {{field: args.reason, op: exists}}, "
            f"got {raw!r}."
        )
    _check_keys(raw, ("field", "path", "op", "value"), where)
    name = raw.get("field", raw.get("path"))
    if not isinstance(name, str) or not name.strip():
        raise PolicyError(f"{where}.field: name the value to test, e.g. 'args.reason'.")
    op_raw = raw.get("op")
    if not isinstance(op_raw, str) or op_raw.strip().lower() not in _OPS:
        raise PolicyError(
            f"{where}.op: {op_raw!r} is not an operator; use one of "
            f"{', '.join(sorted(set(_OPS.values())))}."
        )
    op = _OPS[op_raw.strip().lower()]
    if op in ("exists", "missing"):
        test: Callable[[Any], bool] = bool
        value = None
    else:
        if "value" not in raw:
            raise PolicyError(f"{where}.value: operator '{op}' needs a value.")
        value = raw["value"]
        test = _compile_test(op, value, where)
    parts_text = name.strip().split(".")
    root = parts_text[0]
    if root in _ROOTS:
        rest = parts_text[1:]
    else:
        root, rest = "args", parts_text
    if any(not p for p in rest):
        raise PolicyError(f"{where}.field: {name!r} has an empty part.")
    if root in ("path", "method") and rest:
        raise PolicyError(f"{where}.field: '{root}' is a plain string; it has no parts.")
    parts = tuple(int(p) if p.lstrip("-").isdigit() else p for p in rest)
    return Condition(name.strip(), op, value, where, root, parts, test)


def _parse_conditions(raw: Any, where: str) -> tuple[Condition, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise PolicyError(f"{where}: expected a list of conditions, got {type(raw).__name__}.")
    return tuple(_parse_condition(c, f"{where}[{i}]") for i, c in enumerate(raw))


# -- limits --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limit:
    """One rate limit."""

    counter: str
    window: str
    max: int
    scope: str
    source: str
    """Where the limit is in the policy, e.g. ``tools.execute_api_call.limits[0]``."""

    @property
    def seconds(self) -> int:
        """Window length in seconds."""
        return WINDOWS[self.window]

    def describe(self) -> str:
        """Human text, e.g. ``10 calls per minute per grant (counter 'x')``."""
        scope = "in total" if self.scope == "global" else f"per {self.scope}"
        return f"{self.max} calls per {self.window} {scope} (counter {self.counter!r})"


_SHORTHAND = re.compile(r"^\s*(\d+)\s*/\s*(minute|hour|day)\s*$")


def _parse_limit(raw: Any, where: str, default_counter: str) -> Limit:
    if isinstance(raw, str):
        m = _SHORTHAND.match(raw)
        if not m:
            raise PolicyError(
                f"{where}: {raw!r} is not a limit; write '30/minute' or "
                "{counter: name, window: minute, max: 30, scope: grant}."
            )
        raw = {"window": m.group(2), "max": int(m.group(1))}
    if not isinstance(raw, Mapping):
        raise PolicyError(
            f"{where}: a limit is an object like {{counter: name, window: minute, max: 30, "
            f"scope: grant}}, got {raw!r}."
        )
    _check_keys(raw, ("counter", "window", "max", "scope"), where)
    counter = raw.get("counter", default_counter)
    if not isinstance(counter, str) or not counter.strip():
        raise PolicyError(f"{where}.counter: must be a non-empty name, got {counter!r}.")
    window = raw.get("window")
    if not isinstance(window, str) or window.strip().lower() not in WINDOWS:
        raise PolicyError(
            f"{where}.window: {window!r} is not a window; use minute, hour or day."
            + (_suggest(window.strip().lower(), tuple(WINDOWS)) if isinstance(window, str) else "")
        )
    maximum = raw.get("max")
    if isinstance(maximum, bool) or not isinstance(maximum, int) or maximum < 1:
        raise PolicyError(f"{where}.max: must be a positive integer, got {maximum!r}.")
    scope = raw.get("scope", "grant")
    if not isinstance(scope, str) or scope.strip().lower() not in SCOPES:
        raise PolicyError(
            f"{where}.scope: {scope!r} is not a scope; use {', '.join(SCOPES)}."
            + (_suggest(scope.strip().lower(), SCOPES) if isinstance(scope, str) else "")
        )
    return Limit(counter.strip(), window.strip().lower(), maximum, scope.strip().lower(), where)


def _parse_limits(raw: Any, where: str, default_counter: str) -> tuple[Limit, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise PolicyError(f"{where}: expected a list of limits, got {type(raw).__name__}.")
    return tuple(_parse_limit(x, f"{where}[{i}]", default_counter) for i, x in enumerate(raw))


# -- tool entries --------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolEntry:
    """The policy's entry for one tool name (or tool-name glob)."""

    name: str
    action: str
    reason: str | None
    require: tuple[Condition, ...]
    deny_if: tuple[Condition, ...]
    limits: tuple[Limit, ...]

    @property
    def id(self) -> str:
        """Rule id used in decisions and the audit log."""
        return f"tools.{self.name}"


def _parse_tool(name: str, raw: Any) -> ToolEntry:
    where = f"tools.{name}"
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{where}: expected an object (use {{}} to allow the tool), got {raw!r}.")
    _check_keys(raw, ("require", "deny_if", "limits", "action", "reason", "description"), where)
    action = raw.get("action", "allow")
    if action not in _TOOL_ACTIONS:
        raise PolicyError(
            f"{where}.action: {action!r} is not a tool action; use {', '.join(_TOOL_ACTIONS)}."
        )
    reason = raw.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise PolicyError(f"{where}.reason: must be text, got {reason!r}.")
    return ToolEntry(
        name=name,
        action=action,
        reason=reason,
        require=_parse_conditions(raw.get("require"), f"{where}.require"),
        deny_if=_parse_conditions(raw.get("deny_if"), f"{where}.deny_if"),
        limits=_parse_limits(raw.get("limits"), f"{where}.limits", name),
    )


# -- operation rules -----------------------------------------------------------------------


@dataclass(frozen=True)
class PathPattern:
    """A path criterion: template, glob or concrete path, compiled."""

    raw: str
    kind: str
    """``glob``, ``template`` or ``exact``."""
    normalized: str
    _regex: re.Pattern[str] | None = field(repr=False, compare=False, default=None)

    def matches(self, template: str | None, concrete: str | None) -> bool:
        """Match the operation's normalized template or the call's normalized concrete path."""
        if self.kind == "glob":
            rx = self._regex
            assert rx is not None
            return bool(
                (template is not None and rx.match(template))
                or (concrete is not None and rx.match(concrete))
            )
        if self.kind == "template":
            return template == self.normalized
        return template == self.normalized or concrete == self.normalized


def _parse_path_pattern(raw: Any, where: str) -> PathPattern:
    if not isinstance(raw, str) or not raw.strip():
        raise PolicyError(f"{where}: a path pattern is a non-empty string, got {raw!r}.")
    norm = normalize_path(raw)
    if _GLOB_CHARS & set(norm):
        return PathPattern(raw, "glob", norm, re.compile(fnmatch.translate(norm)))
    if "{}" in norm:
        return PathPattern(raw, "template", norm)
    return PathPattern(raw, "exact", norm)


class _Globs:
    """A set of exact names plus globs, matched case-insensitively."""

    __slots__ = ("exact", "regex", "raw")

    def __init__(self, items: tuple[str, ...]) -> None:
        self.raw = items
        lowered = [i.lower() for i in items]
        self.exact = frozenset(i for i in lowered if not (_GLOB_CHARS & set(i)))
        globs = [fnmatch.translate(i) for i in lowered if _GLOB_CHARS & set(i)]
        self.regex = re.compile("|".join(f"(?:{g})" for g in globs)) if globs else None

    def __contains__(self, value: str | None) -> bool:
        if value is None:
            return False
        value = value.lower()
        return value in self.exact or (self.regex is not None and bool(self.regex.match(value)))


@dataclass(frozen=True)
class OperationRule:
    """One rule of ``operations.rules``."""

    id: str
    description: str | None
    action: str
    reason: str | None
    limits: tuple[Limit, ...]
    operation_ids: _Globs | None
    methods: frozenset[str] | None
    paths: tuple[PathPattern, ...] | None
    categories: _Globs | None
    tags: _Globs | None
    risks: frozenset[str] | None
    where: tuple[Condition, ...]
    source: str

    def static_mismatch(self, op: Any) -> str | None:
        """Why the operation (ignoring the concrete path and arguments) fails the match, or None.

        Paths are checked against the template only here; see :meth:`mismatch`.
        """
        if self.operation_ids is not None and op.operation_id not in self.operation_ids:
            return f"operation_id {op.operation_id!r} not in {list(self.operation_ids.raw)}"
        if self.methods is not None and op.method.upper() not in self.methods:
            return f"method {op.method} not in {sorted(self.methods)}"
        if self.categories is not None and op.category not in self.categories:
            return f"category {op.category!r} not in {list(self.categories.raw)}"
        if self.tags is not None and op.tag not in self.tags:
            return f"tag {op.tag!r} not in {list(self.tags.raw)}"
        if self.risks is not None and op.risk not in self.risks:
            return f"risk {op.risk!r} not in {sorted(self.risks)}"
        return None

    def mismatch(self, op: Any, template: str, concrete: str | None, call: Any) -> str | None:
        """Why this call fails the rule's match, or None when it matches.

        ``risk`` matches the operation's class or one of the call's runtime risks
        (``CustomerVisible``), which depend on the values sent.
        """
        runtime = getattr(call, "risks", None)
        if self.risks is not None and runtime and self.risks & runtime:
            why = replace(self, risks=None).static_mismatch(op)
        else:
            why = self.static_mismatch(op)
        if why is not None:
            return why
        if self.paths is not None and not any(p.matches(template, concrete) for p in self.paths):
            shown = concrete or op.path
            return f"path {shown!r} matches none of {[p.raw for p in self.paths]}"
        for cond in self.where:
            if not cond.holds(call):
                return f"condition not met: {cond.describe()}"
        return None

    def describe_match(self) -> str:
        """Short human text of what the rule matches."""
        bits = []
        if self.operation_ids is not None:
            bits.append(f"operation_id in {list(self.operation_ids.raw)}")
        if self.methods is not None:
            bits.append(f"method in {sorted(self.methods)}")
        if self.paths is not None:
            bits.append(f"path in {[p.raw for p in self.paths]}")
        if self.categories is not None:
            bits.append(f"category in {list(self.categories.raw)}")
        if self.tags is not None:
            bits.append(f"tag in {list(self.tags.raw)}")
        if self.risks is not None:
            bits.append(f"risk in {sorted(self.risks)}")
        bits += [c.describe() for c in self.where]
        return " and ".join(bits) if bits else "every operation"


def _str_list(raw: Any, where: str) -> tuple[str, ...]:
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items or not all(isinstance(x, str) and x for x in items):
        raise PolicyError(
            f"{where}: expected a string or a non-empty list of strings, got {raw!r}."
        )
    return tuple(x.strip() for x in items)


_MATCH_KEYS = ("operation_id", "method", "path", "category", "tag", "risk", "where")
_RULE_KEYS = ("id", "description", "match", "action", "reason", "limits")


def _parse_rule(raw: Any, index: int) -> OperationRule:
    where = f"operations.rules[{index}]"
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{where}: a rule is an object with match and action, got {raw!r}.")
    _check_keys(raw, _RULE_KEYS, where)
    rule_id = raw.get("id", where)
    if not isinstance(rule_id, str) or not rule_id.strip():
        raise PolicyError(f"{where}.id: must be a non-empty string, got {rule_id!r}.")
    action = raw.get("action")
    if action not in ACTIONS:
        raise PolicyError(
            f"{where}.action: {action!r} is not an action; use {', '.join(ACTIONS)}."
            + (_suggest(action, ACTIONS) if isinstance(action, str) else "")
        )
    match = raw.get("match", {})
    if match is None:
        match = {}
    if not isinstance(match, Mapping):
        raise PolicyError(f"{where}.match: expected an object, got {match!r}.")
    _check_keys(match, _MATCH_KEYS, f"{where}.match")
    mw = f"{where}.match"

    methods = None
    if "method" in match:
        methods = frozenset(m.upper() for m in _str_list(match["method"], f"{mw}.method"))
        bad = sorted(methods - set(_METHODS))
        if bad:
            raise PolicyError(f"{mw}.method: {bad} not HTTP methods; use {', '.join(_METHODS)}.")
    risks = None
    if "risk" in match:
        known = (*RISK_CLASSES, *RUNTIME_RISKS)
        by_lower = {r.lower(): r for r in known}
        got = _str_list(match["risk"], f"{mw}.risk")
        for r in got:
            if r.lower() not in by_lower:
                raise PolicyError(
                    f"{mw}.risk: {r!r} is not a risk class; use {', '.join(known)}."
                    + _suggest(r, known)
                )
        risks = frozenset(by_lower[r.lower()] for r in got)
    paths = None
    if "path" in match:
        paths = tuple(
            _parse_path_pattern(p, f"{mw}.path") for p in _str_list(match["path"], f"{mw}.path")
        )

    def globs(key: str) -> _Globs | None:
        return _Globs(_str_list(match[key], f"{mw}.{key}")) if key in match else None

    conditions = _parse_conditions(match.get("where"), f"{mw}.where")
    if action == "hide" and conditions:
        raise PolicyError(
            f"{where}: a hide rule cannot use 'where' conditions (an operation is listed or not, "
            "whatever the arguments); use action: deny for argument-dependent refusals."
        )
    limits = _parse_limits(raw.get("limits"), f"{where}.limits", rule_id.strip())
    if action == "rate_limit" and not limits:
        raise PolicyError(
            f"{where}.limits: action rate_limit needs limits, e.g. [{{window: minute, max: 30}}]."
        )
    if action in ("deny", "hide") and limits:
        raise PolicyError(
            f"{where}.limits: a {action} rule refuses every call; limits make no sense."
        )
    reason = raw.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise PolicyError(f"{where}.reason: must be text, got {reason!r}.")
    description = raw.get("description")
    if description is not None and not isinstance(description, str):
        raise PolicyError(f"{where}.description: must be text, got {description!r}.")
    return OperationRule(
        id=rule_id.strip(),
        description=description,
        action=action,
        reason=reason,
        limits=limits,
        operation_ids=globs("operation_id"),
        methods=methods,
        paths=paths,
        categories=globs("category"),
        tags=globs("tag"),
        risks=risks,
        where=conditions,
        source=where,
    )


# -- the policy ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """A parsed, validated policy. Build with :func:`load_policy` or :func:`parse_policy`."""

    version: str
    default: str
    read_only: bool
    hide: tuple[str, ...]
    all_tools_limits: tuple[Limit, ...]
    tools: dict[str, ToolEntry]
    operations_default: str
    rules: tuple[OperationRule, ...]
    record_bodies: bool
    description: str | None = None
    source: str = "<policy>"
    tool_globs: tuple[ToolEntry, ...] = ()
    _hide: _Globs = field(repr=False, compare=False, default_factory=lambda: _Globs(()))

    def tool_entry(self, tool: str) -> ToolEntry | None:
        """The entry for a tool: its exact name first, else the first glob that matches."""
        entry = self.tools.get(tool)
        if entry is not None:
            return entry
        # The two upstream tools carry the same requests: an entry for either judges both, so
        # the same request gets the same decision whichever tool (and spelling) carries it.
        twin = _UPSTREAM_TWINS.get(tool)
        if twin is not None and twin in self.tools:
            return self.tools[twin]
        for g in self.tool_globs:
            if fnmatch.fnmatchcase(tool, g.name):
                return g
        return None

    def is_tool_hidden(self, tool: str) -> bool:
        """Whether the tool is on the hide list (removed from tools/list, denied when called)."""
        return tool in self._hide


_UPSTREAM_TWINS = {
    "execute_api_call": "send_raw_api_request",
    "send_raw_api_request": "execute_api_call",
}

_TOP_KEYS = (
    "version",
    "default",
    "hide",
    "all_tools",
    "tools",
    "read_only",
    "operations",
    "audit",
    "description",
    "name",
)


def _check_keys(raw: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in raw:
        if key not in allowed:
            shown = f"{where}.{key}" if where else str(key)
            raise PolicyError(
                f"{shown}: unknown key.{_suggest(str(key), allowed)} Allowed here: "
                f"{', '.join(allowed)}."
            )


def parse_policy(data: Any, source: str = "<policy>") -> Policy:
    """Validate a policy document (already decoded from JSON/YAML) and compile it.

    Raises :class:`PolicyError` naming the source and the exact place of the first problem.
    """
    try:
        return _parse(data, source)
    except PolicyError as exc:
        raise PolicyError(f"{source}: {exc}") from None


def _parse(data: Any, source: str) -> Policy:
    if not isinstance(data, Mapping):
        raise PolicyError(
            f"the policy must be an object at the top level, got {type(data).__name__}."
        )
    _check_keys(data, _TOP_KEYS, "")
    version = data.get("version")
    if str(version) not in ("1", "1.0") or isinstance(version, bool):
        raise PolicyError(f'version: {version!r} is not supported; write version: "1".')
    default = data.get("default")
    if default not in ("allow", "deny"):
        raise PolicyError(f"default: must be 'allow' or 'deny', got {default!r}.")
    read_only = data.get("read_only", False)
    if not isinstance(read_only, bool):
        raise PolicyError(f"read_only: must be true or false, got {read_only!r}.")
    hide = data.get("hide", [])
    if not isinstance(hide, list) or not all(isinstance(h, str) and h for h in hide):
        raise PolicyError(f"hide: must be a list of tool names, got {hide!r}.")
    all_tools = data.get("all_tools") or {}
    if not isinstance(all_tools, Mapping):
        raise PolicyError(f"all_tools: expected an object with limits, got {all_tools!r}.")
    _check_keys(all_tools, ("limits",), "all_tools")
    all_limits = _parse_limits(all_tools.get("limits"), "all_tools.limits", "all_tools")
    tools_raw = data.get("tools") or {}
    if not isinstance(tools_raw, Mapping):
        raise PolicyError(f"tools: expected an object keyed by tool name, got {tools_raw!r}.")
    exact: dict[str, ToolEntry] = {}
    globbed: list[ToolEntry] = []
    for name, raw in tools_raw.items():
        if not isinstance(name, str) or not name:
            raise PolicyError(f"tools: tool names must be non-empty strings, got {name!r}.")
        entry = _parse_tool(name, raw)
        (globbed.append(entry) if _GLOB_CHARS & set(name) else exact.__setitem__(name, entry))
    ops = data.get("operations") or {}
    if not isinstance(ops, Mapping):
        raise PolicyError(f"operations: expected an object with default and rules, got {ops!r}.")
    _check_keys(ops, ("default", "rules"), "operations")
    ops_default = ops.get("default", "allow")
    if ops_default not in _DEFAULT_ACTIONS:
        raise PolicyError(
            f"operations.default: {ops_default!r} is not valid; use {', '.join(_DEFAULT_ACTIONS)}."
        )
    rules_raw = ops.get("rules") or []
    if not isinstance(rules_raw, list):
        raise PolicyError(f"operations.rules: expected a list, got {type(rules_raw).__name__}.")
    rules = tuple(_parse_rule(r, i) for i, r in enumerate(rules_raw))
    seen: set[str] = set()
    for r in rules:
        if r.id in seen:
            raise PolicyError(
                f"{r.source}.id: {r.id!r} is used by another rule; ids must be unique."
            )
        seen.add(r.id)
    audit = data.get("audit") or {}
    if not isinstance(audit, Mapping):
        raise PolicyError(f"audit: expected an object, got {audit!r}.")
    _check_keys(audit, ("record_bodies",), "audit")
    record_bodies = audit.get("record_bodies", False)
    if not isinstance(record_bodies, bool):
        raise PolicyError(f"audit.record_bodies: must be true or false, got {record_bodies!r}.")
    description = data.get("description", data.get("name"))
    if description is not None and not isinstance(description, str):
        raise PolicyError(f"description: must be text, got {description!r}.")
    return Policy(
        version="1",
        default=default,
        read_only=read_only,
        hide=tuple(hide),
        all_tools_limits=all_limits,
        tools=exact,
        operations_default=ops_default,
        rules=rules,
        record_bodies=record_bodies,
        description=description,
        source=source,
        tool_globs=tuple(globbed),
        _hide=_Globs(tuple(hide)),
    )


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file (``.json``, or YAML for any other extension)."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(
            f"Policy file not found: {p}. Check the path or omit it to use the default policy."
        ) from None
    except OSError as exc:
        raise PolicyError(f"Cannot read policy file {p}: {exc.strerror or exc}.") from None
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PolicyError(
                f"{p}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})."
            ) from None
    else:
        import yaml

        try:
            # JSON is YAML too, so .yaml/.yml/.policy/no extension all load here.
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            problem = getattr(exc, "problem", None) or "syntax error"
            raise PolicyError(f"{p}: not valid YAML{at}: {problem}.") from None
    return parse_policy(data, str(p))


def default_policy_path() -> Path:
    """The policy shipped with the gateway (``default_policy.yaml`` next to this module)."""
    return Path(__file__).with_name("default_policy.yaml")


def load_default_policy() -> Policy:
    """Load the shipped default policy."""
    return load_policy(default_policy_path())
