"""Start-up imports only what the chosen mode needs: with a token set, stdio loads no sandbox,
no Markdown converter and no PDF library (they cost start-up time every time a client spawns
the server). Read off `python -X importtime` of a real stdio session."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.hardening.conftest import clean_env

NOT_AT_START = ("dversum_sandbox", "dversum_prosemirror", "markdown_it", "fpdf", "facturx", "lxml", "sqlite3")


def _imported(tmp_path: Path, **env: str) -> set[str]:
    hello = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "dversum_mcp.cli"],
        input="".join(json.dumps(r) + "\n" for r in requests),
        capture_output=True,
        text=True,
        env=clean_env(**env),
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert [a.get("id") for a in answers] == [1, 2] and answers[1]["result"]["tools"]
    return {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")} - {
        "package"
    }


def _loaded(modules: set[str], prefix: str) -> bool:
    return any(m == prefix or m.startswith(prefix + ".") for m in modules)


def test_stdio_with_a_token_imports_no_sandbox_markdown_or_pdf_code(tmp_path: Path) -> None:
    # a loopback address nothing listens on: listing tools sends no request
    modules = _imported(tmp_path, DVERSUM_API_TOKEN="dvk_test_imports", DVERSUM_BASE_URL="http://127.0.0.1:9/api/v1")
    assert _loaded(modules, "dversum_mcp.server.handlers") and _loaded(modules, "httpx2")  # the reading works
    assert [p for p in NOT_AT_START if _loaded(modules, p)] == []


def test_stdio_on_the_sandbox_loads_it_but_no_pdf_library(tmp_path: Path) -> None:
    # The first start seeds the sandbox, and sending the seeded invoices stores their PDFs (GoBD): that one
    # start loads the PDF library. Every later start, the one a client pays for each time, does not.
    first = _imported(tmp_path, DVERSUM_SANDBOX_DIR=str(tmp_path / "sandbox"))
    assert _loaded(first, "fpdf")
    modules = _imported(tmp_path, DVERSUM_SANDBOX_DIR=str(tmp_path / "sandbox"))
    assert _loaded(modules, "dversum_sandbox")
    assert [p for p in ("fpdf", "facturx", "lxml") if _loaded(modules, p)] == []
