"""Format generated sources with ruff and write them atomically, or report drift.

Formatting runs on a scratch copy with explicit settings (not whatever config sits near the
output), so the same spec gives byte-identical files wherever it is generated.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

RUFF_SETTINGS = [
    "--isolated",
    "--config",
    "line-length = 100",
    "--config",
    "target-version = 'py311'",
]
FIX_SETTINGS = [
    "--config",
    "lint.select = ['F401', 'I']",
    "--config",
    "lint.isort.known-first-party = ['cwm_gateway', 'cwm_generated', 'codegen']",
    # ``import X as X`` (an explicit re-export for type checkers) stays one statement per module.
    "--config",
    "lint.isort.combine-as-imports = true",
]


def _ruff() -> list[str]:
    exe = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    return [exe] if exe else [sys.executable, "-m", "ruff"]


def format_sources(files: dict[str, str]) -> dict[str, str]:
    """Return ``files`` after ``ruff check --fix`` (imports) and ``ruff format``."""
    with tempfile.TemporaryDirectory(prefix="cwm-codegen-") as tmp:
        root = Path(tmp)
        for rel, text in files.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        ruff = _ruff()
        for args in (
            ["check", "--fix", "--quiet", "--exit-zero", *RUFF_SETTINGS, *FIX_SETTINGS, "."],
            ["format", "--quiet", *RUFF_SETTINGS, "."],
        ):
            result = subprocess.run([*ruff, *args], cwd=root, capture_output=True, text=True)
            if result.returncode != 0:
                raise RuntimeError(f"ruff {args[0]} failed:\n{result.stderr or result.stdout}")
        return {rel: (root / rel).read_text(encoding="utf-8") for rel in files}


def read_tree(out: Path) -> dict[str, str]:
    """The text files under ``out`` by relative path (caches left out)."""
    if not out.exists():
        return {}
    return {
        p.relative_to(out).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(out.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def diff_files(out: Path, files: dict[str, str]) -> list[str]:
    """Relative paths that would change: differing, new, or stale (present but not generated)."""
    existing = read_tree(out)
    changed = [rel for rel, text in files.items() if existing.get(rel) != text]
    stale = [rel for rel in existing if rel not in files]
    return sorted(changed + stale)


def write_files(out: Path, files: dict[str, str]) -> list[str]:
    """Replace ``out`` with exactly ``files``; return the relative paths that changed.

    The new tree is written beside ``out`` and swapped in with two renames, so an interrupted
    run leaves either the old tree or the new one, never a mix.
    """
    changed = diff_files(out, files)
    if not changed:
        return []
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.new-"))
    backup = out.parent / f".{out.name}.old-{staging.name.rsplit('-', 1)[-1]}"
    try:
        for rel, text in files.items():
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8", newline="\n")
        staging.chmod(0o755)
        if out.exists():
            os.rename(out, backup)
        os.rename(staging, out)
    except BaseException:
        if not out.exists() and backup.exists():
            os.rename(backup, out)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(backup, ignore_errors=True)
    return changed


def write_text_atomic(path: Path, text: str) -> None:
    """Write one file so readers see the old content or the new, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
