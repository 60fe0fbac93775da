"""An API that echoes the caller's token, behind the multi-user server: no user's token may come
back in a result or an error (README "Secrets never leave the process", for every user's token,
not only the server's own)."""

from __future__ import annotations

import base64
import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

import anyio
import httpx2
import pytest
import redis

from tests.hardening.conftest import clean_env
from tests.remote.conftest import KEYS, SERVE, Stack, free_port, login, wait_http
from tests.remote.stack import stop
from tests.remote.test_multi_user import connect

pytestmark = pytest.mark.anyio


def _first_named(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        if "name" in value:
            return value
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            found = _first_named(item)
            if found is not None:
                return found
    return None


def _echoing(upstream: str) -> type[BaseHTTPRequestHandler]:
    class Echo(BaseHTTPRequestHandler):
        """The sandbox API, except that `/clients` answers carry the caller's bearer token: raw in a
        name, base64 in the notes, percent-encoded in a URL, and in a 404's message."""

        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            token = self.headers.get("authorization", "").removeprefix("Bearer ").strip()
            path = self.path.split("?")[0]
            if path.endswith("/clients/echo1"):  # the token (encoded) as the id of what was fetched
                self._send(200, {"id": base64.b64encode(token.encode()).decode(), "name": "Echo client"})
                return
            if path.endswith("/clients/echo0"):
                self._send(404, {"error": {"code": "not_found", "message": f"no client here for token {token}"}})
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            answer = httpx2.request(self.command, upstream + self.path, headers=headers, content=body, timeout=30)
            payload: Any = answer.json() if answer.content else None
            row = _first_named(payload) if path.endswith("/clients") and self.command == "GET" else None
            if row is not None:
                row["name"] = f"Echo {token}"
                row["notes"] = base64.b64encode(token.encode()).decode()
                row["website"] = "https://example.com/?t=" + quote(token, safe="")
                row["email"] = token.encode().hex() + "@example.com"
            self._send(answer.status_code, payload)

        def _send(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode() if payload is not None else b""
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        def log_message(self, *args: Any) -> None:
            return None

    return Echo


@pytest.fixture
def echo_server(stack: Stack) -> Iterator[str]:
    origin = stack.api_url.rsplit("/api/v1", 1)[0]
    api = ThreadingHTTPServer(("127.0.0.1", 0), _echoing(origin))
    api.daemon_threads = True
    threading.Thread(target=api.serve_forever, daemon=True).start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = clean_env(
        DVERSUM_REDIS_URL=stack.redis_url,
        DVERSUM_MCP_PUBLIC_URL=base,
        DVERSUM_MCP_SECRET_KEYS=KEYS,
        DVERSUM_BASE_URL=f"http://127.0.0.1:{api.server_address[1]}/api/v1",
    )
    log = stack.tmp / "echo-server.log"
    proc = subprocess.Popen([*SERVE, "--port", str(port), "--toolsets", "all"], env=env, stderr=log.open("wb"))
    try:
        wait_http(base + "/readyz", proc, 60)
        yield base
    finally:
        stop(proc)
        api.shutdown()
        api.server_close()


async def test_an_echoing_api_never_returns_a_users_token(stack: Stack, echo_server: str) -> None:
    """Attack: the API (or anything between) echoes the caller's token in data and in an error.
    Before: the multi-user server's scrubber knew only the server's own secrets (none), so each
    user's token came back raw, base64 and percent-encoded in `list_clients` and raw in the error."""
    token = stack.token_b
    tokens = await anyio.to_thread.run_sync(login, echo_server, token)
    async with connect(echo_server, tokens.access) as client:
        listed = await client.call_tool("list_clients", {"per_page": 5})
        missing = await client.call_tool("get_client", {"client_id": "echo0"})
        echoed = await client.call_tool("get_client", {"client_id": "echo1"})
    assert not listed.is_error and missing.is_error and not echoed.is_error
    seen = json.dumps([listed.model_dump(mode="json"), missing.model_dump(mode="json")])
    assert "Echo " in seen  # the hostile answer did come through
    encodings = {
        "raw": token,
        "base64": base64.b64encode(token.encode()).decode(),
        "percent": quote(token, safe=""),
        "hex": token.encode().hex(),
    }
    leaked = [name for name, value in encodings.items() if value in seen or json.dumps(value)[1:-1] in seen]
    assert leaked == [], leaked
    stored = _everything_in(stack.redis_url)  # the audit log keeps ids a call produced: not this one
    assert [name for name, value in encodings.items() if value in stored] == []


def _everything_in(url: str) -> str:
    keys = redis.Redis.from_url(url, decode_responses=True)
    out: list[str] = []
    try:
        for key in keys.scan_iter("*", count=1000):
            kind = keys.type(key)
            if kind == "string":
                out.append(str(keys.get(key)))
            elif kind == "hash":
                out.append(json.dumps(keys.hgetall(key)))
            elif kind == "list":
                out.append(json.dumps(keys.lrange(key, 0, -1)))
            elif kind == "set":
                out.append(json.dumps(sorted(keys.smembers(key))))
            elif kind == "zset":
                out.append(json.dumps(keys.zrange(key, 0, -1)))
            elif kind == "stream":
                out.append(json.dumps(keys.xrange(key)))
            out.append(key)
    finally:
        keys.close()
    return "\n".join(out)
