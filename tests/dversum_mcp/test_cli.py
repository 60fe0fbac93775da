"""The command line: tools listing, one-off calls, unknown selections fail loudly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dversum_mcp.cli.main import main


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DVERSUM_")}
    env["DVERSUM_SANDBOX_DIR"] = str(tmp_path / "sandbox")
    return env


def test_tools_json_lists_every_tool(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tools", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) >= 100
    by_name = {r["name"]: r for r in rows}
    assert by_name["get_client"]["path"] == "/clients/{id}" and by_name["get_client"]["source"] == "documented"
    assert {"name": "client_id", "in": "path", "api_name": "id", "required": True} in by_name["get_client"]["params"]
    assert by_name["summarize_time"]["method"] is None and by_name["summarize_time"]["path"] is None


def test_tools_table_and_unknown_toolset(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tools"]) == 0
    out = capsys.readouterr().out
    assert "invoices — 15 tools" in out and "tokens" in out
    with pytest.raises(SystemExit) as info:
        main(["tools", "--toolsets", "invoicez"])
    assert info.value.code == 2
    assert "unknown toolset(s) invoicez" in capsys.readouterr().err


def test_call_prints_the_result_and_fails_on_errors(tmp_path: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "dversum_mcp.cli", "call", "list_clients", '{"search": "ATAS"}'],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=120,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["clients"][0]["name"].startswith("ATAS")
    bad = subprocess.run(
        [sys.executable, "-m", "dversum_mcp.cli", "call", "get_client", '{"client_id": "../x"}'],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=120,
        check=False,
    )
    assert bad.returncode == 1 and bad.stdout == ""
    assert json.loads(bad.stderr[bad.stderr.index("{") :])["field"] == "client_id"


def test_sandbox_seed_prints_a_working_token(tmp_path: Path) -> None:
    seeded = subprocess.run(
        [sys.executable, "-m", "dversum_mcp.cli", "sandbox", "seed"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=120,
        check=True,
    )
    token = seeded.stdout.strip()
    assert token.startswith("dvk_")
    assert (tmp_path / "sandbox" / "token").read_text().strip() == token
