"""stdio purity: with DVERSUM_LOG_LEVEL=DEBUG, stdout carries JSON-RPC and nothing else; logs go to stderr.

The session exercises what could print: start-up and seeding, tool successes and failures,
an internal retry path, PDF generation (fpdf2/fonttools), uploads, prompts, resources and
MCP log notifications at debug level.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from tests.hardening.conftest import SUMMARY
from tests.hardening.rawstdio import RawStdio


def _call(proc: RawStdio, ident: str, name: str, arguments: dict[str, object]) -> dict[str, object]:
    proc.send({"jsonrpc": "2.0", "id": ident, "method": "tools/call", "params": {"name": name, "arguments": arguments}})
    return proc.response(ident, timeout=60)["result"]  # type: ignore[no-any-return]


def test_stdout_is_only_json_rpc_at_debug_level(tmp_path: Path) -> None:
    roots = tmp_path / "files"
    roots.mkdir()
    proc = RawStdio(tmp_path, DVERSUM_LOG_LEVEL="DEBUG", DVERSUM_TOOLSETS="all", DVERSUM_FILE_ROOTS=str(roots))
    try:
        proc.initialize()
        proc.send({"jsonrpc": "2.0", "id": "lvl", "method": "logging/setLevel", "params": {"level": "debug"}})
        proc.response("lvl")
        invoices = _call(proc, "inv", "list_invoices", {"status": "sent"})
        invoice_id = invoices["structuredContent"]["invoices"][0]["id"]  # type: ignore[index]
        pdf = _call(proc, "pdf", "download_invoice_pdf", {"invoice_id": invoice_id, "save_as": str(roots / "r.pdf")})
        assert not pdf["isError"], pdf
        _call(proc, "bad", "get_client", {"client_id": "does-not-exist"})
        _call(proc, "arg", "create_client", {"name": 5})
        _call(proc, "up", "upload_file", {"content_base64": base64.b64encode(b"hallo").decode(), "filename": "a.txt"})
        _call(proc, "page", "get_page_tree", {})
        _call(proc, "search", "search_tools", {"query": "Rechnung schicken"})
        proc.send(
            {"jsonrpc": "2.0", "id": "res", "method": "resources/read", "params": {"uri": "dversum://pages/tree"}}
        )
        proc.response("res")
        proc.send({"jsonrpc": "2.0", "id": "pr", "method": "prompts/list"})
        proc.response("pr")
        proc.ping("last")
    finally:
        code = proc.close()
    assert code == 0
    for line in proc.lines:
        message = json.loads(line)  # every stdout line is one JSON document …
        assert message.get("jsonrpc") == "2.0", line[:200]  # … and a JSON-RPC message
        assert "id" in message or "method" in message, line[:200]
    stderr = proc.stderr_path.read_text()
    assert " DEBUG " in stderr and " WARNING " in stderr, stderr[-2000:]
    notifications = sum(1 for line in proc.lines if b'"notifications/message"' in line)
    assert notifications > 0
    SUMMARY["stdio purity"] = (
        f"{len(proc.lines)} stdout lines, all JSON-RPC ({notifications} log notifications); "
        f"{len(stderr.splitlines())} stderr log lines"
    )
