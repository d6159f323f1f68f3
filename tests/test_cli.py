"""The `cwm-gateway` command line: the README's demo, explain (policy dry run) and audit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def _cli(*args: str, data_dir: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTWISE_")}
    env["CWM_GATEWAY_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "cwm_gateway.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_demo_runs_every_step_against_the_sandbox(tmp_path):
    result = _cli("demo", data_dir=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "every step behaved as expected" in out
    assert "did you mean 'status/name'" in out
    assert "POST /service/tickets → 201" in out
    assert "Traceback" not in out + result.stderr


def test_explain_names_the_deciding_rule(tmp_path):
    result = _cli(
        "explain",
        "execute_api_call",
        json.dumps({"path": "/company/companies/5", "method": "DELETE"}),
        data_dir=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "deleteCompanyCompaniesById" in result.stdout
    assert "result: require_approval by destructive-needs-approval" in result.stdout

    policy = tmp_path / "ro.json"
    policy.write_text(json.dumps({"version": "1", "default": "allow", "read_only": True}))
    result = _cli(
        "explain",
        "--policy",
        str(policy),
        "execute_api_call",
        json.dumps(
            {
                "path": "/service/tickets",
                "method": "POST",
                "data": {"summary": "x", "company": {"id": 1}},
            }
        ),
        data_dir=tmp_path,
    )
    assert "result: deny" in result.stdout

    invalid = _cli("explain", "execute_api_call", json.dumps({"path": "/nope"}), data_dir=tmp_path)
    assert "rejected before the policy is asked" in invalid.stdout

    bad_json = _cli("explain", "execute_api_call", "{not json", data_dir=tmp_path)
    assert bad_json.returncode == 2 and "arguments must be JSON" in bad_json.stderr


def test_audit_shows_recent_calls(tmp_path):
    from cwm_gateway.core import Gateway, GatewayOptions

    gateway = Gateway.from_options(GatewayOptions(data_dir=tmp_path))
    gateway.check_tool("list_fast_memory", "test-grant", {})
    result = _cli("audit", "-n", "5", data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "list_fast_memory" in result.stdout and "allow" in result.stdout


def test_bad_policy_file_is_a_clear_error(tmp_path):
    policy = tmp_path / "bad.yaml"
    policy.write_text("version: '1'\ndefault: maybe\n")
    result = _cli("explain", "--policy", str(policy), "list_fast_memory", data_dir=tmp_path)
    assert result.returncode == 2
    assert "error:" in result.stderr and "default" in result.stderr
    assert "Traceback" not in result.stderr


def test_read_only_switch_overrides_the_policy(tmp_path):
    result = _cli(
        "explain",
        "--read-only",
        "execute_api_call",
        json.dumps(
            {"path": "/service/tickets/1/notes", "method": "POST", "data": {"text": "hello"}}
        ),
        data_dir=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "read_only" in result.stdout and "result: deny" in result.stdout
    reads = _cli(
        "explain",
        "--read-only",
        "execute_api_call",
        json.dumps({"path": "/service/tickets"}),
        data_dir=tmp_path,
    )
    assert "result: allow" in reads.stdout
