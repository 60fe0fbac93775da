"""The multi-user server for real: redis-server, the sandbox API, two server processes and nginx,
all on loopback with free ports; plus the OAuth flow through the linking page as a helper."""

from __future__ import annotations

import base64
import hashlib
import html
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.hardening.conftest import clean_env

KEYS = "k1-" + "a" * 40 + "," + "k0-" + "b" * 40
REDIRECT = "http://127.0.0.1/callback"
SERVE = [sys.executable, "-m", "dversum_mcp.cli", "serve", "--transport", "http", "--multi-user"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        try:
            if httpx2.get(url, timeout=1.0).status_code < 500:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(url)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class Stack:
    tmp: Path
    redis_url: str
    redis_port: int
    api_url: str
    sandbox_dir: Path
    base: str
    replicas: list[int]
    logs: list[Path]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def token_a(self) -> str:
        return (self.sandbox_dir / "token").read_text().strip()

    @property
    def token_b(self) -> str:
        return (self.sandbox_dir / "other_token").read_text().strip()

    def replica_of(self, request_id: str) -> int:
        """Which server process logged this request id (0 or 1)."""
        deadline = time.monotonic() + 10  # the access line is written once the response has ended
        while True:
            found = [i for i, log in enumerate(self.logs) if f'"request_id": "{request_id}"' in log.read_text()]
            if found or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert len(found) == 1, (request_id, found)
        return found[0]


def _nginx_conf(tmp: Path, port: int, upstreams: list[int]) -> Path:
    servers = "\n".join(f"    server 127.0.0.1:{p};" for p in upstreams)
    conf = tmp / "nginx.conf"
    conf.write_text(f"""worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fcgi;
  uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  upstream mcp {{
{servers}
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://mcp;
      proxy_http_version 1.1;
      proxy_set_header Host $http_host;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_buffering off;
      proxy_read_timeout 120s;
    }}
  }}
}}
""")
    return conf


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (scripts/system-packages.txt)")
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        pytest.fail("nginx is not installed (scripts/system-packages.txt)")
    tmp = tmp_path_factory.mktemp("remote")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        redis_port = free_port()
        procs.append(
            subprocess.Popen(
                ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=tmp,
            )
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", redis_port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        sandbox_dir = tmp / "sandbox"
        api_port = free_port()
        env = clean_env(DVERSUM_SANDBOX_DIR=str(sandbox_dir))
        sandbox = subprocess.Popen(
            [sys.executable, "-m", "dversum_mcp.cli", "sandbox", "serve", "--port", str(api_port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(tmp / "sandbox.log").open("wb"),
        )
        procs.append(sandbox)
        api_url = f"http://127.0.0.1:{api_port}/api/v1"
        wait_http(api_url + "/me", sandbox, 60)
        nginx_port = free_port()
        base = f"http://127.0.0.1:{nginx_port}"
        replicas = [free_port(), free_port()]
        logs = [tmp / f"server{i}.log" for i in range(2)]
        server_env = clean_env(
            DVERSUM_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
            DVERSUM_MCP_PUBLIC_URL=base,
            DVERSUM_MCP_SECRET_KEYS=KEYS,
            DVERSUM_BASE_URL=api_url,
            DVERSUM_MCP_CIMD_HOSTS="127.0.0.1",
            DVERSUM_MCP_REFRESH_TOKEN_TTL="3600",
        )
        for port, log in zip(replicas, logs, strict=True):
            procs.append(
                subprocess.Popen(
                    [*SERVE, "--port", str(port), "--toolsets", "all"],
                    env=server_env,
                    stdout=subprocess.DEVNULL,
                    stderr=log.open("wb"),
                )
            )
        for port, proc in zip(replicas, procs[-2:], strict=True):
            wait_http(f"http://127.0.0.1:{port}/healthz", proc, 60)
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        conf = _nginx_conf(tmp, nginx_port, replicas)
        procs.append(
            subprocess.Popen(
                [nginx, "-p", str(tmp), "-c", str(conf), "-g", "daemon off;"],
                stdout=subprocess.DEVNULL,
                stderr=(tmp / "nginx.stderr").open("wb"),
            )
        )
        wait_http(base + "/healthz", procs[-1], 20)
        yield Stack(
            tmp, f"redis://127.0.0.1:{redis_port}/0", redis_port, api_url, sandbox_dir, base, replicas, logs, procs
        )
    finally:
        for proc in reversed(procs):
            _stop(proc)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no {name} in the page"
    return html.unescape(match.group(1))


@dataclass
class Tokens:
    access: str
    refresh: str
    client_id: str


def register(http: httpx2.Client, base: str, **extra: Any) -> str:
    body = {
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "client_name": "Test Assistant",
        **extra,
    }
    response = http.post(base + "/register", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["client_id"])


def authorize(
    http: httpx2.Client, base: str, client_id: str, challenge: str, redirect: str, **extra: str
) -> httpx2.Response:
    params = {
        "client_id": client_id,
        "response_type": "code",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "redirect_uri": redirect,
        "state": "st-123",
        "resource": base + "/mcp",
        "scope": "mcp",
        **extra,
    }
    return http.get(base + "/authorize", params=params)


def login(base: str, dversum_token: str, client_id: str | None = None, redirect_port: int = 53123) -> Tokens:
    """Register (unless given) and run the authorization code flow with PKCE through the linking form."""
    with httpx2.Client(timeout=30) as http:
        client_id = client_id or register(http, base)
        verifier, challenge = pkce()
        redirect = f"http://127.0.0.1:{redirect_port}/callback"  # registered without a port: RFC 8252 loopback
        response = authorize(http, base, client_id, challenge, redirect)
        assert response.status_code == 302, response.text
        link = response.headers["location"]
        assert link.startswith(base + "/link?req=")
        page = http.get(link)
        assert page.status_code == 200 and 'name="dversum_token"' in page.text
        form = {"req": hidden(page.text, "req"), "csrf": hidden(page.text, "csrf"), "dversum_token": dversum_token}
        confirm = http.post(base + "/link", data=form)
        assert confirm.status_code == 200, confirm.text
        assert dversum_token not in confirm.text
        done = http.post(
            base + "/link/confirm",
            data={"req": form["req"], "csrf": hidden(confirm.text, "csrf"), "action": "allow"},
        )
        assert done.status_code == 303, done.text
        location = done.headers["location"]
        assert location.startswith(redirect + "?") and "state=st-123" in location
        code = re.search(r"code=([^&]+)", location)
        assert code
        token = http.post(
            base + "/token",
            data={
                "grant_type": "authorization_code",
                "code": code.group(1),
                "code_verifier": verifier,
                "client_id": client_id,
                "redirect_uri": redirect,
                "resource": base + "/mcp",
            },
        )
        assert token.status_code == 200, token.text
        body = token.json()
        assert dversum_token not in token.text
        return Tokens(body["access_token"], body["refresh_token"], client_id)


@pytest.fixture(scope="package")
def redis_env(stack: Stack) -> dict[str, str]:
    return {**os.environ, "DVERSUM_REDIS_URL": stack.redis_url, "DVERSUM_MCP_SECRET_KEYS": KEYS}
