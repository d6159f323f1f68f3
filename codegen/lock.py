"""The spec lock: what ``generated/`` was built from, and a fingerprint of what was built.

Besides the spec (title, version, sha256, counts) the lock records a digest of the generator
(``codegen/``'s sources and templates) and of the generated tree. Where the codegen tools are
not installed, ``python -m codegen --check`` still confirms from these that ``generated/`` is
what this spec and this generator made (same spec, same generator, no hand edits); where they
are, it regenerates and compares, which also catches a tool upgrade that changes the output.
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path
from typing import Any

from codegen.spec_loader import NormalizedSpec

LOCK_NAME = "manage.lock.json"
CODEGEN_DIR = Path(__file__).resolve().parent
#: The tools whose versions shape the output (the distributions ``[codegen]`` installs).
TOOLS = ("datamodel-code-generator", "jinja2", "ruff")


def tree_digest(files: dict[str, str]) -> str:
    """One sha256 over a tree of text files (relative path and content, in path order)."""
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(rel.encode() + b"\0" + files[rel].encode() + b"\0")
    return h.hexdigest()


def generator_digest() -> str:
    """sha256 over the generator's own sources and templates."""
    files = {
        p.relative_to(CODEGEN_DIR).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(CODEGEN_DIR.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }
    return tree_digest(files)


def tool_versions() -> dict[str, str | None]:
    """The installed version of each tool, or None where it is not installed."""
    versions: dict[str, str | None] = {}
    for name in TOOLS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def lock_text(spec: NormalizedSpec, files: dict[str, str]) -> str:
    """Deterministic JSON text of the lock (no timestamps, sorted keys)."""
    data = {
        "title": spec.title,
        "version": spec.version,
        "sha256": spec.sha256,
        "counts": dict(sorted(spec.counts.items())),
        "categories": spec.categories,
        "generator_sha256": generator_digest(),
        "output_sha256": tree_digest(files),
    }
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def stale_inputs(lock: dict[str, Any], spec_sha256: str, output: dict[str, str]) -> list[str]:
    """What differs from what the lock says ``output`` was built from (empty: up to date)."""
    stale = []
    if lock.get("sha256") != spec_sha256:
        stale.append("the spec")
    if lock.get("generator_sha256") != generator_digest():
        stale.append("the generator (codegen/)")
    if lock.get("output_sha256") != tree_digest(output):
        stale.append("the generated files (edited, added or removed since generation)")
    return stale
