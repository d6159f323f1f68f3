"""The policy document: its two PolicyLayer dialects and the gateway's extensions, as pydantic models.

This module is the one description of what a policy file may contain. It checks shapes and
value types (with did-you-mean errors for unknown keys, operators, windows and actions) and
publishes the JSON Schema (``cwm-gateway policy schema``). What the rules *mean* is compiled
in :mod:`cwm_gateway.policy.rules`.

Two dialects, told apart by their shape (see :func:`dialect_of`):

- **hosted** — PolicyLayer's hosted JSON: ``version``, ``default`` (required), ``hide``,
  ``all_tools.limits``, ``tools.<name>`` with ``require``, ``deny_if``, ``limits``, ``on_deny``.
- **intercept** — PolicyLayer's open-source Intercept YAML: ``version``, ``default``
  (optional, allow), ``hide``, ``tools.<name>.rules`` with ``name``, ``action``
  (evaluate|deny), ``conditions``, ``on_deny``, ``state`` and the ``rate_limit`` shorthand.

Extensions of this gateway (marked ``x-extension`` in the schema) are accepted in both:
``read_only``, ``operations`` (rules on ConnectWise operations), ``audit``, a tool entry's
``action``/``reason`` (hosted), a limit's ``sliding`` window, ``request.*`` condition roots.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, cast

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    Tag,
    TypeAdapter,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

# What the compiled rules also need lives with them, so running a policy never loads these models.
from cwm_gateway.policy.rules import WINDOWS, is_number

__all__ = [
    "OPS",
    "WINDOWS",
    "Condition",
    "HostedPolicy",
    "HostedToolEntry",
    "InterceptPolicy",
    "InterceptRule",
    "Limit",
    "OperationRule",
    "PolicyDocument",
    "State",
    "dialect_of",
    "json_schema",
    "suggest",
]

#: Operators of both dialects (PolicyLayer's list).
OPS = ("eq", "neq", "in", "not_in", "lt", "lte", "gt", "gte", "regex", "contains", "exists")
#: Extra spellings accepted for an operator (extension), and what each means.
OP_ALIASES: dict[str, tuple[str, bool | None]] = {
    "ne": ("neq", None),
    "!=": ("neq", None),
    "not_equals": ("neq", None),
    "equals": ("eq", None),
    "==": ("eq", None),
    ">": ("gt", None),
    ">=": ("gte", None),
    "<": ("lt", None),
    "<=": ("lte", None),
    "matches": ("regex", None),
    "present": ("exists", True),
    "missing": ("exists", False),
    "absent": ("exists", False),
    "not_exists": ("exists", False),
}
_NUMERIC_OPS = frozenset({"lt", "lte", "gt", "gte"})
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_RATE = re.compile(r"^\s*(\S+?)\s*/\s*(\S+)\s*$")

Window = Literal["minute", "hour", "day"]
_EXT: JsonDict = {"x-extension": True}


def suggest(word: str, choices: tuple[str, ...] | list[str]) -> str:
    """`` Did you mean 'x'?`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def _fail(message: str) -> PydanticCustomError:
    # A custom error keeps pydantic from prefixing "Value error, ".
    return PydanticCustomError("policy", "{message}", {"message": message})


def _choice(value: Any, choices: tuple[str, ...], what: str) -> Any:
    if isinstance(value, str) and value not in choices:
        hint = suggest(value, choices)
        listed = ", ".join(choices[:-1]) + f" or {choices[-1]}"
        raise _fail(f"{value!r} is not {what}; use {listed}.{hint}")
    return value


#: A window field: an unknown window gets the list of the known ones (and a suggestion).
_CheckedWindow = Annotated[
    Window, BeforeValidator(lambda value: _choice(value, tuple(WINDOWS), "a window"))
]


class _Strict(BaseModel):
    """Unknown keys are errors that name the closest known key."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            allowed = cls.allowed_keys()
            for key in data:
                if key not in allowed:
                    hint = suggest(str(key), allowed)
                    raise _fail(f"unknown key {key!r}.{hint} Allowed here: {', '.join(allowed)}.")
        return data

    @classmethod
    def allowed_keys(cls) -> tuple[str, ...]:
        keys: list[str] = []
        for name, info in cls.model_fields.items():
            alias = info.validation_alias
            if isinstance(alias, AliasChoices):
                keys += [a for a in alias.choices if isinstance(a, str)]
            else:
                keys.append(info.alias or name)
        return tuple(keys)


# -- conditions ----------------------------------------------------------------------------


class Condition(_Strict):
    """``{path, op, value}``: a test on one value of the call."""

    path: str = Field(
        validation_alias=AliasChoices("path", "field"),
        min_length=1,
        description=(
            "Dotted path of the value to test. Roots: args.<x> (tool arguments; for the two "
            "upstream tools method and path are canonical: ASCII upper case, normalized path), "
            "state.<tool>.<counter> / state._global.<counter> (Intercept counters), and the "
            "extensions request.<attr> (the canonical request: method, path, template, "
            "operation_id, category, tag, risk, risks, params, body, fields) and params/body/path/"
            "method (short for request.*). '*' matches every element (request.body.*.path). "
            "'field' is accepted as another name of this key."
        ),
    )
    op: Literal[OPS] = Field(  # type: ignore[valid-type]
        description="Operator. Extension spellings: ne, !=, ==, <, <=, >, >=, matches, "
        "missing/absent/not_exists (= exists false), present (= exists true)."
    )
    value: Any = Field(
        default=None,
        description="eq/neq/contains: a string, number or boolean; in/not_in: a non-empty "
        "list; lt/lte/gt/gte: a number; regex: a pattern (matches strings only); exists: true "
        "(present and not null) or false (absent or null); exists without value means true.",
    )
    on_deny: str | None = Field(
        default=None, description="Message shown to the agent when this condition denies."
    )

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        op = data.get("op")
        if isinstance(op, str) and op.strip().lower() in OP_ALIASES:
            canonical, implied = OP_ALIASES[op.strip().lower()]
            data = dict(data)
            data["op"] = canonical
            if implied is not None:
                if "value" in data and data["value"] is not implied:
                    raise _fail(
                        f"op {op!r} means exists {str(implied).lower()}; it takes no other value "
                        f"(got {data['value']!r})."
                    )
                data["value"] = implied
        elif isinstance(op, str):
            data = {**data, "op": op.strip()}
        return data

    @field_validator("op", mode="before")
    @classmethod
    def _op(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in OPS:
            known = OPS + tuple(OP_ALIASES)
            raise _fail(
                f"unknown operator {value!r}.{suggest(value, known)} Use one of: {', '.join(OPS)}."
            )
        return value

    @model_validator(mode="after")
    def _value_fits_op(self) -> Condition:
        op, value, given = self.op, self.value, "value" in self.model_fields_set
        if op == "exists":
            if given and not isinstance(value, bool):
                raise _fail(f"operator 'exists' needs value true or false, got {value!r}.")
            if not given:
                object.__setattr__(self, "value", True)
        elif not given:
            raise _fail(f"operator {op!r} needs a value.")
        elif op in ("in", "not_in"):
            if not isinstance(value, list):
                raise _fail(f"operator {op!r} needs a list value, got {value!r}.")
            if op == "in" and not value:
                raise _fail("operator 'in' with an empty list can never hold.")
            if not all(isinstance(x, str) or is_number(x) or isinstance(x, bool) for x in value):
                raise _fail(f"operator {op!r} compares with strings, numbers or booleans.")
        elif op in _NUMERIC_OPS:
            if not is_number(value) or not math.isfinite(value):
                raise _fail(f"operator {op!r} needs a numeric value, got {value!r}.")
        elif op == "regex":
            if not isinstance(value, str):
                raise _fail(f"regex value must be a string, got {value!r}.")
            try:
                re.compile(value)
            except re.error as exc:
                raise _fail(f"invalid regex {value!r}: {exc}.") from None
        elif not (isinstance(value, str) or is_number(value) or isinstance(value, bool)):
            raise _fail(
                f"operator {op!r} compares with a string, number or boolean, got {value!r}."
            )
        return self


# -- limits (hosted) -----------------------------------------------------------------------


class Limit(_Strict):
    """A quota: at most ``max`` allowed calls per window (hosted ``limits`` entries)."""

    counter: str | None = Field(
        default=None,
        min_length=1,
        description="Counter name; counted per tool entry (all_tools and '*': _global). "
        "Default: the tool name (or the rule id for operation rules).",
    )
    window: _CheckedWindow = Field(description="Calendar-aligned UTC window (unless sliding).")
    max: int = Field(ge=1, description="Calls allowed per window.")
    scope: Literal["grant", "tool", "operation", "global"] = Field(
        default="grant",
        description="grant: one count per client session; tool: per tool name; operation "
        "(extension): per ConnectWise operation; global: one count for everyone.",
    )
    on_deny: str | None = Field(default=None, description="Message when the quota is used up.")
    sliding: StrictBool = Field(
        default=False,
        description="Extension: a sliding window (no reset at the boundary) instead of "
        "PolicyLayer's calendar window.",
        json_schema_extra=_EXT,
    )

    @field_validator("scope", mode="before")
    @classmethod
    def _scope(cls, value: Any) -> Any:
        return _choice(value, ("grant", "tool", "operation", "global"), "a scope")

    @field_validator("max", mode="before")
    @classmethod
    def _max(cls, value: Any) -> Any:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise _fail(f"must be a positive integer, got {value!r}.")
        return value

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            count, window = parse_rate(data)
            return {"window": window, "max": count}
        return data


def parse_rate(text: str) -> tuple[int, Window]:
    """``"5/hour"`` → ``(5, "hour")``; a clear error otherwise."""
    m = _RATE.match(text)
    if not m:
        raise _fail(f'rate limit must be in the format "N/window" (e.g. "5/hour"), got {text!r}.')
    count, window = m.group(1), m.group(2)
    if not count.isdigit() or int(count) < 1:
        raise _fail(f"rate limit count must be a positive integer, got {count!r}.")
    _choice(window, tuple(WINDOWS), "a window")
    return int(count), cast(Window, window)  # one of WINDOWS, checked just above


LimitSpec = Annotated[
    Limit,
    Field(description='A limit object, or the shorthand "N/window" (e.g. "30/minute").'),
]


# -- hosted dialect ------------------------------------------------------------------------


class HostedToolEntry(_Strict):
    """``tools.<name>`` of the hosted dialect. ``{}`` allows the tool under default deny."""

    require: list[Condition] = Field(
        default_factory=list, description="Every condition must hold, else the call is denied."
    )
    deny_if: list[Condition] = Field(
        default_factory=list, description="Any condition that holds denies the call."
    )
    limits: list[LimitSpec] = Field(default_factory=list)
    on_deny: str | None = Field(
        default=None, description="Message shown when this entry denies a call."
    )
    action: Literal["allow", "deny", "require_approval"] = Field(
        default="allow",
        description="Extension: deny every call, or ask a person (require_approval).",
        json_schema_extra=_EXT,
    )
    reason: str | None = Field(
        default=None,
        description="Extension: shown with action deny/approval.",
        json_schema_extra=_EXT,
    )
    description: str | None = Field(default=None, json_schema_extra=_EXT)

    @field_validator("action", mode="before")
    @classmethod
    def _action(cls, value: Any) -> Any:
        return _choice(value, ("allow", "deny", "require_approval"), "a tool action")


class AllTools(_Strict):
    """``all_tools``: limits counted on every tool call (counter scope ``_global``)."""

    limits: list[LimitSpec] = Field(default_factory=list)


# -- Intercept dialect ---------------------------------------------------------------------


class State(_Strict):
    """A counter: read as ``state.<tool>.<counter>`` (``_global`` for ``"*"``)."""

    counter: str = Field(min_length=1)
    window: _CheckedWindow = Field(description="Calendar-aligned UTC window: minute, hour or day.")
    increment: int = Field(default=1, ge=1, description="Added on each allowed call.")
    increment_from: str | None = Field(
        default=None,
        pattern=r"^args\..+",
        description="Path of a tool argument (args.<x>) whose value is added instead.",
    )

    @field_validator("increment_from", mode="before")
    @classmethod
    def _from(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.startswith("args."):
            raise _fail(f'increment_from must start with "args.", got {value!r}.')
        return value


class InterceptRule(_Strict):
    """One rule of ``tools.<name>.rules``."""

    name: str = Field(min_length=1)
    action: Literal["evaluate", "deny"] = Field(
        default="evaluate",
        description="evaluate: every condition must hold, else deny; deny: always deny.",
    )
    conditions: list[Condition] = Field(default_factory=list)
    on_deny: str | None = Field(
        default=None,
        description="Shown to the agent as '[INTERCEPT POLICY DENIED] <on_deny>'.",
    )
    state: State | None = None
    rate_limit: str | None = Field(
        default=None, description='Shorthand "N/window" for a counter and its limit.'
    )

    @field_validator("action", mode="before")
    @classmethod
    def _action(cls, value: Any) -> Any:
        return _choice(value, ("evaluate", "deny"), "an action")

    @field_validator("rate_limit")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        if value is not None:
            parse_rate(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> InterceptRule:
        if self.rate_limit is not None:
            if self.conditions or self.state is not None:
                raise _fail(
                    "rate_limit cannot be combined with conditions or state; use separate rules "
                    "or the full syntax instead."
                )
            if self.action == "deny":
                raise _fail('rate_limit cannot be used with action "deny".')
            return self
        if self.action == "deny" and self.conditions:
            raise _fail("deny rules must not have conditions.")
        if self.action == "evaluate" and not self.conditions:
            raise _fail("evaluate rules must have at least one condition.")
        return self


class InterceptToolEntry(_Strict):
    """``tools.<name>`` of the Intercept dialect. ``rules: []`` allows the tool."""

    rules: list[InterceptRule] = Field(default_factory=list)


# -- extensions ----------------------------------------------------------------------------


class Match(_Strict):
    """What an operation rule matches; all given keys must match (a list: any item)."""

    operation_id: str | list[str] | None = None
    method: str | list[str] | None = None
    path: str | list[str] | None = Field(
        default=None,
        description="Template (/company/companies/{id}), glob (/finance/*) or concrete path, "
        "normalized like the request's path.",
    )
    category: str | list[str] | None = None
    tag: str | list[str] | None = None
    risk: str | list[str] | None = None
    where: list[Condition] = Field(
        default_factory=list, description="Conditions that must all hold."
    )


class OperationRule(_Strict):
    """Extension: a rule on ConnectWise operations (``operations.rules``)."""

    id: str | None = Field(default=None, min_length=1)
    description: str | None = None
    match: Match = Field(default_factory=Match)
    action: Literal["allow", "deny", "hide", "require_approval", "rate_limit"]
    reason: str | None = None
    limits: list[LimitSpec] = Field(default_factory=list)

    @field_validator("action", mode="before")
    @classmethod
    def _action(cls, value: Any) -> Any:
        return _choice(
            value, ("allow", "deny", "hide", "require_approval", "rate_limit"), "an action"
        )

    @field_validator("match", mode="before")
    @classmethod
    def _none_match(cls, value: Any) -> Any:
        return {} if value is None else value


class Operations(_Strict):
    """Extension: rules for calls that reach a ConnectWise operation."""

    default: Literal["allow", "deny", "require_approval"] = "allow"
    rules: list[OperationRule] = Field(default_factory=list)

    @field_validator("default", mode="before")
    @classmethod
    def _default(cls, value: Any) -> Any:
        return _choice(value, ("allow", "deny", "require_approval"), "an operations default")


class Audit(_Strict):
    """Extension: audit settings."""

    record_bodies: StrictBool = Field(
        default=False, description="Store request bodies (secrets scrubbed) instead of hashes."
    )


class _Document(_Strict):
    version: Literal["1"] = Field(description='Schema version; only "1" is recognised.')
    description: str | None = None
    name: str | None = Field(default=None, description="Another name for description.")
    hide: list[str] = Field(
        default_factory=list,
        description='Tools removed from tools/list and denied when called; "*" hides all.',
    )
    read_only: StrictBool = Field(
        default=False,
        description="Extension: deny every ConnectWise operation whose risk is not Read.",
        json_schema_extra=_EXT,
    )
    operations: Operations = Field(default_factory=Operations, json_schema_extra=_EXT)
    audit: Audit = Field(default_factory=Audit, json_schema_extra=_EXT)

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> Any:
        if value == 1 and not isinstance(value, bool):
            return "1"
        if value != "1":
            raise _fail(f'must be "1", got {value!r}.')
        return value

    @field_validator("hide")
    @classmethod
    def _hide(cls, value: list[str]) -> list[str]:
        seen: set[str] = set()
        for i, name in enumerate(value):
            if not name.strip():
                raise _fail(f"hide[{i}]: entry must not be empty.")
            if name in seen:
                raise _fail(f"hide: duplicate entry {name!r}.")
            seen.add(name)
        return value

    @field_validator("operations", "audit", mode="before")
    @classmethod
    def _none_section(cls, value: Any) -> Any:
        return {} if value is None else value

    # Both dialects declare ``default`` and ``tools`` (with their own types); the checks are one.
    @field_validator("default", mode="before", check_fields=False)
    @classmethod
    def _default(cls, value: Any) -> Any:
        return _choice(value, ("allow", "deny"), "a default")

    @field_validator("tools", mode="before", check_fields=False)
    @classmethod
    def _none_entries(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: ({} if v is None else v) for k, v in value.items()}
        return value


class HostedPolicy(_Document):
    """PolicyLayer's hosted JSON policy (plus the gateway's extensions)."""

    default: Literal["allow", "deny"] = Field(
        description="allow or deny: what happens to tools not listed under tools."
    )
    all_tools: AllTools = Field(default_factory=AllTools)
    tools: dict[str, HostedToolEntry] = Field(
        default_factory=dict,
        description="Per-tool entries. A key may be '*' (applies in addition to every tool's "
        "entry, never admits a tool) or, as an extension, a glob. An entry for "
        "execute_api_call, send_raw_api_request or read_api applies to all three upstream tools.",
    )

    @field_validator("tools", "all_tools", mode="before")
    @classmethod
    def _none_map(cls, value: Any) -> Any:
        return {} if value is None else value


class InterceptPolicy(_Document):
    """PolicyLayer Intercept's YAML policy (plus the gateway's extensions)."""

    default: Literal["allow", "deny"] = Field(
        default="allow", description="allow (the default) or deny unlisted tools."
    )
    tools: dict[str, InterceptToolEntry] = Field(
        description="Per-tool rules. '*' rules apply to every tool call in addition to the "
        "tool's own (after them) and never admit an unlisted tool under default deny. An "
        "entry for execute_api_call, send_raw_api_request or read_api applies to all three "
        "upstream tools."
    )


_HOSTED_TOOL_KEYS = frozenset({"require", "deny_if", "limits", "on_deny", "action", "reason"})


def dialect_of(data: Any) -> str:
    """``intercept`` or ``hosted``, from the document's shape.

    Intercept when a tool entry has ``rules``, or when ``default`` is omitted and nothing
    hosted-only (``all_tools``, ``require``/``deny_if``/``limits``) is present; hosted otherwise.
    """
    if not isinstance(data, Mapping):
        return "hosted"
    tools = data.get("tools")
    entries = list(tools.values()) if isinstance(tools, Mapping) else []
    if any(isinstance(e, Mapping) and "rules" in e for e in entries):
        return "intercept"
    hosted_only = "all_tools" in data or any(
        isinstance(e, Mapping) and _HOSTED_TOOL_KEYS & set(e) for e in entries
    )
    return "hosted" if hosted_only or "default" in data else "intercept"


PolicyDocument = Annotated[
    Annotated[HostedPolicy, Tag("hosted")] | Annotated[InterceptPolicy, Tag("intercept")],
    Discriminator(dialect_of),
]
DOCUMENT: TypeAdapter[HostedPolicy | InterceptPolicy] = TypeAdapter(PolicyDocument)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a policy document (both dialects; extensions marked x-extension)."""
    schema = DOCUMENT.json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "cwm-gateway policy"
    schema["description"] = (
        "A PolicyLayer policy (hosted JSON or Intercept YAML) with cwm-gateway extensions "
        "(marked x-extension). Tool entries for execute_api_call, send_raw_api_request and "
        "read_api apply to all three upstream tools."
    )
    return schema
