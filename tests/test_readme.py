"""The README's Python examples run as written (against the sandbox, as a new user would)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from cwm_gateway.sandbox.runner import start_sandbox_thread
from tests.conftest import ROOT

BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_example_runs(index):
    with start_sandbox_thread() as sandbox:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTWISE_")}
        env.update(sandbox.credentials)
        result = subprocess.run(
            [sys.executable, "-c", BLOCKS[index]],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr
