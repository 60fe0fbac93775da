"""Webhooks: subscriptions, the event catalogue, signed deliveries to a real loopback receiver, retries, SSRF guard."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from dversum_sandbox.app import SandboxApp
from dversum_sandbox.resources.webhook_delivery import NOT_ALLOWED

pytestmark = pytest.mark.anyio

MANIFESTS = Path(__file__).resolve().parents[2] / "tool_manifests"


class Receiver:
    """A tiny HTTP/1.1 server on 127.0.0.1 that records requests and answers with scripted statuses."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.requests: list[tuple[float, str, dict[str, str], bytes]] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in head[1:] if line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        status = self.statuses[min(len(self.requests), len(self.statuses) - 1)]
        self.requests.append((time.monotonic(), head[0], headers, body))
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    async def __aenter__(self) -> Receiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
async def sink_closed(sandbox: SandboxApp) -> AsyncIterator[None]:
    yield
    await sandbox.sink.aclose()


async def hook(api: httpx2.AsyncClient, url: str, events: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    response = await api.post("/webhooks", json={"url": url, "events": events or ["booking.created"], **extra})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def book(api: httpx2.AsyncClient, public: httpx2.AsyncClient, start: str = "2026-06-04T07:00:00Z") -> Any:
    """Cause a `booking.created` event through the public booking page."""
    types = (await api.get("/booking-types")).json()
    if not types["total"]:
        await api.post("/booking-types", json={"name": "Intro", "slug": "intro", "duration_minutes": 30})
    response = await public.post(
        "/public/booking/anna/intro/book", json={"start": start, "name": "Max", "email": "max@example.com"}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def settled(sandbox: SandboxApp, webhook_id: str, count: int = 1) -> list[dict[str, Any]]:
    """The webhook's deliveries once `count` of them are no longer pending (or after 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        with sandbox.db.transaction():
            rows = sandbox.db.all(
                "SELECT * FROM webhook_deliveries WHERE webhook_id = ? ORDER BY created_at, rowid", (webhook_id,)
            )
        if sum(r["status"] != "pending" for r in rows) >= count or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.01)


async def test_create_validate_and_hide_secret(api: httpx2.AsyncClient, api_b: httpx2.AsyncClient) -> None:
    created = await hook(api, "https://example.com/dversum-webhook", ["invoice.paid", "quote.signed"])
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 30
    assert created["active"] is True and created["has_secret"] is True
    assert created["events"] == ["invoice.paid", "quote.signed"]
    wid = created["id"]
    got = (await api.get(f"/webhooks/{wid}")).json()
    assert "secret" not in got and got["has_secret"] is True
    assert got["delivery_counts"] == {"pending": 0, "delivered": 0, "failed": 0} and got["recent_deliveries"] == []
    listed = (await api.get("/webhooks")).json()
    assert listed["total"] == 1 and "secret" not in listed["webhooks"][0]
    updated = await api.put(f"/webhooks/{wid}", json={"active": False, "events": ["client.created"]})
    assert updated.status_code == 200 and "secret" not in updated.json()
    assert updated.json()["active"] is False and updated.json()["url"] == "https://example.com/dversum-webhook"

    for body, status, field in (
        ({"events": ["invoice.paid"]}, 400, "url"),
        ({"url": "https://example.com/x"}, 400, "events"),
        ({"url": "ftp://example.com/x", "events": ["invoice.paid"]}, 422, "url"),
        ({"url": "example.com/x", "events": ["invoice.paid"]}, 422, "url"),
        ({"url": "http://[::1/x", "events": ["invoice.paid"]}, 422, "url"),
        ({"url": "https://example.com/x", "events": []}, 422, "events"),
        ({"url": "https://example.com/x", "events": "invoice.paid"}, 422, "events"),
        ({"url": "https://example.com/x", "events": ["invoice.paid", "invoice.exploded"]}, 422, "events[1]"),
        ({"url": "https://example.com/x", "events": [7]}, 422, "events[0]"),
        ({"url": "https://example.com/x", "events": ["invoice.paid"], "active": "yes"}, 422, "active"),
    ):
        response = await api.post("/webhooks", json=body)
        assert (response.status_code, response.json().get("field")) == (status, field), body
    assert "invoice.exploded" in (await api.put(f"/webhooks/{wid}", json={"events": ["invoice.exploded"]})).text

    assert (await api_b.get(f"/webhooks/{wid}")).status_code == 404
    assert (await api_b.put(f"/webhooks/{wid}", json={"active": True})).status_code == 404
    assert (await api_b.delete(f"/webhooks/{wid}")).status_code == 404
    assert (await api_b.get(f"/webhooks/{wid}/deliveries")).status_code == 404
    assert (await api_b.get("/webhooks")).json()["total"] == 0
    assert (await api.delete(f"/webhooks/{wid}")).status_code == 204
    assert (await api.get(f"/webhooks/{wid}")).status_code == 404


async def test_event_catalogue_matches_reference(api: httpx2.AsyncClient) -> None:
    catalogue = (await api.get("/webhooks/events")).json()
    assert catalogue["total"] == 50 and len(catalogue["groups"]) == 11
    assert [g["resource"] for g in catalogue["groups"]] == [
        "Invoices", "Quotes", "Contracts", "Reminders", "Clients", "Projects", "Tasks", "Time", "Pages", "Absences",
        "Bookings",
    ]  # fmt: skip
    flat = [e for g in catalogue["groups"] for e in g["events"]]
    types = tomllib.loads((MANIFESTS / "_types.toml").read_text())
    assert flat == types["webhook_event"]["enum"]


async def test_signed_delivery_to_loopback_receiver(
    api: httpx2.AsyncClient, public: httpx2.AsyncClient, sandbox: SandboxApp, sink_closed: None
) -> None:
    async with Receiver([204]) as receiver:
        created = await hook(api, f"http://127.0.0.1:{receiver.port}/hook")
        ignored = await hook(api, f"http://127.0.0.1:{receiver.port}/other", ["invoice.paid"])
        await hook(api, f"http://127.0.0.1:{receiver.port}/off", active=False)
        booking = await book(api, public)
        rows = await settled(sandbox, created["id"])
    assert len(receiver.requests) == 1
    _, request_line, headers, body = receiver.requests[0]
    assert request_line == "POST /hook HTTP/1.1"
    expected = hmac.new(created["secret"].encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-dversum-signature"], f"sha256={expected}")
    assert headers["content-type"] == "application/json" and headers["x-dversum-event"] == "booking.created"
    payload = json.loads(body)
    assert headers["idempotency-key"] == payload["id"] == rows[0]["id"]
    assert payload["event"] == "booking.created" and payload["created_at"] == "2026-06-03T08:00:00Z"
    assert payload["data"]["id"] == booking["id"]
    assert rows[0]["payload"].encode() == body
    assert rows[0]["status"] == "delivered" and rows[0]["attempts"] == 1 and rows[0]["last_status_code"] == 204
    assert rows[0]["delivered_at"] == "2026-06-03T08:00:00Z"
    assert (await api.get(f"/webhooks/{ignored['id']}/deliveries")).json()["total"] == 0

    deliveries = (await api.get(f"/webhooks/{created['id']}/deliveries")).json()
    assert deliveries["total"] == 1 and deliveries["deliveries"][0]["payload"] == payload
    assert "secret" not in json.dumps(deliveries)
    assert (await api.get(f"/webhooks/{created['id']}/deliveries", params={"status": "failed"})).json()["total"] == 0
    assert (await api.get(f"/webhooks/{created['id']}/deliveries", params={"status": "odd"})).status_code == 422
    summary = (await api.get(f"/webhooks/{created['id']}")).json()
    assert summary["delivery_counts"]["delivered"] == 1 and len(summary["recent_deliveries"]) == 1


async def test_failing_receiver_is_retried_with_backoff(
    api: httpx2.AsyncClient, public: httpx2.AsyncClient, sandbox: SandboxApp, sink_closed: None
) -> None:
    async with Receiver([500]) as receiver:
        created = await hook(api, f"http://127.0.0.1:{receiver.port}/hook")
        await book(api, public)
        rows = await settled(sandbox, created["id"])
    row = rows[0]
    assert row["status"] == "failed" and row["attempts"] == 6  # 1 attempt + 5 retries
    assert row["last_status_code"] == 500 and row["last_error"] == "HTTP 500" and row["next_attempt_at"] is None
    times = [t for t, *_ in receiver.requests]
    assert len(times) == 6
    assert {headers["idempotency-key"] for _, _, headers, _ in receiver.requests} == {row["id"]}
    gaps = [b - a for a, b in itertools.pairwise(times)]
    for gap, expected in zip(gaps, [0.01, 0.02, 0.04, 0.08, 0.16], strict=True):
        assert gap >= expected * 0.9, gaps
    assert gaps[-1] > gaps[0]


async def test_receiver_recovering_gets_delivered(
    api: httpx2.AsyncClient, public: httpx2.AsyncClient, sandbox: SandboxApp, sink_closed: None
) -> None:
    async with Receiver([503, 500, 200]) as receiver:
        created = await hook(api, f"http://localhost:{receiver.port}/hook")
        await book(api, public)
        rows = await settled(sandbox, created["id"])
    assert len(receiver.requests) == 3
    assert rows[0]["status"] == "delivered" and rows[0]["attempts"] == 3 and rows[0]["last_error"] is None


async def test_unreachable_receiver_records_transport_error(
    api: httpx2.AsyncClient, public: httpx2.AsyncClient, sandbox: SandboxApp, sink_closed: None
) -> None:
    sandbox.settings.webhook_max_retries = 1
    async with Receiver([200]) as receiver:
        port = receiver.port
    created = await hook(api, f"http://127.0.0.1:{port}/gone")  # nothing listens there any more
    await book(api, public)
    row = (await settled(sandbox, created["id"]))[0]
    assert row["status"] == "failed" and row["attempts"] == 2 and row["last_status_code"] is None
    assert "ConnectError" in row["last_error"]


async def test_ssrf_guard_refuses_without_connecting(
    api: httpx2.AsyncClient,
    public: httpx2.AsyncClient,
    sandbox: SandboxApp,
    sink_closed: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    looked_up: list[str] = []
    sent: list[str] = []

    async def fake_resolve(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return ["93.184.215.14"]  # never contacted: the guard refuses first

    async def no_send(self: httpx2.AsyncHTTPTransport, request: httpx2.Request) -> httpx2.Response:
        sent.append(str(request.url))
        raise AssertionError("the guard must refuse before any connection")

    sandbox.sink.resolve = fake_resolve
    monkeypatch.setattr(httpx2.AsyncHTTPTransport, "handle_async_request", no_send)  # the network path only
    private = await hook(api, "http://10.0.0.1/hook")
    named = await hook(api, "http://example.com/hook")
    await book(api, public)
    for created in (private, named):
        row = (await settled(sandbox, created["id"]))[0]
        assert row["status"] == "failed" and row["attempts"] == 0 and row["last_status_code"] is None
        assert row["last_error"] == NOT_ALLOWED
    assert looked_up == ["example.com"] and sent == []


async def test_destination_rules(sandbox: SandboxApp) -> None:
    sink = sandbox.sink

    async def resolve(host: str, port: int) -> list[str]:
        return {"mixed.test": ["127.0.0.1", "10.1.2.3"], "loop.test": ["127.0.0.2", "::1"]}[host]

    sink.resolve = resolve
    for url in ("http://127.0.0.1:9/x", "http://127.8.9.10/x", "http://[::1]:8080/x", "http://loop.test/x"):
        assert await sink.destination_refusal(url) is None, url
    for url in ("http://10.0.0.1/x", "http://[::ffff:10.0.0.1]/x", "http://0.0.0.0/x", "http://mixed.test/x"):
        assert await sink.destination_refusal(url) == NOT_ALLOWED, url
    assert await sink.destination_refusal("http://unknown.test/x") == NOT_ALLOWED  # resolver raises KeyError
    assert await sink.destination_refusal("http://[::ffff:127.0.0.1]/x") is None
    sandbox.settings.webhook_hosts = frozenset({"hooks.example.org"})
    assert await sink.destination_refusal("https://Hooks.Example.org/x") is None


async def test_rolled_back_and_unsubscribed_events_record_nothing(
    api: httpx2.AsyncClient, public: httpx2.AsyncClient, sandbox: SandboxApp, sink_closed: None
) -> None:
    created = await hook(api, "http://127.0.0.1:9/hook")
    await api.put(f"/webhooks/{created['id']}", json={"active": False})
    await book(api, public)
    bad = await public.post(
        "/public/booking/anna/intro/book", json={"start": "2026-06-04T07:00:00Z", "name": "M", "email": "m@x.de"}
    )
    assert bad.status_code == 409
    assert (await api.get(f"/webhooks/{created['id']}/deliveries")).json()["total"] == 0
    await api.delete(f"/webhooks/{created['id']}")
