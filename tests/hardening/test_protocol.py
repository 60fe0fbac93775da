"""Malformed protocol input over stdio (raw bytes to a subprocess) and Streamable HTTP (raw posts).

Garbage JSON, wrong JSON-RPC shapes, unknown methods, invalid UTF-8, lone surrogate escapes
and oversized messages each get an error answer (JSON-RPC error, or HTTP 4xx: 413 above
4 MiB), and the server answers the next valid request: nothing takes it down.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from dversum_mcp.config import Secret, Settings
from dversum_mcp.server.handlers import ServerState, build_server
from dversum_mcp.tools.registry import Selection
from dversum_mcp.transports import http as transports
from tests.dversum_mcp.test_http_transports import _serve
from tests.hardening.conftest import PYTHON, SUMMARY, Seeded, clean_env
from tests.hardening.rawstdio import INIT, RawStdio

BIG = 5 * 1024 * 1024
# (label, raw line, expected error code or None for "no answer" (a notification))
STDIO_CASES: list[tuple[str, bytes, int | None]] = [
    ("garbage", b"garbage", -32700),
    ("invalid utf-8", b"\xff\xfe\x00\x80", -32700),
    ("truncated json", b'{"jsonrpc":"2.0","id":"t1","method":"ping"', -32700),
    ("batch array", b'[{"jsonrpc":"2.0","id":"b1","method":"ping"}]', -32600),
    ("json string", b'"hello"', -32600),
    ("json null", b"null", -32600),
    ("number", b"42", -32600),
    ("no method", b'{"jsonrpc":"2.0","id":"s1"}', -32600),
    ("jsonrpc 1.0", b'{"jsonrpc":"1.0","id":"s2","method":"ping"}', -32600),
    ("params not an object", b'{"jsonrpc":"2.0","id":"s3","method":"tools/call","params":"x"}', -32602),
    ("arguments not an object", b'{"jsonrpc":"2.0","id":"s4","method":"tools/call","params":{"name":"create_client","arguments":[1]}}', -32602),  # noqa: E501
    ("lone surrogate value", b'{"jsonrpc":"2.0","id":"s5","method":"tools/call","params":{"name":"create_client","arguments":{"name":"a\\ud800b"}}}', -32602),  # noqa: E501
    ("lone surrogate key", b'{"jsonrpc":"2.0","id":"s6","method":"tools/call","params":{"name":"create_client","arguments":{"\\udfff":1}}}', -32602),  # noqa: E501
    ("unknown method", b'{"jsonrpc":"2.0","id":"s7","method":"no/such/method"}', -32601),
    ("tools/call without name", b'{"jsonrpc":"2.0","id":"s8","method":"tools/call","params":{}}', -32602),
    ("malformed notification", b'{"jsonrpc":"2.0","method":"notifications/cancelled","params":"x"}', None),
    ("bare whitespace", b"   \t ", None),
]  # fmt: skip


@pytest.fixture(scope="module")
def stdio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RawStdio]:
    proc = RawStdio(tmp_path_factory.mktemp("protocol"), DVERSUM_TOOLSETS="all")
    proc.initialize()
    yield proc
    assert proc.close() == 0, proc.stderr_tail()
    SUMMARY["protocol stdio"] = f"{len(STDIO_CASES)} kinds of malformed lines + 2 of 5 MB, each followed by a good ping"


@pytest.mark.parametrize(("label", "raw", "code"), STDIO_CASES, ids=[c[0] for c in STDIO_CASES])
def test_stdio_malformed_input(stdio: RawStdio, label: str, raw: bytes, code: int | None) -> None:
    stdio.send(raw)
    if code is None:
        assert stdio.quiet(0.5) == [], f"{label}: a notification got an answer"
    else:
        answer = stdio.receive(timeout=20)
        assert answer is not None, f"{label}: no answer; stderr: {stdio.stderr_tail()}"
        assert answer["jsonrpc"] == "2.0" and answer["error"]["code"] == code, (label, answer)
    stdio.ping(f"after {label}")


def test_stdio_oversized_and_tool_level_garbage(stdio: RawStdio) -> None:
    """A 5 MB line is read and refused by argument validation; a 5 MB garbage line is a parse error."""
    huge = {"jsonrpc": "2.0", "id": "big", "method": "tools/call",
            "params": {"name": "create_client", "arguments": {"name": "x" * BIG}}}  # fmt: skip
    stdio.send(huge)
    answer = stdio.response("big", timeout=60)
    result = answer["result"]
    assert result["isError"] and result["structuredContent"]["field"] == "name"
    stdio.send(b"{" + b"x" * BIG)
    assert stdio.receive(timeout=60)["error"]["code"] == -32700  # type: ignore[index]
    stdio.send(
        {"jsonrpc": "2.0", "id": "ok", "method": "tools/call", "params": {"name": "get_current_user", "arguments": {}}}
    )
    assert not stdio.response("ok")["result"]["isError"]


def test_stdio_every_stdout_line_is_json_rpc(stdio: RawStdio) -> None:
    stdio.ping("final")
    for line in stdio.lines:
        message = json.loads(line)
        assert message.get("jsonrpc") == "2.0" and ("id" in message or "method" in message), line[:200]


def test_stdio_from_regular_files(tmp_path: Path) -> None:
    """stdin and stdout as regular files (`dversum-mcp < requests > answers`): not pipes, so the
    worker-thread path reads and writes them, with the same answers, garbage lines included."""
    requests = [
        INIT,
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        b"not json",
        {"jsonrpc": "2.0", "id": "p", "method": "ping"},
        {"jsonrpc": "2.0", "id": "c", "method": "tools/call", "params": {"name": "get_current_user", "arguments": {}}},
    ]
    source = tmp_path / "requests.jsonl"
    source.write_bytes(b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in requests))
    sink = tmp_path / "answers.jsonl"
    with source.open("rb") as stdin, sink.open("wb") as stdout:
        done = subprocess.run(
            [PYTHON, "-m", "dversum_mcp.cli"],
            stdin=stdin,
            stdout=stdout,
            stderr=subprocess.PIPE,
            env=clean_env(DVERSUM_SANDBOX_DIR=str(tmp_path / "sandbox")),
            cwd=tmp_path,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    answers = [json.loads(line) for line in sink.read_bytes().splitlines()]
    by_id = {a.get("id"): a for a in answers}
    assert by_id["init"]["result"]["serverInfo"]["name"] == "dversum-mcp"
    assert by_id[None]["error"]["code"] == -32700
    assert by_id["p"]["result"] == {}
    assert by_id["c"]["result"]["isError"] is False, by_id["c"]


# ---- Streamable HTTP ---------------------------------------------------------------------------
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def _messages(response: httpx2.Response) -> list[dict[str, Any]]:
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        return [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]
    return [response.json()] if response.content else []


HTTP_CASES: list[tuple[str, dict[str, Any], set[int], int | None]] = [
    ("garbage", {"content": b"garbage"}, {400}, -32700),
    ("invalid utf-8", {"content": b"\xff\xfe\x80"}, {400}, -32700),
    ("wrong shape", {"json": {"foo": 1}}, {400}, None),
    ("batch array", {"json": [{"jsonrpc": "2.0", "id": 1, "method": "ping"}]}, {400}, None),
    ("params not an object", {"json": {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": "x"}}, {400}, None),
    ("lone surrogate", {"content": b'{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"create_client","arguments":{"name":"a\\ud800"}}}'}, {400}, None),  # noqa: E501
    ("unknown method", {"json": {"jsonrpc": "2.0", "id": 4, "method": "no/such"}}, {200}, -32601),
    ("over 4 MiB", {"content": b'{"jsonrpc":"2.0","id":5,"method":"ping","params":{"x":"' + b"x" * BIG + b'"}}'}, {413}, None),  # noqa: E501
    ("wrong content type", {"content": b'{"jsonrpc":"2.0","id":6,"method":"ping"}', "headers": {"Content-Type": "text/plain"}}, {400, 415}, None),  # noqa: E501
    ("unknown session", {"json": {"jsonrpc": "2.0", "id": 7, "method": "ping"}, "headers": {"mcp-session-id": "nope"}}, {404}, None),  # noqa: E501
]  # fmt: skip


@pytest.mark.anyio
async def test_streamable_http_malformed_input(seeded: Seeded) -> None:
    state = ServerState(Settings(token=Secret("")), seeded.registry, seeded.api_client(), Selection(sandbox=True))
    app = transports.http_app(build_server(state), host="127.0.0.1")
    with _serve(app) as base:
        async with httpx2.AsyncClient(base_url=base, timeout=30) as http:
            init = await http.post("/mcp", json={**INIT, "id": 0}, headers=HEADERS)
            assert init.status_code == 200
            session = {
                **HEADERS,
                "mcp-session-id": init.headers["mcp-session-id"],
                "mcp-protocol-version": "2025-06-18",
            }
            await http.post("/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session)
            for n, (label, kw, statuses, code) in enumerate(HTTP_CASES):
                extra = kw.pop("headers", {}) if "headers" in kw else {}
                response = await http.post("/mcp", headers={**session, **extra}, **kw)
                assert response.status_code in statuses, (label, response.status_code, response.text[:300])
                messages = (
                    _messages(response)
                    if "json" in response.headers.get("content-type", "")
                    or response.headers.get("content-type", "").startswith("text/event-stream")
                    else []
                )
                if code is not None:
                    assert messages and messages[-1]["error"]["code"] == code, (label, messages)
                with anyio.fail_after(10):
                    ping = await http.post(
                        "/mcp", json={"jsonrpc": "2.0", "id": f"p{n}", "method": "ping"}, headers=session
                    )
                assert ping.status_code == 200 and _messages(ping)[-1]["result"] == {}, (label, ping.text)
            call = {
                "jsonrpc": "2.0",
                "id": "call",
                "method": "tools/call",
                "params": {"name": "get_current_user", "arguments": {}},
            }
            done = await http.post("/mcp", json=call, headers=session)
            assert _messages(done)[-1]["result"]["isError"] is False
    SUMMARY["protocol http"] = (
        f"{len(HTTP_CASES)} malformed posts refused (413 above 4 MiB), server answered after each"
    )


def test_stdio_survives_closed_stdin(tmp_path: Path) -> None:
    """EOF on stdin ends the server cleanly (exit code 0), without a traceback on stderr."""
    proc = RawStdio(tmp_path)
    proc.initialize()
    code = proc.close()
    assert code == 0 and "Traceback" not in proc.stderr_tail(), proc.stderr_tail()
