"""The command line: tools listing, one-off calls, unknown selections fail loudly."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

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


def _run_call(tmp_path: Path, *args: str, stdout: Any = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dversum_mcp.cli", "call", *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
        timeout=120,
        check=False,
    )


def test_call_reports_invalid_json_as_such(tmp_path: Path) -> None:
    bad = _run_call(tmp_path, "list_clients", '{"search": ATAS}')
    assert bad.returncode == 2 and bad.stdout == ""
    assert "not valid JSON" in bad.stderr and "line 1, column 12" in bad.stderr and "ATAS" in bad.stderr
    assert "Traceback" not in bad.stderr
    array = _run_call(tmp_path, "list_clients", "[1]")
    assert array.returncode == 2 and "must be a JSON object" in array.stderr and "not list" in array.stderr


def test_call_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`dversum-mcp call … | head`: the reader is gone before the answer is written."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = _run_call(tmp_path, "list_clients", "{}", stdout=write)
    finally:
        os.close(write)
    assert done.returncode == 141, done.stderr
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr


def test_http_banner_says_what_to_do_instead_of_a_browser(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "dversum_mcp.cli", "serve", "--transport", "http", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
    )
    try:
        assert server.stderr is not None
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline and "/mcp" not in line:
            line = server.stderr.readline()
            assert line or server.poll() is None, "server exited"
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert f"http://127.0.0.1:{port}/mcp" in line
    assert "MCP clients" in line and "not a web page" in line and "claude mcp add" in line
    assert "browser" not in line.replace("a browser gets 400", "")


def test_start_script_banner_does_not_send_people_to_a_browser() -> None:
    script = (Path(__file__).parents[2] / "scripts" / "start.sh").read_text(encoding="utf-8")
    banner = [line for line in script.splitlines() if line.strip().startswith("echo")]
    assert banner and not any("http://" in line or "browser" in line for line in banner)
    assert any("dversum-mcp call" in line for line in banner)
