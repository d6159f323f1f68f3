"""One segment trie over every registry operation: concrete path + method -> operation.

Why the sandbox does not use :mod:`cwm_gateway.paths`' router: the sandbox is the stand-in the
gateway is tested against, so it routes the way ConnectWise's servers do, independently. If both
shared one router, a routing mistake (``/system/members/jsmith`` sent to the ``{id}``
operation, ``/service/tickets/count`` read as ticket "count") would be made on both sides and
every test would pass; with two, the tests catch it. The rules below are ConnectWise's (IIS and
ASP.NET route constraints), not the gateway's (which also refuses traversal, URLs and the like
before anything is sent). The API prefix is the one of :mod:`cwm_gateway.paths`.

Literal segments beat parameters (``/service/tickets/count`` is the count, not ticket
"count"), literals match case-insensitively as they do on ConnectWise's IIS servers, and when
two templates differ only in a parameter's name (``/system/members/{id}`` and
``/system/members/{memberIdentifier}``) the value decides: digits go to the integer one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

_PARAM = re.compile(r"^\{([^{}]+)\}$")


def normalize_template(path: str) -> str:
    """The template with every parameter written ``{}`` (the store's collection key)."""
    return "/".join("{}" if _PARAM.match(seg) else seg for seg in path.split("/"))


@dataclass
class _Node:
    literals: dict[str, _Node] = field(default_factory=dict)
    param: _Node | None = None
    ops: dict[str, list[Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Match:
    """A routed request: the operation and its path parameter values (by wire name)."""

    operation: Any
    params: dict[str, str]


class RouteError(Exception):
    """No operation for the request: ``status`` is 404 (unknown path) or 405 (wrong method)."""

    def __init__(self, status: int, allowed: tuple[str, ...] = ()) -> None:
        super().__init__(status)
        self.status = status
        self.allowed = allowed


class Router:
    """Routes (method, path relative to the API base) to registry operations."""

    def __init__(self, operations: Iterable[Any]) -> None:
        self._root = _Node()
        for op in operations:
            node = self._root
            for seg in _segments(op.path):
                if _PARAM.match(seg):
                    node.param = node.param or _Node()
                    node = node.param
                else:
                    node = node.literals.setdefault(seg.lower(), _Node())
            node.ops.setdefault(op.method.upper(), []).append(op)

    def match(self, method: str, path: str) -> Match:
        """The operation for ``method`` on ``path``; raises :class:`RouteError` otherwise."""
        segments = _segments(path)
        found = self._walk(self._root, segments, 0, method.upper())
        if found is None:
            raise RouteError(404)
        if isinstance(found, tuple):
            raise RouteError(405, found)
        return found

    def _walk(self, node: _Node, segs: list[str], i: int, method: str) -> Match | tuple | None:
        if i == len(segs):
            if not node.ops:
                return None
            candidates = node.ops.get(method)
            if not candidates:
                return tuple(sorted(node.ops))
            return self._pick(candidates, segs)
        fallback: tuple | None = None
        child = node.literals.get(segs[i].lower())
        if child is not None:
            found = self._walk(child, segs, i + 1, method)
            if isinstance(found, Match):
                return found
            fallback = found
        if node.param is not None and segs[i]:
            found = self._walk(node.param, segs, i + 1, method)
            if isinstance(found, Match):
                return found
            fallback = fallback or found
        return fallback

    @staticmethod
    def _pick(candidates: list[Any], segs: list[str]) -> Match | None:
        # An integer parameter only matches digits, as ASP.NET's {id:int} route constraints do.
        for op in candidates:
            params = _bind(op, segs)
            if _types_fit(op, params):
                return Match(op, params)
        return None


def _segments(path: str) -> list[str]:
    return [seg for seg in path.strip("/").split("/")] if path.strip("/") else []


def _bind(op: Any, segs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for tmpl, value in zip(_segments(op.path), segs, strict=True):
        m = _PARAM.match(tmpl)
        if m:
            params[m.group(1)] = value
    return params


def _types_fit(op: Any, params: dict[str, str]) -> bool:
    declared = {p.name: p for p in op.path_params}
    for name, value in params.items():
        p = declared.get(name)
        if p is not None and p.type == "integer" and not _is_int(value, p.format):
            return False
    return True


def _is_int(value: str, fmt: str | None) -> bool:
    # ``{id:int}`` matches only what fits the type: 2147483648 is no int32 and routes nowhere.
    if not (value.isdigit() or (value.startswith("-") and value[1:].isdigit())):
        return False
    bits = 63 if fmt == "int64" else 31
    return -(2**bits) <= int(value) < 2**bits
