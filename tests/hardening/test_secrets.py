"""Secrets: the API token never reaches results, logs or exception texts, even when the API echoes it.

A loopback "API" echoes the Authorization header everywhere it can (error message, field and
error token, success bodies, HTML error pages, headers). The server runs with
DVERSUM_API_TOKEN set and DVERSUM_LOG_LEVEL=DEBUG, once in-process (results and raw log records
checked, the session-wide guard in tests/secret_guard.py watching too) and once as a stdio
subprocess (every byte of stdout and stderr checked).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from dversum_mcp.api.client import ApiClient
from dversum_mcp.api.limiter import RateLimiter
from dversum_mcp.config import Secret, Settings
from dversum_mcp.logs import QUIET_LOGGERS, RedactingFormatter, quiet_libraries
from dversum_mcp.server.handlers import ServerState, build_server
from dversum_mcp.tools.registry import Registry, Selection
from tests.dversum_mcp.test_http_transports import _serve
from tests.hardening.conftest import SUMMARY, Seeded
from tests.hardening.rawstdio import RawStdio
from tests.secret_guard import GUARD, SecretGuard

TOKEN = "dvk_live_EchoedBack_9f8e7d6c5b4a39281706"
MCP_TOKEN = "mcp-auth-Hardening-5a4b3c2d1e0f"
# tool, arguments: one call per echo surface of EchoApi
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("list_clients", {}),  # 401 JSON: token in message, field and error
    ("list_projects", {}),  # 500 HTML page with the token (retried, then reported)
    ("get_current_user", {}),  # 200 JSON whose body echoes the header
    ("create_client", {"name": "Echo GmbH"}),  # 422 with field = the token
    ("get_client", {"client_id": "abc"}),  # 404 text/plain with the token
    ("list_invoices", {}),  # 200 invalid JSON containing the token
    ("list_users", {}),  # 429 with the token in a header and body
]


class EchoApi:
    """An API that repeats whatever Authorization it got, in every place an answer has."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                done = "startup" if message["type"] == "lifespan.startup" else "shutdown"
                await send({"type": f"lifespan.{done}.complete"})
                if done == "shutdown":
                    return
        while (await receive()).get("more_body"):
            pass
        auth = dict(scope["headers"]).get(b"authorization", b"").decode()
        self.seen.append(auth)
        path = scope["path"]
        echo = {"error": auth, "message": f"token {auth} is not valid here", "field": auth}
        status, ctype, body, extra = 200, "application/json", json.dumps({"echo": auth}).encode(), []
        if path.endswith("/clients") and scope["method"] == "GET":
            status, body = 401, json.dumps(echo).encode()
        elif path.endswith("/projects"):
            status, ctype, body = 500, "text/html", f"<html><pre>{auth}</pre></html>".encode()
        elif path.endswith("/clients"):
            status, body = 422, json.dumps({**echo, "error": "validation_failed"}).encode()
        elif "/clients/" in path:
            status, ctype, body = 404, "text/plain", f"no such thing for {auth}".encode()
        elif path.endswith("/invoices"):
            body = f'{{"invoices": ["{auth}"'.encode()
        elif path.endswith("/users"):
            status, body, extra = 429, json.dumps(echo).encode(), [(b"retry-after", b"0"), (b"x-echo", auth.encode())]
        headers = [(b"content-type", ctype.encode()), (b"x-debug-auth", auth.encode()), *extra]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def test_guard_knows_the_shapes_and_the_exemption() -> None:
    guard = SecretGuard()
    guard.learn("short")  # too short to be a secret: never matched
    guard.learn("a-learned-secret-value")
    assert guard.find("xx a-learned-secret-value yy") == ["a-learned-secret-value"]
    assert guard.find("Bearer dvk_sandbox_abcdefghijklmnopqrstuvwxyz") == ["dvk_sandbox_abcdefghijklmnopqrstuvwxyz"]
    hook = "whsec_" + "Q" * 43
    assert guard.find(f'{{"secret": "{hook}"}}') == [hook]
    assert guard.find(f'{{"secret": "{hook}"}}', exempt=[hook]) == []
    assert guard.find("short and harmless") == []
    guard.scan("leaked a-learned-secret-value", "unit")
    assert len(guard.leaks) == 1 and "a-lea" in guard.leaks[0] and "a-learned-secret-value" not in guard.leaks[0]


@pytest.mark.anyio
async def test_echoed_token_stays_out_of_results_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    quiet_libraries(logging.DEBUG)  # as `dversum-mcp` configures logging at DVERSUM_LOG_LEVEL=DEBUG
    try:
        await _echo_in_process(caplog)
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


async def _echo_in_process(caplog: pytest.LogCaptureFixture) -> None:
    api = EchoApi()
    with _serve(api) as base:
        settings = Settings(token=Secret(TOKEN), base_url=f"{base}/api/v1", confirm=False, call_timeout_s=10)
        client = ApiClient(
            base_url=settings.base_url, token=TOKEN, limiter=RateLimiter(10_000, 60), backoff_s=0.01, max_retries=1
        )
        state = ServerState(settings, Registry(), client, Selection(toolsets=("all",)))
        transcripts = []
        async with client, Client(build_server(state), mode="legacy") as mcp:
            await mcp.set_logging_level("debug")
            for name, args in CALLS:
                result = await mcp.call_tool(name, args)
                transcripts.append(result.model_dump_json())
    assert all(TOKEN in seen for seen in api.seen) and len(api.seen) >= len(CALLS)  # it really was sent and echoed
    records = [
        r.getMessage() + (logging.Formatter().formatException(r.exc_info) if r.exc_info else "") for r in caplog.records
    ]
    for text in transcripts + records:
        assert TOKEN not in text, text[:500]
    assert GUARD.find("\n".join(transcripts + records)) == []
    SUMMARY["secrets in-process"] = (
        f"{len(CALLS)} echo surfaces, {len(transcripts)} results + {len(records)} log records: 0 leaks"
    )


def test_echoed_token_stays_out_of_a_stdio_session(tmp_path: Path) -> None:
    api = EchoApi()
    with _serve(api) as base:
        proc = RawStdio(
            tmp_path,
            DVERSUM_API_TOKEN=TOKEN,
            DVERSUM_MCP_AUTH_TOKEN=MCP_TOKEN,
            DVERSUM_BASE_URL=f"{base}/api/v1",
            DVERSUM_LOG_LEVEL="DEBUG",
            DVERSUM_TOOLSETS="all",
        )
        try:
            proc.initialize()
            proc.send({"jsonrpc": "2.0", "id": "lvl", "method": "logging/setLevel", "params": {"level": "debug"}})
            proc.response("lvl")
            for n, (name, args) in enumerate(CALLS):
                proc.send(
                    {"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": {"name": name, "arguments": args}}
                )
                assert proc.response(n, timeout=60)["result"]["isError"] in (True, False)
            proc.send(b"garbage that makes the server log")
            proc.ping("end")
        finally:
            proc.close()
    assert any(TOKEN in seen for seen in api.seen)
    stdout = b"".join(proc.lines).decode()
    stderr = proc.stderr_path.read_text()
    assert " DEBUG " in stderr
    for where, text in (("stdout", stdout), ("stderr", stderr)):
        assert TOKEN not in text and MCP_TOKEN not in text, f"token in {where}"
        assert GUARD.find(text) == [], where
    SUMMARY["secrets stdio"] = (
        f"{len(proc.lines)} stdout lines + {len(stderr.splitlines())} DEBUG stderr lines: 0 leaks"
    )


def test_redacting_formatter_hides_tokens_in_tracebacks() -> None:
    formatter = RedactingFormatter([TOKEN], "%(message)s")
    try:
        raise RuntimeError(f"failed with Bearer {TOKEN}")
    except RuntimeError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "call with %s", (TOKEN,), sys.exc_info())
    text = formatter.format(record)
    assert TOKEN not in text and text.count("***") >= 2


def test_secret_repr_and_settings_repr_hide_the_token() -> None:
    settings = Settings(token=Secret(TOKEN), mcp_auth_token=Secret(MCP_TOKEN))
    for text in (repr(settings), str(settings), repr(settings.token), f"{settings.mcp_auth_token}"):
        assert TOKEN not in text and MCP_TOKEN not in text


@pytest.mark.anyio
async def test_webhook_secret_is_shown_once(seeded: Seeded) -> None:
    """`create_webhook` hands the signing secret out (the one exemption); no later answer repeats it."""
    async with seeded.mcp(settings=Settings(token=Secret(""), confirm=False)) as client:
        created = await client.call_tool(
            "create_webhook", {"url": "http://127.0.0.1:9/h", "events": ["client.created"]}
        )
        secret = (created.structured_content or {})["secret"]
        hook_id = (created.structured_content or {})["id"]
        assert secret.startswith("whsec_") and GUARD.find(secret) == [secret]  # learned by the guard
        later = [
            await client.call_tool("get_webhook", {"webhook_id": hook_id}),
            await client.call_tool("list_webhooks", {}),
            await client.call_tool("update_webhook", {"webhook_id": hook_id, "active": False}),
            await client.call_tool("create_client", {"name": "Löst ein Ereignis aus"}),
            await client.call_tool("list_webhook_deliveries", {"webhook_id": hook_id}),
            await client.call_tool("describe_tool", {"name": "create_webhook"}),
        ]
    for result in later:
        assert not result.is_error and secret not in result.model_dump_json()


def test_guard_finds_learned_secrets_encoded() -> None:
    import base64
    from urllib.parse import quote

    guard = SecretGuard()
    secret = "a-learned+secret/value=="
    guard.learn(secret)
    raw = secret.encode()
    for text in (
        quote(secret, safe=""),
        "".join(f"%{b:02x}" for b in raw),
        raw.hex(),
        base64.b64encode(raw).decode(),
        base64.b64encode(b"x" + raw).decode(),
        base64.urlsafe_b64encode(b"xy" + raw).decode(),
    ):
        assert guard.find(f"vorher {text} nachher") != [], text
    assert guard.find("harmless text without it") == []
