"""The one place that knows what an API path is: the prefix, the normalizer and the router.

Validation, the catalog, the policy and the client all answer "which operation is this path?"
through :func:`route` (concrete paths) and :func:`template_operations` (templates), so a path
that one of them accepts means the same operation to all of them. Spelling variants a caller
may use (``/System/members``, ``system/members/``, ``/v4_6_release/apis/3.0/system/members``,
percent-encoded letters) all normalize here; anything that is not a plain path (URLs, query
strings, traversal, control characters, encoded slashes) is refused here, once.
"""

from __future__ import annotations

import difflib
import re
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple, NoReturn
from urllib.parse import quote, unquote, urlsplit

from cwm_gateway.errors import Problem, RequestValidationError

if TYPE_CHECKING:
    from collections.abc import Callable

    from cwm_generated.types import Operation

    #: The policy's "may this operation be seen?" predicate.
    Visible = Callable[[Operation], bool]

__all__ = [
    "API_PREFIX",
    "METHODS",
    "Route",
    "canonical_method",
    "concrete_path",
    "normalize_path",
    "path_segments",
    "route",
    "strip_api_prefix",
    "strip_url",
    "template_key",
    "template_operations",
]

#: The path every ConnectWise REST URL starts with (the codebase segment varies by server:
#: ``v4_6_release``, ``v2025_1``...; this is the one the sandbox and the docs use).
API_PREFIX = "/v4_6_release/apis/3.0"
#: Any codebase's prefix (``v4_6_release/apis/3.0``, ``v2025_1/apis/3.0``...).
_ANY_PREFIX = r"v\d+(?:_\d+)*(?:_release)?/apis/3\.0(?=/|$)"
#: The prefix as callers may paste it in front of a path.
_API_PREFIX_RE = re.compile(r"/*" + _ANY_PREFIX, re.IGNORECASE)
#: What a site puts before the API prefix in a URL's path (``/cw``...).
_SITE_PREFIX_RE = re.compile(r"^.*?(?=/" + _ANY_PREFIX + ")", re.IGNORECASE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_PARAM_SEGMENT = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ANY_PARAM = re.compile(r"\{[^}]*\}")
_INTEGER = re.compile(r"[+-]?[0-9]+\Z")
_INT32_MAX = 2**31 - 1
_FORBIDDEN_ESCAPES = re.compile(r"%(?:2e|2f|5c|00)", re.IGNORECASE)
#: Longest path accepted (ConnectWise's own paths are under 150 characters).
MAX_PATH_CHARS = 2_000
#: The HTTP methods of the API, in their one canonical spelling.
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _fail(where: str, message: str, hint: str | None = None, op_id: str | None = None) -> NoReturn:
    raise RequestValidationError([Problem(where, message, hint)], op_id)


def canonical_method(method: object) -> str:
    """``GET``/``POST``/... from any ASCII spelling; anything else is refused.

    Only ASCII letters are folded: ``"poſt".upper()`` is ``"POST"`` in Python (a long s), and a
    policy that denies POST must not be passed by such a spelling.
    """
    if isinstance(method, str):
        text = method.strip()
        if text.isascii() and text.upper() in METHODS:
            return text.upper()
    shown = repr(method) if not isinstance(method, str) or len(method) < 40 else "that value"
    _fail("method", f"{shown} is not an HTTP method of this API", "one of: " + ", ".join(METHODS))


def strip_api_prefix(path: str) -> str:
    """``path`` without a leading ``/v4_6_release/apis/3.0`` (any codebase, any case)."""
    m = _API_PREFIX_RE.match(path)
    return path[m.end() :] if m is not None else path


def strip_url(text: str) -> str:
    """A pasted URL as an API path: scheme, host, a site's own path prefix, query and fragment
    dropped (``https://cw.example.com/cw/v4_6_release/apis/3.0/service/tickets?page=2`` →
    ``/v4_6_release/apis/3.0/service/tickets``; the normalizer drops the API prefix). Forgiving,
    for look-ups such as the catalog's; a request's path refuses all of these
    (:func:`path_segments`)."""
    text = text.strip()
    if "://" in text:
        text = urlsplit(text).path
    text = text.split("?", 1)[0].split("#", 1)[0]
    return _SITE_PREFIX_RE.sub("", text, count=1)


def path_segments(path: object, *, templates: bool = False) -> list[str]:
    """A caller's path as decoded segments, refusing anything that is not a plain API path.

    Leading/trailing whitespace and slashes and the API prefix are dropped. With
    ``templates=True`` a ``{name}`` segment is kept as it is (catalog look-ups by template).
    """
    if not isinstance(path, str):
        _fail("path", f"must be text, not {type(path).__name__}", "e.g. /service/tickets/123")
    if len(path) > MAX_PATH_CHARS:
        _fail("path", f"is {len(path)} characters long", f"at most {MAX_PATH_CHARS}")
    if not path.strip():
        _fail("path", "is empty", "e.g. /service/tickets")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in path):
        _fail("path", "contains control characters", "pass a plain path like /service/tickets/123")
    path = path.strip()
    if path.startswith("//") or "://" in path or _SCHEME.match(path):
        _fail(
            "path",
            "must be a path relative to the API, not a URL",
            "e.g. /service/tickets/123; the host comes from the configuration",
        )
    if "?" in path or "#" in path:
        _fail(
            "path",
            "must not contain a query string",
            "pass query parameters separately as params, e.g. {'conditions': 'id > 5'}",
        )
    if "\\" in path:
        _fail("path", "must not contain backslashes", "separate segments with '/'")
    if _FORBIDDEN_ESCAPES.search(path):
        _fail(
            "path",
            "must not contain encoded dots, slashes or NUL (%2e, %2f, %5c, %00)",
            "pass the plain path; path parameters are encoded for you",
        )
    path = strip_api_prefix(path)
    segs = path.strip("/").split("/")
    if segs == [""]:
        _fail("path", "names no resource", "e.g. /service/tickets")
    out: list[str] = []
    for seg in segs:
        if seg == "":
            _fail("path", "contains an empty segment ('//')", "e.g. /service/tickets/123/notes")
        if templates and _ANY_PARAM.fullmatch(seg):
            out.append(seg)
            continue
        try:
            value = unquote(seg, errors="strict") if "%" in seg else seg
        except UnicodeDecodeError:
            _fail("path", f"segment {seg[:40]!r} has percent-escapes that are not UTF-8")
        if value in (".", ".."):
            _fail("path", "must not contain '.' or '..' segments", "give the resource path itself")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            _fail("path", "contains encoded control characters")
        out.append(value)
    return out


def normalize_path(path: object) -> str:
    """The canonical spelling of a concrete path or a template: ``/a/b/{id}``, decoded.

    Literal segments are matched case-insensitively everywhere, so callers that compare
    normalized paths should also compare case-insensitively (or route first and compare
    templates, which is what the policy does).
    """
    return "/" + "/".join(path_segments(path, templates=True))


def template_key(template: str) -> str:
    """A template reduced to its shape: lower case, every ``{param}`` written ``{}``."""
    return _ANY_PARAM.sub("{}", normalize_path(template).lower())


# --------------------------------------------------------------------------------------------
# The segment trie over the registry


class _Node:
    __slots__ = ("literals", "patterns", "param", "ops")

    def __init__(self) -> None:
        self.literals: dict[str, _Node] = {}
        # Segments with a parameter inside a word (e.g. "types{id}"), a quirk of the spec.
        self.patterns: list[tuple[re.Pattern[str], str, _Node]] = []
        self.param: _Node | None = None
        # method -> candidate operations; several only when templates differ in param names
        self.ops: dict[str, list[Operation]] = {}


class _Index(NamedTuple):
    root: _Node
    by_template: dict[str, dict[str, Operation]]  # template_key -> method -> operation
    by_exact: dict[str, dict[str, Operation]]  # lower-cased template -> method -> operation
    shapes: dict[str, str]  # lower-cased template shape -> template, for did-you-mean


def _specificity(op: Operation) -> int:
    # Integer path parameters are more selective than strings: try them first.
    return -sum(1 for p in op.path_params if p.type == "integer")


@lru_cache(maxsize=64)
def _pattern_for(tseg: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[A-Za-z_][A-Za-z0-9_]*\})", tseg)
    return re.compile(
        "".join(
            f"(?P<{p[1:-1]}>.+?)" if _PARAM_SEGMENT.fullmatch(p) else re.escape(p)
            for p in parts
            if p
        )
        + r"\Z",
        re.IGNORECASE,
    )


@lru_cache(maxsize=1)
def _index() -> _Index:
    from cwm_generated.registry import OPERATIONS

    root = _Node()
    by_template: dict[str, dict[str, Operation]] = {}
    by_exact: dict[str, dict[str, Operation]] = {}
    for op in OPERATIONS:
        node = root
        for seg in op.path.strip("/").split("/"):
            if _PARAM_SEGMENT.fullmatch(seg):
                if node.param is None:
                    node.param = _Node()
                node = node.param
            elif "{" in seg:
                regex = _pattern_for(seg)
                for pattern, _, child in node.patterns:
                    if pattern is regex:
                        node = child
                        break
                else:
                    child = _Node()
                    node.patterns.append((regex, seg, child))
                    node = child
            else:
                node = node.literals.setdefault(seg.lower(), _Node())
        node.ops.setdefault(op.method, []).append(op)
        by_template.setdefault(_ANY_PARAM.sub("{}", op.path.lower()), {}).setdefault(op.method, op)
        by_exact.setdefault(op.path.lower(), {})[op.method] = op
    _sort(root)
    shapes = {_ANY_PARAM.sub("{}", op.path).lower(): op.path for op in OPERATIONS}
    return _Index(root, by_template, by_exact, shapes)


def _sort(node: _Node) -> None:
    for ops in node.ops.values():
        ops.sort(key=_specificity)
    for child in node.literals.values():
        _sort(child)
    for _, _, child in node.patterns:
        _sort(child)
    if node.param is not None:
        _sort(node.param)


def _leaves(node: _Node, segs: list[str], i: int, out: list[_Node]) -> None:
    """All nodes matching ``segs`` in preference order: literal, then pattern, then parameter."""
    if i == len(segs):
        if node.ops:
            out.append(node)
        return
    seg = segs[i]
    child = node.literals.get(seg.lower())
    if child is not None:
        _leaves(child, segs, i + 1, out)
    for pattern, _, pchild in node.patterns:
        if pattern.match(seg):
            _leaves(pchild, segs, i + 1, out)
    if node.param is not None:
        _leaves(node.param, segs, i + 1, out)


def _path_values(op: Operation, segs: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for tseg, seg in zip(op.path.strip("/").split("/"), segs, strict=True):
        m = _PARAM_SEGMENT.fullmatch(tseg)
        if m is not None:
            values[m.group(1)] = seg
        elif "{" in tseg:
            m = _pattern_for(tseg).match(seg)
            if m is not None:
                values.update(m.groupdict())
    return values


def _param_problems(op: Operation, values: dict[str, str]) -> list[Problem]:
    problems = []
    for p in op.path_params:
        value = values.get(p.name)
        if value is None:
            continue
        if p.type == "integer":
            # Length first: int() of a 4,300-digit string raises ValueError in Python 3.11+.
            if len(value) > 12 or not _INTEGER.match(value):
                shown = value if len(value) <= 20 else value[:20] + "…"
                problems.append(
                    Problem(
                        f"path.{p.name}",
                        f"{shown!r} is not an integer in range",
                        f"{op.path} takes a numeric {p.name} (0..{_INT32_MAX})",
                    )
                )
            elif not 0 <= int(value) <= _INT32_MAX:
                problems.append(
                    Problem(f"path.{p.name}", f"{value} is out of range", f"0..{_INT32_MAX}")
                )
    return problems


def _did_you_mean(segs: list[str], visible: Visible | None = None) -> str | None:
    shape = "/" + "/".join("{}" if _INTEGER.match(s) else s for s in segs)
    shapes = _visible_shapes(visible) if visible is not None else _index().shapes
    close = difflib.get_close_matches(shape.lower(), list(shapes), n=3, cutoff=0.75)
    if not close:
        return None
    return "did you mean " + ", ".join(shapes[c] for c in close) + "?"


def _visible_shapes(visible: Visible) -> dict[str, str]:
    from cwm_generated.registry import OPERATIONS

    return {_ANY_PARAM.sub("{}", op.path).lower(): op.path for op in OPERATIONS if visible(op)}


class Route(NamedTuple):
    """A concrete path resolved to its operation."""

    operation: Operation
    path_values: dict[str, str]
    """Path parameter values, decoded, by the template's parameter names."""

    @property
    def path(self) -> str:
        """The canonical concrete path: the template's spelling with the values encoded."""
        return concrete_path(self.operation, self.path_values)


def concrete_path(op: Operation, values: dict[str, str]) -> str:
    """``op``'s template with ``values`` filled in (integers in canonical form, URL-quoted)."""
    concrete = op.path
    for p in op.path_params:
        if p.name in values:
            value = values[p.name]
            if p.type == "integer":
                value = str(int(value))
            concrete = concrete.replace("{" + p.name + "}", quote(value, safe=""))
    return concrete


def route(method: object, path: object, visible: Visible | None = None) -> Route:
    """The operation for ``method`` on the concrete ``path`` and its path parameter values.

    ``path`` is relative to the API (``/service/tickets/123/notes``), with or without the API
    prefix, in any letter case, with or without leading/trailing slashes. Literal segments win
    over parameters. Raises :class:`RequestValidationError` for anything else: URLs, query
    strings, traversal, unknown paths (with did-you-mean), methods the path does not allow.

    ``visible`` (the policy's predicate) makes hidden operations indistinguishable from
    operations that do not exist: same message, and no suggestion or method list names them.
    """
    verb = canonical_method(method)
    segs = path_segments(path)
    leaves: list[_Node] = []
    _leaves(_index().root, segs, 0, leaves)
    if visible is not None:
        leaves = [n for n in leaves if any(visible(op) for ops in n.ops.values() for op in ops)]
    if not leaves:
        shown = "/" + "/".join(segs)
        if len(shown) > 120:
            shown = shown[:120] + "…"
        _fail("path", f"no operation matches {shown}", _did_you_mean(segs, visible))
    first_problems: list[Problem] | None = None
    first_op: Operation | None = None
    for node in leaves:
        for op in node.ops.get(verb, ()):
            if visible is not None and not visible(op):
                continue
            values = _path_values(op, segs)
            problems = _param_problems(op, values)
            if not problems:
                return Route(op, values)
            if first_problems is None:
                first_problems, first_op = problems, op
    node = leaves[0]
    # The best match (literals first) decides: a method it lacks is the error to report, even
    # when a parameter template further down would take the method but not the value.
    if first_problems is not None and verb in node.ops:
        raise RequestValidationError(first_problems, first_op.operation_id if first_op else None)
    allowed = sorted(
        m for m, ops in node.ops.items() if visible is None or any(visible(op) for op in ops)
    )
    template = next(op for m in allowed for op in node.ops[m]).path
    _fail("method", f"{verb} is not allowed on {template}", "allowed: " + ", ".join(allowed))


def template_operations(template: str) -> dict[str, Operation] | None:
    """The operations (by method) whose template has the shape of ``template``, or None.

    The template as written wins (``/system/members/{memberIdentifier}`` is not
    ``/system/members/{id}``); otherwise parameter names and letter case do not matter:
    ``/service/tickets/{ticketId}`` finds ``/service/tickets/{id}``.
    """
    try:
        clean = normalize_path(template)
    except RequestValidationError:
        return None
    index = _index()
    exact = index.by_exact.get(clean.lower())
    if exact is not None:
        return exact
    return index.by_template.get(_ANY_PARAM.sub("{}", clean.lower()))
