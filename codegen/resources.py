"""Group a category's operations by resource (the spec's tag), with short method names.

``client.service.tickets.list(...)`` reads better than ``get_service_tickets``. Short names are
given only where they are unambiguous, relative to the resource's collection path (the
shortest path of the tag that ends in a literal segment):

- ``GET <collection>`` → ``list``; ``POST <collection>`` → ``create``;
- ``GET/PUT/PATCH/DELETE <collection>/{x}`` → ``get``/``replace``/``update``/``delete``;
- ``GET <collection>/count`` → ``count``.

Every operation stays reachable by its full function name as well.
"""

from __future__ import annotations

from dataclasses import dataclass

from codegen.naming import class_name_for, snake_case
from codegen.spec_loader import NormOperation

_ON_COLLECTION = {"GET": "list", "POST": "create"}
_ON_ITEM = {"GET": "get", "PUT": "replace", "PATCH": "update", "DELETE": "delete"}


@dataclass(frozen=True)
class Resource:
    tag: str
    attribute: str
    """Attribute name on a category, e.g. ``ticket_notes``."""
    class_name: str
    members: tuple[tuple[str, str], ...]
    """(member name, function name): short aliases first, then every full name."""


def _collection(ops: list[NormOperation]) -> str | None:
    literal = [op.path for op in ops if not op.path.rsplit("/", 1)[-1].startswith("{")]
    if not literal:
        return None
    return min(literal, key=lambda p: (p.count("/"), p))


def _short_name(op: NormOperation, collection: str) -> str | None:
    if op.path == collection:
        return _ON_COLLECTION.get(op.method)
    rest = op.path[len(collection) :] if op.path.startswith(collection + "/") else None
    if rest is None:
        return None
    segment = rest[1:]
    if "/" in segment:
        return None
    if segment.startswith("{"):
        return _ON_ITEM.get(op.method)
    if segment == "count" and op.method == "GET":
        return "count"
    return None


def group_resources(ops: list[NormOperation], taken: set[str]) -> list[Resource]:
    """Resources of one category module; ``taken`` holds names the module already defines."""
    by_tag: dict[str, list[NormOperation]] = {}
    for op in ops:
        by_tag.setdefault(op.tag, []).append(op)
    resources: list[Resource] = []
    used = set(taken)
    for tag, tag_ops in sorted(by_tag.items()):
        attribute = snake_case(tag)
        class_name = class_name_for(tag)
        if class_name in used or attribute in used:
            class_name += "Resource"
        if class_name in used or attribute in used:
            continue
        used.update({class_name, attribute})
        collection = _collection(tag_ops)
        short: dict[str, str] = {}
        if collection is not None:
            for op in tag_ops:
                name = _short_name(op, collection)
                if name is not None:
                    # Two operations wanting one short name: neither gets it.
                    short[name] = "" if name in short else op.function
        members = [(name, fn) for name, fn in sorted(short.items()) if fn]
        members += [(op.function, op.function) for op in tag_ops]
        resources.append(Resource(tag, attribute, class_name, tuple(members)))
    return resources
