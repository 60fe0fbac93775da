"""Loopback plumbing shared by the multi-user tests and `bench/bench_remote.py`: free ports, waiting
for a process to answer, the nginx load balancer's configuration, and the OAuth flow with PKCE
through the linking form (register, authorize, link, confirm, token)."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

__all__ = [
    "REDIRECT",
    "Tokens",
    "authorize",
    "exchange_code",
    "free_port",
    "hidden",
    "login",
    "nginx_conf",
    "pkce",
    "register",
    "start_redis",
    "stop",
    "wait_http",
]

REDIRECT = "http://127.0.0.1/callback"  # registered without a port: RFC 8252 loopback redirects add one


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 30.0) -> None:
    """Until `url` answers below 500; fails at once if `proc` exits first."""
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


def start_redis(tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A throwaway redis-server on a free loopback port, nothing saved to disk: (process, port)."""
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp,
    )
    return proc, port


def stop(proc: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    """Ask a process to end (SIGTERM), then make it (SIGKILL) if it has not within `grace_s`."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def nginx_conf(tmp: Path, port: int, upstreams: list[int]) -> Path:
    """The proxy directives of deploy/nginx.conf (round robin, no sticky sessions), without TLS."""
    servers = "\n".join(f"    server 127.0.0.1:{p};" for p in upstreams)
    conf = tmp / "nginx.conf"
    conf.write_text(f"""worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fcgi;
  uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  upstream mcp {{
{servers}
    keepalive 32;
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://mcp;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 3600s;
    }}
  }}
}}
""")
    return conf


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


def exchange_code(
    http: httpx2.Client, base: str, code: str, verifier: str, client_id: str, redirect: str, **extra: str
) -> httpx2.Response:
    """The token request that ends the authorization code flow."""
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "client_id": client_id,
        "redirect_uri": redirect,
        "resource": base + "/mcp",
        **extra,
    }
    return http.post(base + "/token", data=data)


def login(base: str, dversum_token: str, client_id: str | None = None, redirect_port: int = 53123) -> Tokens:
    """Register (unless given) and run the authorization code flow with PKCE through the linking form."""
    with httpx2.Client(timeout=30) as http:
        client_id = client_id or register(http, base)
        verifier, challenge = pkce()
        redirect = f"http://127.0.0.1:{redirect_port}/callback"
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
        token = exchange_code(http, base, code.group(1), verifier, client_id, redirect)
        assert token.status_code == 200, token.text
        body = token.json()
        assert dversum_token not in token.text
        return Tokens(body["access_token"], body["refresh_token"], client_id)
