"""Run pyright (standard mode) over gateway/, generated/ and tests/typing/usage.py.

The source folders are not named like the packages they install as (``gateway`` is
``cwm_gateway``), and an editable install maps them with an import hook that type checkers do
not run. So pyright checks them through a folder of links named like the packages; that makes
each file one module, under the name users import it by.

``python tests/typing/pyright_check.py`` prints pyright's report and exits with its status (what
``nox -s typecheck`` runs); :func:`run` returns the parsed JSON report (what tests/test_typing.py
asserts on). Pyright is the PyPI package ``pyright`` (the test extra), which runs the checker
with Node.js: the machine's ``node`` when there is one, else one it downloads.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
USAGE = Path(__file__).resolve().parent / "usage.py"
PACKAGES = {"cwm_gateway": ROOT / "gateway", "cwm_generated": ROOT / "generated"}


class PyrightUnavailable(RuntimeError):
    """pyright (or the Node.js it runs on) cannot be run on this machine."""


def pyright_command() -> list[str]:
    exe = shutil.which("pyright", path=str(Path(sys.executable).parent)) or shutil.which("pyright")
    if exe is None:
        raise PyrightUnavailable("the pyright package is not installed (pip install pyright)")
    return [exe]


def _links(tmp: Path) -> Path:
    links = tmp / "packages"
    links.mkdir()
    for name, folder in PACKAGES.items():
        (links / name).symlink_to(folder, target_is_directory=True)
    return links


def run(targets: list[str] | None = None, *, report_json: bool = True) -> Any:
    """Run pyright over ``targets`` (default: both packages and the usage file).

    Returns pyright's JSON report (``report_json``), or its exit status with the text report
    printed. Raises :class:`PyrightUnavailable` when pyright cannot start.
    """
    command = pyright_command()
    with tempfile.TemporaryDirectory(prefix="cwm-pyright-") as tmp:
        links = _links(Path(tmp))
        config = Path(tmp) / "pyrightconfig.json"
        config.write_text(
            json.dumps(
                {
                    "typeCheckingMode": "standard",
                    "pythonVersion": f"{sys.version_info.major}.{sys.version_info.minor}",
                    "extraPaths": [str(links)],
                }
            ),
            encoding="utf-8",
        )
        # Targets name a package folder or file by its import name (cwm_gateway/client.py).
        paths = [
            str(links / target) if target.split("/", 1)[0] in PACKAGES else target
            for target in targets or ["cwm_gateway", "cwm_generated", str(USAGE)]
        ]
        args = [*command, "-p", str(config), "--pythonpath", sys.executable]
        if report_json:
            args.append("--outputjson")
        env = {**os.environ, "PYRIGHT_PYTHON_IGNORE_WARNINGS": "1"}
        try:
            result = subprocess.run(
                [*args, *paths], capture_output=report_json, text=True, env=env, timeout=900
            )
        except OSError as exc:
            raise PyrightUnavailable(f"pyright could not start: {exc}") from None
        if not report_json:
            return result.returncode
        try:
            report = json.loads(result.stdout)
        except ValueError:
            raise PyrightUnavailable(
                "pyright did not run (no Node.js, and none could be downloaded?): "
                + (result.stderr or result.stdout).strip()[-500:]
            ) from None
        # Report paths as the repository's files, not the links.
        for diag in report.get("generalDiagnostics", []):
            path = diag.get("file", "")
            for name, folder in PACKAGES.items():
                prefix = str(links / name)
                if path.startswith(prefix):
                    diag["file"] = str(folder) + path[len(prefix) :]
        return report


def main() -> int:
    try:
        return run(sys.argv[1:] or None, report_json=False)
    except PyrightUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
