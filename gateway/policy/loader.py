"""Find, read and decode policy files; :mod:`cwm_gateway.policy.compiler` validates and compiles.

Also the shipped default policy (its YAML and the JSON form read at start-up) and the text
``cwm-gateway policy check`` prints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cwm_gateway.errors import PolicyError

if TYPE_CHECKING:
    from cwm_gateway.policy.rules import Policy, ToolEntry

__all__ = [
    "default_policy_hidden_tools",
    "default_policy_path",
    "describe_policy",
    "load_default_policy",
    "load_policy",
    "parse_policy",
]


def parse_policy(data: Any, source: str = "<policy>") -> Policy:
    """Validate a policy document (already decoded from JSON/YAML) and compile it.

    Raises :class:`PolicyError` naming the source and the place of each problem.
    """
    from cwm_gateway.policy.compiler import compile_document

    return compile_document(data, source)


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
            # JSON is YAML too, so .yaml/.yml/.policy/no extension all load here. libyaml's
            # safe loader when PyYAML has it: the same documents, ~10x faster at start-up.
            data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            problem = getattr(exc, "problem", None) or "syntax error"
            raise PolicyError(f"{p}: not valid YAML{at}: {problem}.") from None
    return parse_policy(data, str(p))


def default_policy_path() -> Path:
    """The policy shipped with the gateway (``default_policy.yaml`` next to this module)."""
    return Path(__file__).with_name("default_policy.yaml")


def default_policy_json_path() -> Path:
    """``default_policy.yaml`` written as JSON (``nox -s default_policy`` writes it)."""
    return default_policy_path().with_suffix(".json")


def load_default_policy() -> Policy:
    """Load the shipped default policy.

    Read from its JSON form, so a gateway starting with the default policy needs no YAML parser
    (importing PyYAML was a quarter of the start-up's own cost); the YAML, with its comments, is
    the source people read and copy, and names the policy. A test keeps the two equal.
    """
    data = json.loads(default_policy_json_path().read_text(encoding="utf-8"))
    return parse_policy(data, str(default_policy_path()))


def default_policy_hidden_tools() -> frozenset[str]:
    """The tools the shipped default policy hides, read without compiling the policy.

    The one fact the first tools/list needs from the policy; a gateway on the default policy
    compiles the rest when its first call needs a decision (see :class:`cwm_gateway.core.Gateway`).
    The file is the compiled policy's own source, checked by the tests, so its ``hide`` key is
    the compiled policy's hide list.
    """
    data = json.loads(default_policy_json_path().read_text(encoding="utf-8"))
    return frozenset(data.get("hide") or ())


def write_default_policy_json() -> Path:
    """Write ``default_policy.json`` from ``default_policy.yaml`` (after editing the YAML)."""
    import yaml

    data = yaml.safe_load(default_policy_path().read_text(encoding="utf-8"))
    target = default_policy_json_path()
    target.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return target


def describe_policy(policy: Policy) -> list[str]:
    """The effective rules, as ``cwm-gateway policy check`` prints them: what applies to each
    listed tool (its own entry, the other upstream tool's, globs, then "*"), in order."""
    lines = [
        f"policy: {policy.source} ({policy.dialect} format)"
        + (f" — {policy.description}" if policy.description else ""),
        f"default: {policy.default} for tools not listed"
        + (' ("*" rules never admit a tool)' if policy.default == "deny" else ""),
    ]
    if policy.hide:
        lines.append(f"hidden tools: {', '.join(policy.hide)}")
    if policy.read_only:
        lines.append("read_only: only Read operations may reach ConnectWise (extension)")
    for lim in policy.all_tools_limits:
        lines.append(f"every tool call: limit {lim.describe()}")
    names = list(policy.tools) + [g.name for g in policy.tool_globs]
    for name in names:
        lines.append(f"tool {name}:")
        own = policy.entries_for(name) if name in policy.tools else ()
        lines += _describe_entries(tuple(e for e in own if e is not policy.wildcard))
        if name not in policy.tools:
            entry = next(g for g in policy.tool_globs if g.name == name)
            lines += _describe_entries((entry,))
    if policy.wildcard is not None:
        lines.append('every tool ("*", after each tool\'s own rules):')
        lines += _describe_entries((policy.wildcard,))
    if policy.rules or policy.operations_default != "allow":
        lines.append(f"operations (extension): default {policy.operations_default}")
        for rule in policy.rules:
            text = f"  {rule.id}: {rule.describe_match()} -> {rule.action}"
            if rule.reason:
                text += f" ({rule.reason})"
            lines.append(text)
            lines += [f"    limit {lim.describe()}" for lim in rule.limits]
    if policy.record_bodies:
        lines.append("audit: request bodies recorded (secrets scrubbed) (extension)")
    return lines


def _describe_entries(entries: tuple[ToolEntry, ...]) -> list[str]:
    out: list[str] = []
    for entry in entries:
        origin = f"  from {entry.id}:"
        body: list[str] = []
        for check in entry.checks:
            message = f' — on deny: "{check.message}"' if check.message else ""
            if check.kind == "deny":
                body.append(f"    deny every call [{check.rule}]{message}")
            elif check.kind == "approval":
                body.append(f"    a person approves every call [{check.rule}]")
            else:
                verb = {"require": "require", "deny_if": "deny if", "evaluate": "require"}
                conds = " and ".join(c.describe() for c in check.conditions) or "(counter only)"
                body.append(f"    {verb[check.kind]} {conds} [{check.rule}]{message}")
        for lim in entry.limits:
            message = f' — on deny: "{lim.on_deny}"' if lim.on_deny else ""
            body.append(f"    limit {lim.describe()} [{lim.rule or lim.source}]{message}")
        out += [origin, *(body or ["    allowed, no checks"])]
    return out
