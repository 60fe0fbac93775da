"""HTTP transports as a browser on the same machine would meet them: loopback only, no foreign
Origin/Host, bearer token when configured, bounded bodies.

`dversum-mcp serve --transport http|sse` runs as a subprocess; its listening socket is read
from the kernel's table (/proc/net/tcp*, the same data `ss -ltn` shows), never by sending
traffic anywhere but 127.0.0.1.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest

from dversum_mcp.config import Secret, Settings
from dversum_mcp.server.handlers import ServerState, build_server
from dversum_mcp.tools.registry import Selection
from dversum_mcp.transports import http as transports
from tests.dversum_mcp.test_http_transports import _serve
from tests.hardening.conftest import LOOPBACK, PYTHON, SUMMARY, Seeded, clean_env, free_port
from tests.hardening.rawstdio import INIT

AUTH = "mcp-bearer-Hardening-0f1e2d3c4b5a"
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
CHECKS = {"refused": 0, "allowed": 0}


def _listening(port: int) -> list[str]:
    """Local addresses in LISTEN state on `port`, from the kernel's socket tables."""
    out = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if fields[3] == "0A" and int(hex_port, 16) == port:
                raw = bytes.fromhex(address)
                if width == 8:
                    out.append(socket.inet_ntop(socket.AF_INET, raw[::-1]))
                else:
                    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                    out.append(socket.inet_ntop(socket.AF_INET6, words))
    return out


@contextmanager
def serving(tmp: Path, transport: str, *args: str, **env: str) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    stderr = (tmp / f"{transport}-stderr.log").open("wb")
    proc = subprocess.Popen(
        [PYTHON, "-m", "dversum_mcp.cli", "serve", "--transport", transport, "--port", str(port), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        env=clean_env(DVERSUM_SANDBOX_DIR=str(tmp / "sandbox"), **env),
        cwd=tmp,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp / f"{transport}-stderr.log").read_text()
            with socket.socket() as sock:
                if sock.connect_ex((LOOPBACK, port)) == 0:
                    break
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        yield port, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        stderr.close()
        assert proc.stdout is not None
        assert proc.stdout.read() == b"", "the HTTP server printed to stdout"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/net/tcp")
@pytest.mark.parametrize("transport", ["http", "sse"])
def test_default_bind_is_loopback_and_bearer_is_enforced(tmp_path: Path, transport: str) -> None:
    with serving(tmp_path, transport, DVERSUM_MCP_AUTH_TOKEN=AUTH) as (port, _):
        addresses = _listening(port)
        assert addresses and set(addresses) <= {"127.0.0.1"}, addresses
        base = f"http://{LOOPBACK}:{port}"
        path = "/mcp" if transport == "http" else "/sse"
        method = "POST" if transport == "http" else "GET"
        with httpx2.Client(base_url=base, timeout=10) as http:
            for auth in (None, "Bearer", "Bearer wrong", f"Bearer {AUTH}x", f"Bearer {AUTH[:-1]}", f"Basic {AUTH}",
                         AUTH, f"Bearer  {AUTH.upper()}"):  # fmt: skip
                headers = {**HEADERS, **({"Authorization": auth} if auth is not None else {})}
                denied = http.request(method, path, json=INIT if method == "POST" else None, headers=headers)
                assert denied.status_code == 401, (auth, denied.status_code)
                assert AUTH not in denied.text and denied.headers.get("www-authenticate") == "Bearer"
                CHECKS["refused"] += 1
            good = {**HEADERS, "Authorization": f"Bearer {AUTH}"}
            if transport == "http":
                ok = http.post(path, json=INIT, headers=good)
                assert ok.status_code == 200, ok.text
                evil = http.post(path, json=INIT, headers={**good, "Origin": "http://evil.example"})
                assert evil.status_code == 403, "a valid token must not let a foreign page in"
            else:
                with http.stream("GET", path, headers=good) as stream:
                    assert stream.status_code == 200
                    first = next(stream.iter_lines())
                    assert first.startswith("event: endpoint")
            CHECKS["allowed"] += 1


ORIGINS_REFUSED = [
    "http://evil.example",
    "null",
    "http://127.0.0.1.evil.example:8000",
    "http://localhost.evil.example",
    "https://evil.example:443",
    "http://evil.example@127.0.0.1:8000",
    "file://",
]
HOSTS_REFUSED = [
    "evil.example",
    "127.0.0.1.evil.example",
    "localhost.evil.example:80",
    "10.0.0.1:8000",
    "[::2]:80",
    "attacker",
]
ORIGINS_ALLOWED = ["http://127.0.0.1:5173", "http://localhost:3000", None]


def _app(seeded: Seeded, kind: str, token: str = "") -> Any:
    state = ServerState(Settings(token=Secret("")), seeded.registry, seeded.api_client(), Selection(sandbox=True))
    server = build_server(state)
    if kind == "http":
        return transports.http_app(server, host="127.0.0.1", auth_token=token)
    return transports.sse_app(server, host="127.0.0.1", auth_token=token)


def test_streamable_http_refuses_foreign_origins_and_hosts(seeded: Seeded) -> None:
    with _serve(_app(seeded, "http")) as base, httpx2.Client(base_url=base, timeout=10) as http:
        for origin in ORIGINS_REFUSED:
            response = http.post("/mcp", json=INIT, headers={**HEADERS, "Origin": origin})
            assert response.status_code in (400, 403), (origin, response.status_code)
            CHECKS["refused"] += 1
        for host in HOSTS_REFUSED:
            response = http.post("/mcp", json=INIT, headers={**HEADERS, "Host": host})
            assert response.status_code in (400, 403, 421), (host, response.status_code)
            CHECKS["refused"] += 1
        for origin in ORIGINS_ALLOWED:
            headers = {**HEADERS, **({"Origin": origin} if origin else {})}
            assert http.post("/mcp", json=INIT, headers=headers).status_code == 200, origin
            CHECKS["allowed"] += 1
        port = base.rsplit(":", 1)[1]
        assert http.post("/mcp", json=INIT, headers={**HEADERS, "Host": f"localhost:{port}"}).status_code == 200


def test_sse_refuses_foreign_origins_hosts_and_big_bodies(seeded: Seeded) -> None:
    with _serve(_app(seeded, "sse")) as base, httpx2.Client(base_url=base, timeout=10) as http:
        for origin in ORIGINS_REFUSED[:3]:
            response = http.get("/sse", headers={"Origin": origin})
            assert response.status_code in (400, 403), origin
            CHECKS["refused"] += 1
        for host in HOSTS_REFUSED[:3]:
            response = http.get("/sse", headers={"Host": host})
            assert response.status_code in (400, 403, 421), host
            CHECKS["refused"] += 1
        with http.stream("GET", "/sse") as stream:
            lines = stream.iter_lines()
            next(lines)
            endpoint = next(lines).removeprefix("data:").strip()
            big = http.post(endpoint, content=b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"' + b"x" * (5 << 20) + b'"}}',  # noqa: E501
                            headers={"Content-Type": "application/json"})  # fmt: skip
            assert big.status_code == 413
            evil = http.post(
                endpoint, json={"jsonrpc": "2.0", "id": 2, "method": "ping"}, headers={"Origin": "http://evil.example"}
            )
            assert evil.status_code in (400, 403)
            CHECKS["refused"] += 2


def test_body_limit_holds_without_content_length(seeded: Seeded) -> None:
    """A chunked upload (no Content-Length) over 4 MiB is cut off too."""

    def chunks() -> Iterator[bytes]:
        yield b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"'
        for _ in range(80):
            yield b"x" * 65536
        yield b'"}}'

    with _serve(_app(seeded, "http")) as base, httpx2.Client(base_url=base, timeout=20) as http:
        response = http.post("/mcp", content=chunks(), headers=HEADERS)
        assert response.status_code == 413
        assert http.post("/mcp", json=INIT, headers=HEADERS).status_code == 200
    CHECKS["refused"] += 1


def test_bearer_guard_is_constant_time_and_checks_every_request(seeded: Seeded) -> None:
    import inspect

    assert "compare_digest" in inspect.getsource(transports.BearerGuard)
    with _serve(_app(seeded, "http", token=AUTH)) as base, httpx2.Client(base_url=base, timeout=10) as http:
        good = {**HEADERS, "Authorization": f"Bearer {AUTH}"}
        init = http.post("/mcp", json=INIT, headers=good)
        session = init.headers["mcp-session-id"]
        # a stolen session id alone is not enough
        hijack = http.post(
            "/mcp", json={"jsonrpc": "2.0", "id": 2, "method": "ping"}, headers={**HEADERS, "mcp-session-id": session}
        )
        assert hijack.status_code == 401
        for method in ("GET", "DELETE", "OPTIONS", "PUT"):
            assert http.request(method, "/mcp", headers={"mcp-session-id": session}).status_code == 401, method
        assert http.get("/anything-else").status_code == 401
        CHECKS["refused"] += 6


def test_zz_report() -> None:
    SUMMARY["transport security"] = (
        f"{CHECKS['refused']} hostile requests refused (401/403/421/413), {CHECKS['allowed']} legitimate ones served; "
        "listening sockets: 127.0.0.1 only"
    )
