"""The multi-user server for real: redis-server, the sandbox API, two server processes and nginx,
all on loopback with free ports; plus the OAuth flow through the linking page as a helper."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.hardening.conftest import clean_env
from tests.remote.stack import (  # noqa: F401  (re-exported: the tests import them from here)
    REDIRECT,
    Tokens,
    authorize,
    free_port,
    hidden,
    login,
    nginx_conf,
    pkce,
    register,
    start_redis,
    stop,
    wait_http,
)

KEYS = "k1-" + "a" * 40 + "," + "k0-" + "b" * 40
SERVE = [sys.executable, "-m", "dversum_mcp.cli", "serve", "--transport", "http", "--multi-user"]


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


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (scripts/system-packages.txt)")
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        pytest.fail("nginx is not installed (scripts/system-packages.txt)")
    tmp = tmp_path_factory.mktemp("remote")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        redis, redis_port = start_redis(tmp)
        procs.append(redis)
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
        conf = nginx_conf(tmp, nginx_port, replicas)
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
            stop(proc)


@pytest.fixture(scope="package")
def redis_env(stack: Stack) -> dict[str, str]:
    return {**os.environ, "DVERSUM_REDIS_URL": stack.redis_url, "DVERSUM_MCP_SECRET_KEYS": KEYS}
