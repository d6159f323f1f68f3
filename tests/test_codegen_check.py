"""``python -m codegen --check`` where the codegen tools are not installed (a plain install).

It cannot regenerate there, so it checks what the lock records: the spec's sha256, a digest of
the generator and a digest of the generated tree. Unchanged → up to date; a hand edit or another
spec → out of date, saying what changed and how to install the tools. Never a traceback.
"""

from __future__ import annotations

import shutil

import pytest

from codegen import cli
from tests.conftest import FIXTURES


@pytest.fixture
def built(tmp_path):
    out = tmp_path / "generated"
    assert cli.main(["--spec", str(FIXTURES / "quirks-v1.json"), "--out", str(out), "--quiet"]) == 0
    return out


def _without_tools(monkeypatch):
    monkeypatch.setattr(
        cli,
        "tool_versions",
        lambda: {"datamodel-code-generator": None, "jinja2": None, "ruff": "1"},
    )


def test_an_unchanged_tree_checks_clean_without_the_tools(built, monkeypatch, capsys):
    _without_tools(monkeypatch)
    args = ["--check", "--spec", str(FIXTURES / "quirks-v1.json"), "--out", str(built)]
    assert cli.main(args) == 0
    assert (
        "not regenerated: datamodel-code-generator, jinja2 not installed" in capsys.readouterr().err
    )


def test_a_hand_edit_or_another_spec_is_out_of_date_without_the_tools(built, monkeypatch, capsys):
    _without_tools(monkeypatch)
    registry = built / "registry.py"
    registry.write_text(registry.read_text() + "# edited\n")
    args = ["--check", "--spec", str(FIXTURES / "quirks-v1.json"), "--out", str(built)]
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert "the generated files (edited, added or removed since generation)" in err
    assert "pip install -e '.[codegen]'" in err and "Traceback" not in err

    shutil.copy(FIXTURES / "quirks-v2.json", built.parent / "v2.json")
    registry.write_text(registry.read_text().removesuffix("# edited\n"))
    assert cli.main(["--check", "--spec", str(built.parent / "v2.json"), "--out", str(built)]) == 1
    assert "changed since generation: the spec." in capsys.readouterr().err


def test_generating_without_the_tools_says_what_to_install(built, monkeypatch, capsys):
    _without_tools(monkeypatch)
    assert cli.main(["--spec", str(FIXTURES / "quirks-v1.json"), "--out", str(built)]) == 2
    assert "generating needs datamodel-code-generator, jinja2" in capsys.readouterr().err
