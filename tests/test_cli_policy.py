"""``cwm-gateway policy schema`` and ``cwm-gateway policy check FILE``, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "policylayer"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTWISE_")}
    return subprocess.run(
        [sys.executable, "-m", "cwm_gateway.cli", "policy", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_schema_is_json_schema_for_both_dialects():
    result = _cli("schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert {"HostedPolicy", "InterceptPolicy"} <= set(schema["$defs"])
    assert len(schema["oneOf"]) == 2


def test_check_prints_the_effective_rules_of_an_intercept_policy():
    result = _cli("check", str(FIXTURES / "intercept" / "github.yaml"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "(intercept format)" in out
    assert "hidden tools: transfer_repository, list_webhooks" in out
    assert "limit 5 calls per hour in total (counter create_issue._rate_hour)" in out
    assert 'deny every call [block repo deletion] — on deny: "Repository deletion' in out
    assert 'every tool ("*", after each tool\'s own rules):' in out
    assert out.rstrip().endswith("OK: the policy is valid.")


def test_check_shows_that_an_upstream_entry_covers_both_tools(tmp_path: Path):
    policy = tmp_path / "p.json"
    policy.write_text(
        json.dumps(
            {
                "version": "1",
                "default": "deny",
                "tools": {
                    "execute_api_call": {
                        "deny_if": [{"path": "args.path", "op": "regex", "value": "^/system/"}]
                    }
                },
            }
        )
    )
    out = _cli("check", str(policy)).stdout
    assert "(hosted format)" in out
    assert "tool execute_api_call:" in out
    assert 'deny if args.path regex "^/system/"' in out


def test_check_refuses_a_misleading_policy_with_a_clear_error(tmp_path: Path):
    policy = tmp_path / "bad.yaml"
    policy.write_text(
        'version: "1"\n'
        "tools:\n"
        "  t:\n"
        "    rules:\n"
        "      - name: guard\n"
        "        conditions:\n"
        "          - {path: args.force, op: exists, value: 'false'}\n"
    )
    result = _cli("check", str(policy))
    assert result.returncode == 2
    assert "tools.t.rules[0].conditions[0]" in result.stderr
    assert "needs value true or false" in result.stderr
    assert "Traceback" not in result.stderr
