"""The rules the engine runs: compiled conditions, counters, tool entries, operation rules.

A policy file (PolicyLayer's hosted JSON or Intercept YAML, plus this gateway's extensions) is
described by :mod:`cwm_gateway.policy.document` and compiled into a :class:`Policy` by
:mod:`cwm_gateway.policy.loader`. This module holds what the result is made of and how each
piece matches a call; the README's "Policy" section documents the format and the semantics.
"""

from __future__ import annotations

import fnmatch
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from cwm_gateway import paths
from cwm_gateway.errors import PolicyError
from cwm_gateway.policy.tool_names import UPSTREAM_TOOLS, hides
from cwm_gateway.policy.visibility import RUNTIME_RISKS

__all__ = [
    "ACTIONS",
    "RISK_CLASSES",
    "RUNTIME_RISKS",
    "SCOPES",
    "UPSTREAM_TOOLS",
    "WINDOWS",
    "Check",
    "Condition",
    "Limit",
    "OperationRule",
    "Policy",
    "PolicyError",
    "ToolEntry",
    "request_attr",
    "walk",
]

try:  # The generated contract is the source of truth once it exists.
    from cwm_generated.types import RISK_CLASSES
except ImportError:  # pragma: no cover - only before the first code generation
    RISK_CLASSES = ("Read", "Write", "Execute", "Destructive", "Financial")

SCOPES = ("grant", "tool", "operation", "global")
ACTIONS = ("allow", "deny", "hide", "require_approval", "rate_limit")
#: Attributes of the canonical request that conditions may read as ``request.<attr>``.
REQUEST_ATTRS = (
    "method",
    "path",
    "template",
    "operation_id",
    "category",
    "tag",
    "risk",
    "risks",
    "params",
    "body",
    "fields",
)
SCALAR_ATTRS = frozenset(REQUEST_ATTRS) - {"params", "body", "fields", "risks"}
#: Short roots of the hosted dialect (extension): ``body.x`` is ``request.body.x``.
LEGACY_ROOTS = ("params", "body", "path", "method")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
GLOB_CHARS = frozenset("*?[")
_MISSING = object()
#: Counter windows: calendar-aligned in UTC (or sliding, an extension), length in seconds.
WINDOWS: dict[str, int] = {"minute": 60, "hour": 3600, "day": 86400}


def is_number(value: Any) -> bool:
    """A JSON number (booleans are not numbers here)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def path_key(path: str) -> str:
    """How paths are compared: :func:`cwm_gateway.paths.template_key` (the one normalizer:
    prefix and slashes dropped, decoded, lower case, every ``{param}`` written ``{}``)."""
    return paths.template_key(path)


_GLOB_PROTECT = str.maketrans({"*": "\ue000", "?": "\ue001", "[": "\ue002", "]": "\ue003"})
_GLOB_RESTORE = str.maketrans({"\ue000": "*", "\ue001": "?", "\ue002": "[", "\ue003": "]"})


def pattern_key(pattern: str) -> str:
    """A policy path pattern normalized like a request path, its glob characters kept."""
    return path_key(pattern.translate(_GLOB_PROTECT)).translate(_GLOB_RESTORE)


# -- values of a call ----------------------------------------------------------------------


def request_attr(call: Any, attr: str) -> Any:
    """``request.<attr>`` of a call: from its canonical request, else from its own fields."""
    req = getattr(call, "request", None)
    if req is not None:
        return getattr(req, attr, None)
    op = getattr(call, "operation", None)
    if attr == "path":
        return getattr(call, "path", None)
    if attr == "params":
        return getattr(call, "params", None)
    if attr == "body":
        return getattr(call, "body", None)
    if attr == "fields":
        body = getattr(call, "body", None)
        return list(body) if isinstance(body, Mapping) else None
    if op is None:
        return None
    if attr == "method":
        return op.method.upper()
    if attr == "template":
        return op.path
    if attr == "risks":
        return (op.risk, *sorted(getattr(call, "risks", ()) or ()))
    return getattr(op, attr, None)


def walk(node: Any, parts: tuple[str | int, ...], i: int, out: list[Any]) -> None:
    # null counts as absent, as in PolicyLayer (exists: true needs a non-null value).
    if node is None:
        return
    if i == len(parts):
        out.append(node)
        return
    part = parts[i]
    if part == "*":
        if isinstance(node, Mapping):
            children: Any = node.values()
        elif isinstance(node, list | tuple):
            children = node
        else:
            return
        for child in children:
            walk(child, parts, i + 1, out)
        return
    if isinstance(node, Mapping):
        if part in node:
            walk(node[part], parts, i + 1, out)
        elif isinstance(part, int) and str(part) in node:
            walk(node[str(part)], parts, i + 1, out)
    elif isinstance(node, list | tuple) and isinstance(part, int):
        if -len(node) <= part < len(node):
            walk(node[part], parts, i + 1, out)


def _number(value: Any) -> float | None:
    """A number, or a string holding one (tool arguments often carry numbers as text)."""
    if is_number(value):
        return value
    if isinstance(value, str):
        try:
            n = float(value)
        except ValueError:
            return None
        return n if math.isfinite(n) else None
    return None


def _eq(a: Any, b: Any) -> bool:
    # PolicyLayer compares numbers as numbers and everything else as text; a boolean is
    # never equal to a number or a string here (True == 1 in Python).
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if is_number(a) or is_number(b):
        x, y = _number(a), _number(b)
        return x is not None and y is not None and x == y
    return isinstance(a, str) and isinstance(b, str) and a == b


# -- conditions ----------------------------------------------------------------------------

_NEGATIVE = frozenset({"neq", "not_in"})


def compile_test(op: str, value: Any) -> Callable[[Any], bool]:
    if op in ("eq", "neq"):
        return lambda v: _eq(v, value)
    if op in ("in", "not_in"):
        strings = frozenset(x for x in value if isinstance(x, str))
        numbers = frozenset(n for x in value if (n := _number(x)) is not None)
        bools = frozenset(x for x in value if isinstance(x, bool))

        def member(v: Any) -> bool:
            if isinstance(v, bool):
                return v in bools
            if isinstance(v, str) and v in strings:
                return True
            n = _number(v)
            return n is not None and n in numbers

        return member
    if op == "regex":
        pattern = re.compile(value)
        # PolicyLayer matches strings only: a number never matches, whatever its digits.
        return lambda v: isinstance(v, str) and pattern.search(v) is not None
    if op == "contains":

        def contains(v: Any) -> bool:
            if isinstance(v, str):
                return isinstance(value, str) and value in v
            if isinstance(v, list | tuple):
                return any(_eq(x, value) for x in v)
            return False

        return contains
    compare: Callable[[float], bool] = {
        "gt": lambda a: a > value,
        "gte": lambda a: a >= value,
        "lt": lambda a: a < value,
        "lte": lambda a: a <= value,
    }[op]

    def ordered(v: Any) -> bool:
        n = _number(v)
        return n is not None and compare(n)

    return ordered


@dataclass(frozen=True)
class Condition:
    """One compiled condition. ``holds`` says whether it is true for a call."""

    path: str
    op: str
    value: Any
    source: str
    """Where the condition is in the policy, e.g. ``tools.x.deny_if[0]``."""
    on_deny: str | None = None
    root: str = "args"
    """``args``, ``request`` or ``state``."""
    parts: tuple[str | int, ...] = ()
    test: Callable[[Any], bool] = field(repr=False, compare=False, default=bool)
    counter: Limit | None = field(repr=False, compare=False, default=None)
    """For ``state.*`` conditions: the counter read."""

    def describe(self) -> str:
        """Human text, e.g. ``args.amount gt 10000``."""
        if self.op == "exists":
            return f"{self.path} {'exists' if self.value else 'is absent'}"
        return f"{self.path} {self.op} {json.dumps(self.value)}"

    def values(self, call: Any, state: Callable[[Limit], float] | None = None) -> list[Any]:
        """Every value the path names in this call (several when it has ``*``)."""
        if self.root == "state":
            if state is None or self.counter is None:
                return []
            return [state(self.counter)]
        if self.root == "request":
            start = request_attr(call, self.parts[0])  # type: ignore[arg-type]
            parts, i = self.parts, 1
        else:
            start, parts, i = getattr(call, "arguments", None), self.parts, 0
        found: list[Any] = []
        walk(start, parts, i, found)
        return found

    def holds(self, call: Any, state: Callable[[Limit], float] | None = None) -> bool:
        """Whether the condition is true: an absent value satisfies only ``exists: false``.

        With ``*`` in the path, ``neq``/``not_in`` need every value to pass, the other
        operators any value (so ``body.*.path not_in [x]`` is false when any op touches x).
        """
        found = self.values(call, state)
        if self.op == "exists":
            return bool(found) is self.value
        if not found:
            return False
        test = self.test
        if self.op in _NEGATIVE:
            return not any(test(v) for v in found)
        return any(test(v) for v in found)


# -- counters ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limit:
    """A counter with its ceiling: hosted ``limits``, Intercept ``state``, operation limits."""

    namespace: str
    """The tool entry that owns it (``_global`` for ``all_tools`` and ``"*"``)."""
    counter: str
    window: str
    max: float
    """The counter may reach this value, no more."""
    scope: str
    """grant, tool, operation or global: who shares one count."""
    source: str
    on_deny: str | None = None
    sliding: bool = False
    increment: float = 1
    increment_from: tuple[str | int, ...] | None = None
    """Path under the tool arguments whose value is added instead of ``increment``."""
    rule: str | None = None
    """The Intercept rule that defines the counter."""
    counts_prompts: bool = False
    """A limit of a require_approval rule: once a person was asked, the budget stays used
    (it limits prompts), even when the call is declined or fails upstream."""

    @property
    def seconds(self) -> int:
        """Window length in seconds."""
        return WINDOWS[self.window]

    def describe(self) -> str:
        """Human text, e.g. ``10 per minute per grant (counter 'x')``."""
        unit = "calls" if self.increment_from is None and self.increment == 1 else "units"
        who = {"global": "in total", "grant": "per grant", "tool": "per tool"}.get(
            self.scope, f"per {self.scope}"
        )
        kind = "sliding " if self.sliding else ""
        return (
            f"{_fmt(self.max)} {unit} per {kind}{self.window} {who} "
            f"(counter {self.namespace}.{self.counter})"
        )


def _fmt(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else str(n)


# -- tool entries --------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One tool-level check, in the order the policy gives them."""

    kind: str
    """``deny``, ``approval``, ``require`` (all must hold), ``deny_if`` (any denies) or
    ``evaluate`` (Intercept: all must hold)."""
    rule: str
    """Reported as the deciding rule, e.g. ``tools.x.require[0]`` or an Intercept rule name."""
    conditions: tuple[Condition, ...] = ()
    message: str | None = None
    """on_deny (or the extension's reason)."""


@dataclass(frozen=True)
class ToolEntry:
    """The policy's entry for one tool name, glob or ``"*"``."""

    name: str
    checks: tuple[Check, ...] = ()
    limits: tuple[Limit, ...] = ()
    description: str | None = None

    @property
    def id(self) -> str:
        """Rule id used in decisions and the audit log."""
        return f"tools.{self.name}"


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


def path_pattern(raw: str) -> PathPattern:
    norm = pattern_key(raw)
    if GLOB_CHARS & set(norm):
        return PathPattern(raw, "glob", norm, re.compile(fnmatch.translate(norm)))
    return PathPattern(raw, "template" if "{}" in norm else "exact", norm)


class Globs:
    """A set of exact names plus globs, matched case-insensitively."""

    __slots__ = ("exact", "regex", "raw")

    def __init__(self, items: tuple[str, ...]) -> None:
        self.raw = items
        lowered = [i.lower() for i in items]
        self.exact = frozenset(i for i in lowered if not (GLOB_CHARS & set(i)))
        globs = [fnmatch.translate(i) for i in lowered if GLOB_CHARS & set(i)]
        self.regex = re.compile("|".join(f"(?:{g})" for g in globs)) if globs else None

    def __contains__(self, value: str | None) -> bool:
        if value is None:
            return False
        value = value.lower()
        return value in self.exact or (self.regex is not None and bool(self.regex.match(value)))


@dataclass(frozen=True)
class OperationRule:
    """One rule of ``operations.rules`` (extension)."""

    id: str
    description: str | None
    action: str
    reason: str | None
    limits: tuple[Limit, ...]
    operation_ids: Globs | None
    methods: frozenset[str] | None
    paths: tuple[PathPattern, ...] | None
    categories: Globs | None
    tags: Globs | None
    risks: frozenset[str] | None
    where: tuple[Condition, ...]
    source: str

    def static_mismatch(self, op: Any) -> str | None:
        """Why the operation (ignoring the concrete path and arguments) fails the match."""
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

    def mismatch(
        self, op: Any, template: str, concrete: Callable[[], str | None], call: Any
    ) -> str | None:
        """Why this call fails the rule's match, or None when it matches (``concrete`` gives
        the call's normalized concrete path, computed only when a path must be compared).

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
        if self.paths is not None and not any(p.matches(template, concrete()) for p in self.paths):
            shown = concrete() or op.path
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


# -- the policy ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """A compiled policy. Build with :func:`load_policy` or :func:`parse_policy`."""

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
    dialect: str = "hosted"
    """``hosted`` (PolicyLayer's JSON) or ``intercept`` (Intercept's YAML)."""
    tool_globs: tuple[ToolEntry, ...] = ()
    wildcard: ToolEntry | None = None
    """The ``"*"`` entry: applies to every call after the tool's own entries."""
    _entries: dict[str, tuple[ToolEntry, ...]] = field(
        repr=False, compare=False, default_factory=dict
    )

    def is_listed(self, tool: str) -> bool:
        """Whether ``tools`` names the tool (``"*"`` does not list anything)."""
        if tool in self.tools:
            return True
        if tool in UPSTREAM_TOOLS and any(t in self.tools for t in UPSTREAM_TOOLS):
            return True
        return any(fnmatch.fnmatchcase(tool, g.name) for g in self.tool_globs)

    def entries_for(self, tool: str) -> tuple[ToolEntry, ...]:
        """Every entry that applies to a call of ``tool``, in evaluation order: its own entry
        (for an upstream tool, both upstream entries), matching globs, then ``"*"``."""
        found = self._entries.get(tool)
        if found is None:
            names = UPSTREAM_TOOLS if tool in UPSTREAM_TOOLS else (tool,)
            own = [self.tools[n] for n in dict.fromkeys((tool, *names)) if n in self.tools]
            globs = [g for g in self.tool_globs if fnmatch.fnmatchcase(tool, g.name)]
            star = [self.wildcard] if self.wildcard is not None else []
            found = self._entries[tool] = tuple(own + globs + star)
        return found

    def is_tool_hidden(self, tool: str) -> bool:
        """Whether the tool is on the hide list (removed from tools/list, denied when called)."""
        return hides(self.hide, tool)

    def tool_entry(self, tool: str) -> ToolEntry | None:
        """The tool's own entry (exact name, else the first matching glob), or None."""
        own = [e for e in self.entries_for(tool) if e is not self.wildcard]
        return own[0] if own else None


_LOADER_NAMES = ("default_policy_path", "load_default_policy", "load_policy", "parse_policy")


def __getattr__(name: str) -> Any:
    # The loader's functions lived here before loader.py; older imports keep working.
    if name in _LOADER_NAMES:
        from cwm_gateway.policy import loader

        return getattr(loader, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
