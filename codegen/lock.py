"""The spec lock: what ``generated/`` was built from (title, version, sha256, counts)."""

from __future__ import annotations

import json

from codegen.spec_loader import NormalizedSpec

LOCK_NAME = "manage.lock.json"


def lock_text(spec: NormalizedSpec) -> str:
    """Deterministic JSON text of the lock (no timestamps, sorted keys)."""
    data = {
        "title": spec.title,
        "version": spec.version,
        "sha256": spec.sha256,
        "counts": dict(sorted(spec.counts.items())),
        "categories": spec.categories,
    }
    return json.dumps(data, indent=2, sort_keys=True) + "\n"
