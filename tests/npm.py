"""npm packages for the tests that drive the gateway as real hosts do (tests/ts, tests/conformance).

``npm ci`` installs a folder's pinned packages on first use, with npm's cache in a temporary
folder; without npm, or when the registry cannot be reached, the test skips and says why.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def npm_ci(folder: Path, installed: Path, what: str, cache: Path) -> None:
    """Run ``npm ci`` in ``folder`` unless ``installed`` (a file the install makes) exists."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip(f"npm is needed for {what} (not found)")
    if installed.exists():
        return
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--cache", str(cache)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        pytest.skip(f"npm ci could not install {what}: {done.stderr[-500:]}")
