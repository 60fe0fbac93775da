"""Helpers for the invoice, quote and contract tests: event capture, clients, documents, outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx2
import pytest

from dversum_sandbox.app import SandboxApp

Events = list[tuple[str, str, dict[str, Any]]]
"""(event, org_id, data) as the app records them."""


LINE = {"description": "Beratung", "quantity": 8, "unit_price_cents": 12500, "tax_rate": 19, "unit": "Std."}


def capture_events(sandbox: SandboxApp, monkeypatch: pytest.MonkeyPatch) -> Events:
    captured: Events = []

    def record(db: object, org_id: str, events: list[tuple[str, dict[str, Any]]], now: datetime) -> None:
        captured.extend((name, org_id, data) for name, data in events)

    monkeypatch.setattr(sandbox.sink, "record", record)
    return captured


def names(events: Events) -> list[str]:
    return [name for name, _, _ in events]


def ok(response: httpx2.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def error(response: httpx2.Response, status: int, field: str | None = None, token: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) <= {"error", "message", "field"} and body["message"]
    if field is not None:
        assert body.get("field") == field, body
    if token is not None:
        assert body["error"] == token, body
    return body


async def make_client(api: httpx2.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {
        "name": "ATAS Vertriebs GmbH",
        "email": "kontakt@atas.de",
        "vat_id": "DE123456789",
        "country": "DE",
        "street": "Hafenweg 2",
        "postal_code": "20095",
        "city": "Hamburg",
    }
    return ok(await api.post("/clients", json={**body, **fields}), 201)  # type: ignore[no-any-return]


async def make_invoice(api: httpx2.AsyncClient, client_id: str, **fields: Any) -> dict[str, Any]:
    body = {"client_id": client_id, "line_items": [LINE], **fields}
    return ok(await api.post("/invoices", json=body), 201)  # type: ignore[no-any-return]


async def sent_invoice(api: httpx2.AsyncClient, client_id: str, **fields: Any) -> dict[str, Any]:
    draft = await make_invoice(api, client_id, **fields)
    return ok(await api.post(f"/invoices/{draft['id']}/send"))  # type: ignore[no-any-return]


def outbox(sandbox: SandboxApp, kind: str | None = None) -> list[dict[str, Any]]:
    with sandbox.db.transaction():
        rows = sandbox.db.all("SELECT * FROM outbox ORDER BY rowid")
    return [r for r in rows if kind is None or r["kind"] == kind]
