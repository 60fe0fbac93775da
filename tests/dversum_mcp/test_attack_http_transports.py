"""An outside attacker against the single-user HTTP surfaces: Streamable HTTP's narrowing headers and
the webhook receiver (`serve --webhook-port`), over real HTTP on loopback."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from dversum_mcp.tools.registry import Selection
from dversum_mcp.transports import http as transports
from dversum_mcp.transports.webhook_inbox import WebhookInbox, sign, webhook_app
from tests.dversum_mcp.conftest import Harness
from tests.dversum_mcp.test_http_transports import _serve, _server

pytestmark = pytest.mark.anyio


async def _listed(base: str, headers: dict[str, str]) -> set[str]:
    http = httpx2.AsyncClient(headers=headers, timeout=20)
    async with http, Client(streamable_http_client(f"{base}/mcp", http_client=http), mode="legacy") as client:
        return {t.name for t in (await client.list_tools()).tools}


@pytest.mark.parametrize(
    ("server", "header"),
    [
        (Selection(sandbox=True), "all"),  # the default selection
        (Selection(sandbox=True), "webhooks,storage,pages"),
        (Selection(toolsets=("invoices",), sandbox=True), "all"),
        (Selection(toolsets=("invoices",), sandbox=True), "invoices,clients"),
        (Selection(toolsets=("invoices",), tools=("list_clients",), sandbox=True), "clients"),
    ],
    ids=["default+all", "default+others", "invoices+all", "invoices+more", "single-tool+its-toolset"],
)
async def test_narrowing_headers_never_list_more_than_the_server(
    harness: Harness, server: Selection, header: str
) -> None:
    """Promise (README): `X-Dversum-Toolsets` narrows the selection, never widens it; the server's
    selection is the upper bound. Attack: name `all`, or toolsets the server does not list. Before:
    on a server with the default selection, `all` listed every tool (3 times the default)."""
    app = transports.http_app(_server(harness, server), host="127.0.0.1")
    with _serve(app) as base:
        own = await _listed(base, {})
        asked = await _listed(base, {"X-Dversum-Toolsets": header})
    assert asked <= own, sorted(asked - own)[:10]


def _receiver(secret: str) -> tuple[Any, WebhookInbox]:
    inbox = WebhookInbox()
    return webhook_app(inbox, secret), inbox


async def test_a_replayed_signed_delivery_is_not_a_new_event() -> None:
    """Promise: deliveries are signed and idempotent; the receiver de-duplicates. Attack: someone who
    saw one signed delivery (a proxy log, a tunnel) sends the same body and signature again with a
    fresh `Idempotency-Key`, or none: the signature covers the body, the key is not signed. Before:
    each replay was stored (and announced) as a new, `verified: true` event."""
    secret = "whsec_replay_" + "k" * 24
    app, inbox = _receiver(secret)
    body = json.dumps({"id": "dlv_1", "event": "invoice.paid", "created_at": "2026-01-01T00:00:00Z", "data": {}})
    signed = {"content-type": "application/json", "X-Dversum-Signature": sign(secret, body.encode())}
    with _serve(app) as base:
        async with httpx2.AsyncClient(timeout=10) as http:
            first = await http.post(base + "/hook", content=body, headers={**signed, "Idempotency-Key": "dlv_1"})
            assert first.status_code == 200 and first.json()["duplicate"] is False
            for key in ("dlv_1-again", "", "x" * 40):
                replay = await http.post(base + "/hook", content=body, headers={**signed, "Idempotency-Key": key})
                assert replay.status_code == 200 and replay.json()["duplicate"] is True, (key, replay.text)
            other = body.replace("dlv_1", "dlv_2")
            fresh = await http.post(
                base + "/hook",
                content=other,
                headers={**signed, "X-Dversum-Signature": sign(secret, other.encode()), "Idempotency-Key": "dlv_2"},
            )
            assert fresh.json()["duplicate"] is False
    assert [e["payload"]["id"] for e in inbox.events()] == ["dlv_1", "dlv_2"]


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000])
async def test_a_deeply_nested_signed_body_is_answered(body: bytes) -> None:
    """Attack: a correctly signed delivery whose JSON nests 50 000-100 000 deep (under the 5 MiB cap).
    Before: the parser's RecursionError escaped, 500 with a traceback and nothing stored."""
    secret = "whsec_nest_" + "n" * 24
    app, inbox = _receiver(secret)
    headers = {"content-type": "application/json", "X-Dversum-Signature": sign(secret, body)}
    with _serve(app) as base:
        async with httpx2.AsyncClient(timeout=20) as http:
            answer = await http.post(base + "/hook", content=body, headers=headers)
            assert answer.status_code in (200, 400), answer.status_code
            ok = b'{"id": "ok"}'
            after = await http.post(
                base + "/hook", content=ok, headers={**headers, "X-Dversum-Signature": sign(secret, ok)}
            )
    assert after.status_code == 200
    assert inbox.events()[-1]["payload"] == {"id": "ok"}
