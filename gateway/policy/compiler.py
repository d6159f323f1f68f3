"""Validate a policy document and compile it into the rules the engine runs.

:mod:`cwm_gateway.policy.document` checks shapes and value types; this module adds the checks
that need the whole document, as PolicyLayer documents them (a condition on a counter that no
``state`` block defines, duplicate counters, ...), and a few more where a rule would silently do
something its author did not mean (a counter without a limit, a method the canonical request can
never have). ``cwm-gateway policy check FILE`` prints the result.

Kept apart from :mod:`cwm_gateway.policy.loader` because the document's pydantic models cost
more to define than the rest of the start-up's own work: a gateway on the shipped default policy
imports this module when its first call needs the policy, not before the first tools/list.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from cwm_gateway.errors import RequestValidationError
from cwm_gateway.policy import document as doc
from cwm_gateway.policy.rules import (
    GLOB_CHARS,
    LEGACY_ROOTS,
    METHODS,
    REQUEST_ATTRS,
    RISK_CLASSES,
    RUNTIME_RISKS,
    SCALAR_ATTRS,
    Check,
    Condition,
    Globs,
    Limit,
    OperationRule,
    Policy,
    PolicyError,
    ToolEntry,
    compile_test,
    path_pattern,
)

__all__ = ["compile_document"]


# -- compiling a document ------------------------------------------------------------------


def _parts(text: str) -> tuple[str | int, ...]:
    return tuple(int(p) if p.lstrip("-").isdigit() else p for p in text.split("."))


def _condition(c: doc.Condition, where: str, dialect: str) -> Condition:
    text = c.path.strip()
    pieces = text.split(".")
    if any(not p for p in pieces):
        raise PolicyError(f"{where}.path: {text!r} has an empty part.")
    root, rest = pieces[0], pieces[1:]
    if root == "state":
        if len(rest) != 2:
            raise PolicyError(
                f"{where}.path: a counter is read as state.<tool>.<counter> (state._global.<counter> "
                f"for '*' rules), got {text!r}."
            )
        return Condition(text, c.op, c.value, where, c.on_deny, "state", tuple(rest))
    if root in LEGACY_ROOTS and dialect == "hosted":
        root, rest = "request", [root, *rest]
    elif root not in ("args", "request"):
        if dialect == "intercept":
            raise PolicyError(
                f'{where}.path: path must start with "args.", "state." or "request.", got {text!r}.'
            )
        root, rest = "args", pieces
    if not rest:
        raise PolicyError(f"{where}.path: {text!r} names no value; e.g. '{root}.amount'.")
    if root == "request":
        attr = rest[0]
        if attr not in REQUEST_ATTRS:
            raise PolicyError(
                f"{where}.path: request has no {attr!r}; use one of {', '.join(REQUEST_ATTRS)}."
                + doc.suggest(attr, REQUEST_ATTRS)
            )
        if attr in SCALAR_ATTRS and len(rest) > 1:
            raise PolicyError(f"{where}.path: request.{attr} is a plain value; it has no parts.")
        if attr == "method" and c.op in ("eq", "in"):
            wanted = c.value if isinstance(c.value, list) else [c.value]
            bad = [m for m in wanted if m not in METHODS]
            if bad:
                raise PolicyError(
                    f"{where}: request.method is always one of {', '.join(METHODS)} (upper case); "
                    f"{bad} can never match."
                )
    test = bool if c.op == "exists" else compile_test(c.op, c.value)
    return Condition(text, c.op, c.value, where, c.on_deny, root, _parts(".".join(rest)), test)


def _hosted_limit(lim: doc.Limit, where: str, namespace: str, default_counter: str) -> Limit:
    return Limit(
        namespace=namespace,
        counter=lim.counter or default_counter,
        window=lim.window,
        max=lim.max,
        scope=lim.scope,
        source=where,
        on_deny=lim.on_deny,
        sliding=lim.sliding,
    )


def _hosted_entry(name: str, entry: doc.HostedToolEntry) -> ToolEntry:
    where = f"tools.{name}"
    namespace = "_global" if name == "*" else name
    checks: list[Check] = []
    if entry.action == "deny":
        checks.append(Check("deny", where, message=entry.on_deny or entry.reason))
    elif entry.action == "require_approval":
        checks.append(Check("approval", where, message=entry.reason))
    for i, c in enumerate(entry.require):
        cond = _condition(c, f"{where}.require[{i}]", "hosted")
        checks.append(Check("require", cond.source, (cond,), c.on_deny or entry.on_deny))
    for i, c in enumerate(entry.deny_if):
        cond = _condition(c, f"{where}.deny_if[{i}]", "hosted")
        checks.append(Check("deny_if", cond.source, (cond,), c.on_deny or entry.on_deny))
    limits = tuple(
        _hosted_limit(lim, f"{where}.limits[{i}]", namespace, name)
        for i, lim in enumerate(entry.limits)
    )
    for cond in (c for ch in checks for c in ch.conditions):
        if cond.root == "state":
            raise PolicyError(f"{cond.source}.path: the hosted format has no counters to read.")
    return ToolEntry(name, tuple(checks), limits, entry.description)


def _intercept_entry(name: str, entry: doc.InterceptToolEntry) -> ToolEntry:
    """Compile one tool's rules; state conditions are linked to counters afterwards."""
    namespace = "_global" if name == "*" else name
    checks: list[Check] = []
    limits: list[Limit] = []
    counters: dict[str, int] = {}
    for i, rule in enumerate(entry.rules):
        where = f"tools.{name}.rules[{i}]"
        conditions = list(rule.conditions)
        state, on_deny = rule.state, rule.on_deny
        if rule.rate_limit is not None:
            count, window = doc.parse_rate(rule.rate_limit)
            counter = f"_rate_{window}"
            conditions = [doc.Condition(path=f"state.{namespace}.{counter}", op="lte", value=count)]
            state = doc.State(counter=counter, window=window)
            on_deny = on_deny or f"Rate limit of {count} per {window} reached. Try again later."
        if rule.action == "deny":
            checks.append(Check("deny", rule.name, message=on_deny))
            continue
        compiled = [
            _condition(c, f"{where}.conditions[{j}]", "intercept") for j, c in enumerate(conditions)
        ]
        if state is not None:
            if state.counter in counters:
                raise PolicyError(
                    f"{where}: duplicate state counter {state.counter!r} (also used by "
                    f"rules[{counters[state.counter]}])."
                )
            counters[state.counter] = i
            own = f"state.{namespace}.{state.counter}"
            # Intercept takes the counter's ceiling from an lt/lte condition on the rule's own
            # counter; without one it never counts, so conditions on it could never change.
            ceiling = next((c for c in compiled if c.path == own and c.op in ("lt", "lte")), None)
            if ceiling is None:
                raise PolicyError(
                    f"{where}.state: counter {state.counter!r} has no limit; add a condition "
                    f"{{path: {own}, op: lte, value: N}} to this rule (without one PolicyLayer "
                    "never counts it)."
                )
            top = math.floor(ceiling.value) - (1 if ceiling.op == "lt" else 0)
            limits.append(
                Limit(
                    namespace=namespace,
                    counter=state.counter,
                    window=state.window,
                    max=top,
                    scope="global",
                    source=f"{where}.state",
                    on_deny=on_deny,
                    increment=state.increment,
                    increment_from=_parts(state.increment_from[5:])
                    if state.increment_from
                    else None,
                    rule=rule.name,
                )
            )
            # The reservation enforces the ceiling (and more strictly: value + increment), so
            # the condition itself need not be checked again before it.
            compiled = [c for c in compiled if c is not ceiling]
            if not compiled:
                continue  # the counter's limit is the whole rule
        checks.append(Check("evaluate", rule.name, tuple(compiled), on_deny))
    return ToolEntry(name, tuple(checks), tuple(limits))


def _link_counters(entries: dict[str, ToolEntry]) -> dict[str, ToolEntry]:
    """Point every ``state.<tool>.<counter>`` condition at the counter it reads."""
    by_key = {(lim.namespace, lim.counter): lim for e in entries.values() for lim in e.limits}
    out: dict[str, ToolEntry] = {}
    for name, entry in entries.items():
        checks = []
        for check in entry.checks:
            conds = []
            for cond in check.conditions:
                if cond.root == "state":
                    scope, counter = cond.parts
                    lim = by_key.get((scope, counter))  # type: ignore[arg-type]
                    if lim is None:
                        raise PolicyError(
                            f"{cond.source}: condition references {cond.path} but no matching "
                            "state block found."
                        )
                    cond = dataclasses.replace(cond, counter=lim)
                conds.append(cond)
            checks.append(dataclasses.replace(check, conditions=tuple(conds)))
        out[name] = dataclasses.replace(entry, checks=tuple(checks))
    return out


def _str_list(raw: str | list[str], where: str) -> tuple[str, ...]:
    items = [raw] if isinstance(raw, str) else raw
    if not items or not all(x.strip() for x in items):
        raise PolicyError(f"{where}: expected a string or a non-empty list of strings.")
    return tuple(x.strip() for x in items)


def _operation_rule(rule: doc.OperationRule, index: int) -> OperationRule:
    where = f"operations.rules[{index}]"
    rule_id = (rule.id or where).strip()
    m, mw = rule.match, f"{where}.match"
    methods = None
    if m.method is not None:
        methods = frozenset(x.upper() for x in _str_list(m.method, f"{mw}.method"))
        bad = sorted(methods - set(METHODS))
        if bad:
            raise PolicyError(f"{mw}.method: {bad} not HTTP methods; use {', '.join(METHODS)}.")
    risks = None
    if m.risk is not None:
        known = (*RISK_CLASSES, *RUNTIME_RISKS)
        by_lower = {r.lower(): r for r in known}
        got = _str_list(m.risk, f"{mw}.risk")
        for r in got:
            if r.lower() not in by_lower:
                raise PolicyError(
                    f"{mw}.risk: {r!r} is not a risk class; use {', '.join(known)}."
                    + doc.suggest(r, known)
                )
        risks = frozenset(by_lower[r.lower()] for r in got)
    paths = None
    if m.path is not None:
        try:
            paths = tuple(path_pattern(p) for p in _str_list(m.path, f"{mw}.path"))
        except RequestValidationError as exc:
            raise PolicyError(f"{mw}.path: {exc}") from None

    def globs(value: str | list[str] | None, key: str) -> Globs | None:
        return None if value is None else Globs(_str_list(value, f"{mw}.{key}"))

    conditions = tuple(_condition(c, f"{mw}.where[{i}]", "hosted") for i, c in enumerate(m.where))
    if any(c.root == "state" for c in conditions):
        raise PolicyError(f"{mw}.where: operation rules cannot read counters.")
    if rule.action == "hide" and conditions:
        raise PolicyError(
            f"{where}: a hide rule cannot use 'where' conditions (an operation is listed or not, "
            "whatever the arguments); use action: deny for argument-dependent refusals."
        )
    limits = tuple(
        dataclasses.replace(
            _hosted_limit(lim, f"{where}.limits[{i}]", "operations", rule_id),
            counts_prompts=rule.action == "require_approval",
        )
        for i, lim in enumerate(rule.limits)
    )
    if rule.action == "rate_limit" and not limits:
        raise PolicyError(
            f"{where}.limits: action rate_limit needs limits, e.g. [{{window: minute, max: 30}}]."
        )
    if rule.action in ("deny", "hide") and limits:
        raise PolicyError(
            f"{where}.limits: a {rule.action} rule refuses every call; limits make no sense."
        )
    return OperationRule(
        id=rule_id,
        description=rule.description,
        action=rule.action,
        reason=rule.reason,
        limits=limits,
        operation_ids=globs(m.operation_id, "operation_id"),
        methods=methods,
        paths=paths,
        categories=globs(m.category, "category"),
        tags=globs(m.tag, "tag"),
        risks=risks,
        where=conditions,
        source=where,
    )


def _compile(d: doc.HostedPolicy | doc.InterceptPolicy, source: str) -> Policy:
    dialect = "intercept" if isinstance(d, doc.InterceptPolicy) else "hosted"
    compiled: dict[str, ToolEntry] = {}
    for name, entry in d.tools.items():
        if not name.strip():
            raise PolicyError("tools: tool names must be non-empty strings.")
        if isinstance(entry, doc.InterceptToolEntry):
            compiled[name] = _intercept_entry(name, entry)
        else:
            compiled[name] = _hosted_entry(name, entry)
    compiled = _link_counters(compiled)
    all_limits: tuple[Limit, ...] = ()
    if isinstance(d, doc.HostedPolicy):
        all_limits = tuple(
            _hosted_limit(lim, f"all_tools.limits[{i}]", "_global", "all_tools")
            for i, lim in enumerate(d.all_tools.limits)
        )
    rules = tuple(_operation_rule(r, i) for i, r in enumerate(d.operations.rules))
    seen: set[str] = set()
    for r in rules:
        if r.id in seen:
            raise PolicyError(
                f"{r.source}.id: {r.id!r} is used by another rule; ids must be unique."
            )
        seen.add(r.id)
    wildcard = compiled.pop("*", None)
    exact = {k: v for k, v in compiled.items() if not (GLOB_CHARS & set(k))}
    globbed = tuple(v for k, v in compiled.items() if GLOB_CHARS & set(k))
    return Policy(
        version="1",
        default=d.default,
        read_only=d.read_only,
        hide=tuple(d.hide),
        all_tools_limits=all_limits,
        tools=exact,
        operations_default=d.operations.default,
        rules=rules,
        record_bodies=d.audit.record_bodies,
        description=d.description or d.name,
        source=source,
        dialect=dialect,
        tool_globs=globbed,
        wildcard=wildcard,
    )


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for i, part in enumerate(loc):
        if i == 0 and part in ("hosted", "intercept"):
            continue  # the dialect's tag, not a place in the file
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and (part.startswith("function-") or "[" in part):
            continue  # pydantic's internal step names
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def compile_document(data: Any, source: str = "<policy>") -> Policy:
    """Validate a policy document (already decoded from JSON/YAML) and compile it.

    Raises :class:`PolicyError` naming the source and the place of each problem.
    """
    if not isinstance(data, Mapping):
        raise PolicyError(
            f"{source}: the policy must be an object at the top level, got {type(data).__name__}."
        )
    try:
        document = doc.DOCUMENT.validate_python(data)
    except ValidationError as exc:
        problems = [f"{_loc(e['loc'])}: {_message(e)}" for e in exc.errors()][:8]
        dialect = doc.dialect_of(data)
        head = f"{source}: not a valid policy ({dialect} format)"
        raise PolicyError(
            head + (": " + problems[0] if len(problems) == 1 else ":\n  " + "\n  ".join(problems))
        ) from None
    try:
        return _compile(document, source)
    except PolicyError as exc:
        raise PolicyError(f"{source}: {exc}") from None


def _message(error: Any) -> str:
    msg = str(error["msg"])
    if error["type"] == "missing":
        return "required key is missing."
    if error["type"] == "extra_forbidden":
        return "unknown key."
    if error["type"] == "bool_type":
        return f"must be true or false, got {error['input']!r}."
    if error["type"] in ("string_type", "dict_type", "list_type"):
        kind = {"string_type": "text", "dict_type": "an object", "list_type": "a list"}
        return f"must be {kind[error['type']]}, got {error['input']!r}."
    return msg if msg.endswith((".", "?")) else msg + "."
