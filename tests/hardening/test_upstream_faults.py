"""Upstream faults: the API misbehaves, the network breaks; calls stay bounded, writes stay single.

Two fault sources. `FaultTransport` wraps the sandbox's ASGITransport and answers a planned
fault before the sandbox sees a request (429, 5xx, connect errors) or after it has processed
it (5xx, reset, timeout, invalid JSON, HTML, wrong content type), so the sandbox's row count
proves a POST was not repeated. `RawServer` is a loopback TCP server for faults only a
network shows: no answer (timeouts), half a body then close, close without answering.
Every failure must come back as `isError` with error/message/hint, within the configured time.
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest
from mcp import Client

from dversum_mcp.api.client import ApiClient
from dversum_mcp.api.limiter import RateLimiter
from dversum_mcp.config import Secret, Settings
from dversum_mcp.server.handlers import ServerState, build_server
from dversum_mcp.tools.registry import Selection
from tests.hardening.conftest import LOOPBACK, SUMMARY, Seeded

pytestmark = pytest.mark.anyio
FAULTS = {"injected": 0}

# ---- faults at the HTTP layer, around the sandbox ----------------------------------------------
Fault = Callable[[httpx2.Request], httpx2.Response | None]


def status(code: int, body: bytes = b"", ctype: str = "application/json", **headers: str) -> Fault:
    def make(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(code, headers={"content-type": ctype, **headers}, content=body, request=request)

    return make


def raises(exc: type[Exception], message: str = "injected") -> Fault:
    def make(request: httpx2.Request) -> httpx2.Response:
        raise exc(message, request=request)  # type: ignore[call-arg]

    return make


@dataclass
class Planned:
    method: str
    path_suffix: str
    fault: Fault
    after: bool = False
    """True: the sandbox processes the request first, then its answer is replaced by the fault."""
    times: int = 1


@dataclass
class FaultTransport(httpx2.AsyncBaseTransport):
    inner: httpx2.AsyncBaseTransport
    plan: list[Planned] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.attempts.append(f"{request.method} {request.url.path}")
        for planned in self.plan:
            if planned.times and request.method == planned.method and request.url.path.endswith(planned.path_suffix):
                planned.times -= 1
                FAULTS["injected"] += 1
                if planned.after:
                    real = await self.inner.handle_async_request(request)
                    await real.aread()
                return planned.fault(request)  # type: ignore[return-value]
        return await self.inner.handle_async_request(request)


@asynccontextmanager
async def session(
    seeded: Seeded, plan: list[Planned], *, call_timeout_s: float = 10.0, **client_kw: Any
) -> AsyncIterator[tuple[Client, FaultTransport]]:
    holder: dict[str, FaultTransport] = {}

    def wrap(inner: httpx2.AsyncBaseTransport) -> httpx2.AsyncBaseTransport:
        holder["t"] = FaultTransport(inner, plan)
        return holder["t"]

    client_kw.setdefault("backoff_s", 0.01)
    client_kw.setdefault("max_retries", 3)
    api = seeded.api_client(wrap, **client_kw)
    settings = Settings(token=Secret(""), confirm=False, call_timeout_s=call_timeout_s)
    state = ServerState(settings, seeded.registry, api, Selection(toolsets=("all",), sandbox=True))
    async with api, Client(build_server(state), mode="legacy") as client:
        yield client, holder["t"]


def _count(seeded: Seeded, table: str) -> int:
    with seeded.app.db.transaction():
        return int(seeded.app.db.scalar(f"SELECT COUNT(*) FROM {table} WHERE org_id = ?", (seeded.org_id,)))


def _clear_error(result: Any) -> dict[str, Any]:
    data = dict(result.structured_content or {})
    assert result.is_error, data
    assert data.get("error") and data.get("message") and data.get("hint"), data
    assert "status" in data or data["error"] != "internal_error", f"dversum-mcp crashed: {data}"
    return data


async def test_idempotent_get_retried_through_5xx(seeded: Seeded) -> None:
    plan = [Planned("GET", "/clients", status(503), times=1), Planned("GET", "/clients", status(502), times=1),
            Planned("GET", "/clients", status(500, b"{}"), times=1)]  # fmt: skip
    async with session(seeded, plan) as (client, transport):
        result = await client.call_tool("list_clients", {})
    assert not result.is_error and len(transport.attempts) == 4


async def test_retry_budget_is_bounded(seeded: Seeded) -> None:
    plan = [Planned("GET", "/clients", status(503), times=100)]
    started = time.monotonic()
    async with session(seeded, plan, max_retries=2) as (client, transport):
        data = _clear_error(await client.call_tool("list_clients", {}))
    assert len(transport.attempts) == 3 and data["status"] == 503 and data["retryable"] is True
    assert "3 time(s)" in data["hint"] and time.monotonic() - started < 5


async def test_429_with_retry_after_is_waited_out_and_post_sent_once(seeded: Seeded) -> None:
    before = _count(seeded, "clients")
    plan = [
        Planned(
            "POST", "/clients", status(429, b'{"error":"rate_limited","message":"slow down"}', **{"Retry-After": "1"})
        )
    ]
    started = time.monotonic()
    async with session(seeded, plan) as (client, transport):
        result = await client.call_tool("create_client", {"name": "Nach dem Limit GmbH"})
    waited = time.monotonic() - started
    assert not result.is_error, result.content
    assert transport.attempts == ["POST /api/v1/clients"] * 2 and waited >= 1.0
    assert _count(seeded, "clients") == before + 1


async def test_429_beyond_the_deadline_is_reported_with_retry_after(seeded: Seeded) -> None:
    plan = [Planned("GET", "/invoices", status(429, b"{}", **{"Retry-After": "120"}), times=5)]
    started = time.monotonic()
    async with session(seeded, plan, call_timeout_s=5) as (client, _):
        data = _clear_error(await client.call_tool("list_invoices", {}))
    assert data["error"] == "rate_limited" and data["retry_after_s"] == 120 and time.monotonic() - started < 3


@pytest.mark.parametrize(
    ("label", "fault"),
    [
        ("500 after processing", status(500, b'{"error":"internal_error","message":"boom"}')),
        ("502 html after processing", status(502, b"<html><body>Bad Gateway</body></html>", "text/html")),
        ("503 after processing", status(503)),
        ("reset after processing", raises(httpx2.ReadError, "connection reset by peer")),
        ("broken response", raises(httpx2.RemoteProtocolError, "peer closed connection")),
        ("read timeout after processing", raises(httpx2.ReadTimeout, "timed out")),
        ("invalid json after processing", status(201, b'{"id": "abc", "name": ')),
        ("html 200 after processing", status(200, b"<html>Wartung</html>", "text/html")),
        ("plain text after processing", status(201, b"created", "text/plain")),
    ],
)
async def test_post_is_never_repeated(seeded: Seeded, label: str, fault: Fault) -> None:
    """The sandbox did the write; the answer got lost. One row, one attempt, a clear error that says so."""
    before = _count(seeded, "clients")
    async with session(seeded, [Planned("POST", "/clients", fault, after=True)]) as (client, transport):
        data = _clear_error(await client.call_tool("create_client", {"name": f"Einmalig {label}"}))
    assert transport.attempts == ["POST /api/v1/clients"], transport.attempts
    assert _count(seeded, "clients") == before + 1, "the write was duplicated (or lost)"
    assert "list/get" in data["hint"], data


@pytest.mark.parametrize(
    ("tool", "args", "table"),
    [
        ("record_invoice_payment", {"amount_cents": 100}, "invoice_payments"),
        ("create_task_comment", {"content": "Nur einmal"}, "task_comments"),
        ("start_timer", {}, "time_entries"),
    ],
)
async def test_other_writes_are_never_repeated(seeded: Seeded, tool: str, args: dict[str, Any], table: str) -> None:
    ids = seeded.ids()
    with seeded.app.db.transaction():
        invoice = seeded.app.db.scalar(
            "SELECT id FROM invoices WHERE org_id = ? AND status IN ('sent') ORDER BY id LIMIT 1", (seeded.org_id,)
        )
    full = {
        "record_invoice_payment": {"invoice_id": invoice, **args},
        "create_task_comment": {"task_id": ids.by_arg["task_id"][0], **args},
        "start_timer": {"task_id": ids.by_arg["task_id"][0], "if_running": "switch"},
    }[tool]
    suffix = {"record_invoice_payment": "/payments", "create_task_comment": "/comments", "start_timer": "/start"}[tool]
    before = _count(seeded, table)
    plan = [Planned("POST", suffix, status(502, b"", "text/html"), after=True)]
    async with session(seeded, plan) as (client, transport):
        data = _clear_error(await client.call_tool(tool, full))
    assert sum(1 for a in transport.attempts if a.startswith("POST") and a.endswith(suffix)) == 1, transport.attempts
    assert _count(seeded, table) == before + 1, data


async def test_connect_error_is_retried_even_for_post(seeded: Seeded) -> None:
    """Nothing reached the API, so repeating cannot duplicate anything."""
    before = _count(seeded, "clients")
    plan = [Planned("POST", "/clients", raises(httpx2.ConnectError, "refused"), times=2)]
    async with session(seeded, plan) as (client, transport):
        result = await client.call_tool("create_client", {"name": "Nach Verbindungsfehler"})
    assert not result.is_error and len(transport.attempts) == 3 and _count(seeded, "clients") == before + 1


@pytest.mark.parametrize(
    ("label", "fault"),
    [
        ("invalid json", status(200, b"{not json")),
        ("html page", status(200, b"<!doctype html><title>Login</title>", "text/html")),
        ("wrong content type", status(200, b"<clients/>", "application/xml")),
        ("empty json body with text type", status(200, b"OK", "text/plain; charset=utf-8")),
        ("html 404 page", status(404, b"<html>Not Found</html>", "text/html")),
        ("json array error", status(400, b'["weird"]')),
    ],
)
async def test_garbled_answers_to_reads_are_clear_errors(seeded: Seeded, label: str, fault: Fault) -> None:
    async with session(seeded, [Planned("GET", "/clients", fault, times=10)], max_retries=0) as (client, _):
        data = _clear_error(await client.call_tool("list_clients", {}))
    assert data["error"] in ("invalid_response", "not_found", "bad_request"), (label, data)


# ---- faults only a network shows: a raw loopback server ----------------------------------------
class RawServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.requests: list[str] = []
        self.stop = threading.Event()
        super().__init__((LOOPBACK, 0), _RawHandler)

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.server_address[1]}/api/v1"


class _RawHandler(socketserver.BaseRequestHandler):
    server: RawServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = next(
            (int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")), 0
        )
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        self.server.requests.append(head.split(b"\r\n")[0].decode())
        mode = self.server.mode
        if mode == "sleep":
            self.server.stop.wait(10)  # never answers within any test timeout; bounded anyway
        elif mode == "half":
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
            sock.sendall(b'{"clients": [{"id": "a", "name": "Hal')
        elif mode == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        elif mode == "slow-body":
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
            self.server.stop.wait(10)
        # "close": nothing at all


@pytest.fixture
def raw_server(request: pytest.FixtureRequest) -> Iterator[RawServer]:
    server = RawServer(request.param)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.stop.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@asynccontextmanager
async def network_session(base_url: str, **kw: Any) -> AsyncIterator[Client]:
    call_timeout = kw.pop("call_timeout_s", 10.0)
    settings = Settings(token=Secret("dvk_live_hardening_token_0123456789"), base_url=base_url, confirm=False,
                        call_timeout_s=call_timeout)  # fmt: skip
    kw.setdefault("backoff_s", 0.01)
    api = ApiClient(base_url=base_url, token=settings.token.reveal(), limiter=RateLimiter(10_000, 60), **kw)
    state = ServerState(settings, _registry(), api, Selection(toolsets=("all",)))
    async with api, Client(build_server(state), mode="legacy") as client:
        yield client


def _registry() -> Any:
    from dversum_mcp.tools.registry import Registry

    return Registry()


@pytest.mark.parametrize("raw_server", ["sleep"], indirect=True)
async def test_no_answer_times_out_within_budget(raw_server: RawServer) -> None:
    started = time.monotonic()
    async with network_session(raw_server.base_url, timeout_s=0.5, max_retries=2) as client:
        data = _clear_error(await client.call_tool("get_client", {"client_id": "abc"}))
        elapsed = time.monotonic() - started
        post_started = time.monotonic()
        post = _clear_error(await client.call_tool("create_client", {"name": "Zeitüberschreitung"}))
        post_elapsed = time.monotonic() - post_started
    assert data["error"] == "timeout" and data["retryable"] is True
    assert elapsed < 0.5 * 3 + 1.5, elapsed  # three attempts of 0.5 s, small backoff
    gets = [r for r in raw_server.requests if r.startswith("GET")]
    posts = [r for r in raw_server.requests if r.startswith("POST")]
    assert len(gets) == 3 and len(posts) == 1, raw_server.requests
    assert post["error"] == "timeout" and "not repeated" in post["hint"] and post_elapsed < 1.5


@pytest.mark.parametrize("raw_server", ["sleep"], indirect=True)
async def test_call_timeout_caps_everything(raw_server: RawServer) -> None:
    """The per-call deadline wins over generous request timeouts and retries."""
    started = time.monotonic()
    async with network_session(raw_server.base_url, timeout_s=20, max_retries=5, call_timeout_s=1.5) as client:
        data = _clear_error(await client.call_tool("list_projects", {}))
    elapsed = time.monotonic() - started
    assert data["error"] == "timeout" and 1.4 < elapsed < 3.0, (elapsed, data)


@pytest.mark.parametrize("raw_server", ["half", "reset", "close", "slow-body"], indirect=True)
async def test_connection_broken_mid_answer(raw_server: RawServer) -> None:
    async with network_session(raw_server.base_url, timeout_s=0.5, max_retries=2) as client:
        started = time.monotonic()
        read = _clear_error(await client.call_tool("list_clients", {}))
        write = _clear_error(await client.call_tool("create_client", {"name": "Abgerissen GmbH"}))
        elapsed = time.monotonic() - started
    assert read["error"] in ("connection_lost", "timeout", "network_error"), read
    assert write["error"] in ("connection_lost", "timeout", "network_error"), write
    assert "not repeated" in write["hint"], write
    assert sum(r.startswith("GET") for r in raw_server.requests) == 3, raw_server.requests  # retried
    assert sum(r.startswith("POST") for r in raw_server.requests) == 1, raw_server.requests  # never repeated
    assert elapsed < 6, elapsed
    FAULTS["injected"] += 4


async def test_connection_refused_is_retried_then_reported() -> None:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        started = time.monotonic()
        async with network_session(f"http://{LOOPBACK}:{port}/api/v1", timeout_s=0.5, max_retries=2) as client:
            data = _clear_error(await client.call_tool("create_client", {"name": "Niemand da"}))
    assert data["error"] == "connect_failed" and "DVERSUM_BASE_URL" in data["hint"]
    assert time.monotonic() - started < 3


def test_zz_report() -> None:
    SUMMARY["upstream faults"] = f"{FAULTS['injected']} faults injected; every one a clear isError, no POST repeated"
