"""Operations: `--workers 2` serves from one port, and SIGTERM lets a running tool call finish
(the API behind a loopback proxy that answers `GET /clients` two seconds late)."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from tests.hardening.conftest import clean_env
from tests.remote.conftest import KEYS, SERVE, Stack, free_port, login, wait_http
from tests.remote.test_multi_user import connect, data

SLOW_S = 2.0


SLOW_STARTED = threading.Event()


def _slow_proxy(upstream: str) -> type[BaseHTTPRequestHandler]:
    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if self.command == "GET" and self.path.split("?")[0].endswith("/clients"):
                SLOW_STARTED.set()
                time.sleep(SLOW_S)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            answer = httpx2.request(self.command, upstream + self.path, headers=headers, content=body, timeout=30)
            self.send_response(answer.status_code)
            for key, value in answer.headers.items():
                if key.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                    self.send_header(key, value)
            self.send_header("content-length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        def log_message(self, *args: Any) -> None:
            return None

    return Proxy


@pytest.fixture
def slow_api(stack: Stack) -> Iterator[str]:
    origin = stack.api_url.rsplit("/api/v1", 1)[0]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _slow_proxy(origin))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.anyio
async def test_two_workers_serve_and_sigterm_drains_a_running_call(stack: Stack, slow_api: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = clean_env(
        DVERSUM_REDIS_URL=stack.redis_url,
        DVERSUM_MCP_PUBLIC_URL=base,
        DVERSUM_MCP_SECRET_KEYS=KEYS,
        DVERSUM_BASE_URL=slow_api,
    )
    log = stack.tmp / "workers.log"
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before any awaiting
        [*SERVE, "--port", str(port), "--workers", "2"], env=env, stderr=log.open("wb")
    )
    try:
        wait_http(base + "/readyz", proc, 60)
        workers = [
            c
            for c in _children(proc.pid)
            if "dversum" in (Path(f"/proc/{c}/cmdline").read_bytes() + b"dversum").decode("latin-1")
        ]
        assert len(workers) >= 2, workers  # the supervisor's worker processes
        tokens = await anyio.to_thread.run_sync(login, base, stack.token_b)
        result: dict[str, Any] = {}
        SLOW_STARTED.clear()

        async def slow_call() -> None:
            try:
                async with connect(base, tokens.access) as client:
                    await client.list_tools()  # the client validates results against it: fetched now, not after
                    result["clients"] = data(await client.call_tool("list_clients", {}))
            except (httpx2.HTTPError, BaseExceptionGroup):
                if "clients" not in result:  # the client's own goodbye may meet a closed server; the call may not
                    raise

        async with anyio.create_task_group() as group:
            group.start_soon(slow_call)
            assert await anyio.to_thread.run_sync(SLOW_STARTED.wait, 30)  # the call is waiting on the API now
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
        assert result["clients"]["clients"], result
        code = await anyio.to_thread.run_sync(lambda: proc.wait(30))
        assert code == 0 and time.monotonic() - started < 20
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out
