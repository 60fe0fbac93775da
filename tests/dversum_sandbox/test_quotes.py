"""Quotes: numbering, editing rules, sending with a signing link, public signing, expiry, conversion."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from dversum_sandbox.app import SandboxApp
from tests.dversum_sandbox._billing_support import LINE, capture_events, error, make_client, names, ok, outbox
from tests.dversum_sandbox.conftest import Clock, Workspace

pytestmark = pytest.mark.anyio


async def make_quote(api: httpx2.AsyncClient, client_id: str, **fields: Any) -> dict[str, Any]:
    body = {"client_id": client_id, "line_items": [LINE], "title": "Beratungspaket", **fields}
    return ok(await api.post("/quotes", json=body), 201)  # type: ignore[no-any-return]


async def sent_quote(api: httpx2.AsyncClient, client_id: str, **fields: Any) -> dict[str, Any]:
    quote = await make_quote(api, client_id, **fields)
    return ok(await api.post(f"/quotes/{quote['id']}/send"))  # type: ignore[no-any-return]


async def test_create_get_list(api: httpx2.AsyncClient, sandbox: SandboxApp, monkeypatch: pytest.MonkeyPatch) -> None:
    client = await make_client(api)
    other = await make_client(api, name="Beta AG", email="b@beta.de")
    events = capture_events(sandbox, monkeypatch)
    first = await make_quote(api, client["id"])
    assert (first["number"], first["status"], first["valid_until"]) == ("AN-2026-0001", "draft", "2026-07-03")
    assert (first["total_net_cents"], first["total_tax_cents"], first["total_gross_cents"]) == (100000, 19000, 119000)
    assert first["signing_url"] is None and first["client"]["name"] == "ATAS Vertriebs GmbH"
    assert names(events) == ["quote.created"] and events[0][2] == first
    second = await make_quote(api, other["id"], valid_until="2026-06-10", title=None)
    assert second["number"] == "AN-2026-0002" and second["title"] is None
    assert ok(await api.get(f"/quotes/{first['id']}")) == first
    listed = ok(await api.get("/quotes"))
    assert listed["total"] == 2 and [q["number"] for q in listed["quotes"]] == ["AN-2026-0002", "AN-2026-0001"]
    assert ok(await api.get("/quotes", params={"client_id": other["id"]}))["quotes"][0]["id"] == second["id"]
    assert ok(await api.get("/quotes", params={"status": "sent"}))["total"] == 0
    error(await api.get("/quotes", params={"status": "open"}), 422, "status")


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"line_items": [LINE]}, 400, "client_id"),
        ({"client_id": "CLIENT"}, 400, "line_items"),
        (
            {"client_id": "CLIENT", "line_items": [{**LINE, "unit_price_cents": "x"}]},
            422,
            "line_items[0].unit_price_cents",
        ),
        ({"client_id": "missing-client", "line_items": [LINE]}, 422, "client_id"),
        ({"client_id": "CLIENT", "line_items": [LINE], "valid_until": "2026-06-02"}, 422, "valid_until"),
        ({"client_id": "CLIENT", "line_items": [LINE], "title": ""}, 422, "title"),
        ({"client_id": "CLIENT", "line_items": [LINE], "project_id": "missing-project"}, 422, "project_id"),
    ],
)
async def test_create_validation(api: httpx2.AsyncClient, body: dict[str, Any], status: int, field: str) -> None:
    client = await make_client(api)
    if body.get("client_id") == "CLIENT":
        body = {**body, "client_id": client["id"]}
    error(await api.post("/quotes", json=body), status, field)


async def test_other_org_sees_nothing(api: httpx2.AsyncClient, api_b: httpx2.AsyncClient) -> None:
    quote = await make_quote(api, (await make_client(api))["id"])
    for method, suffix in [("GET", ""), ("PUT", ""), ("DELETE", ""), ("POST", "/send"), ("POST", "/reject")]:
        error(await api_b.request(method, f"/quotes/{quote['id']}{suffix}", json={}), 404)
    error(await api_b.post(f"/quotes/{quote['id']}/convert-to-invoice"), 404)
    theirs = await make_client(api_b)
    error(await api.put(f"/quotes/{quote['id']}", json={"client_id": theirs["id"]}), 422, "client_id")
    assert ok(await api_b.get("/quotes"))["total"] == 0


async def test_update_and_delete(api: httpx2.AsyncClient, sandbox: SandboxApp, monkeypatch: pytest.MonkeyPatch) -> None:
    quote = await make_quote(api, (await make_client(api))["id"], notes="n")
    events = capture_events(sandbox, monkeypatch)
    lines = [{**LINE, "quantity": 2}, {"description": "Buch", "quantity": 1, "unit_price_cents": 2000, "tax_rate": 7}]
    updated = ok(await api.put(f"/quotes/{quote['id']}", json={"line_items": lines, "notes": None, "title": "Neu"}))
    assert updated["total_gross_cents"] == 29750 + 2140 and updated["notes"] is None and updated["title"] == "Neu"
    assert updated["number"] == quote["number"]
    error(await api.put(f"/quotes/{quote['id']}", json={"valid_until": "2026-01-01"}), 422, "valid_until")
    assert ok(await api.put(f"/quotes/{quote['id']}", json={})) == updated
    sent = ok(await api.post(f"/quotes/{quote['id']}/send"))
    error(await api.put(f"/quotes/{quote['id']}", json={"valid_until": "2026-08-01"}), 409, token="quote_locked")
    assert ok(await api.get(f"/quotes/{quote['id']}"))["signing_token"] == sent["signing_token"]
    assert (await api.delete(f"/quotes/{quote['id']}")).status_code == 204
    assert names(events) == ["quote.updated", "quote.sent", "quote.deleted"]
    error(await api.get(f"/quotes/{quote['id']}"), 404)


async def test_send_sign_convert(
    api: httpx2.AsyncClient,
    public: httpx2.AsyncClient,
    sandbox: SandboxApp,
    org_a: Workspace,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = await make_client(api, contact_person="Herr Kunde")
    project = ok(await api.post("/projects", json={"name": "Relaunch", "client_id": client["id"]}), 201)
    quote = await make_quote(api, client["id"], project_id=project["id"], notes="Zahlbar in 14 Tagen")
    events = capture_events(sandbox, monkeypatch)
    error(await api.post(f"/quotes/{quote['id']}/convert-to-invoice"), 409, token="quote_not_signed")
    sent = ok(await api.post(f"/quotes/{quote['id']}/send"))
    token = sent["signing_token"]
    assert sent["status"] == "sent" and len(token) >= 20
    assert sent["signing_url"] == f"http://127.0.0.1/api/v1/public/quotes/{token}"
    mail = outbox(sandbox, "quote")[-1]
    assert mail["to_addr"] == "kontakt@atas.de" and sent["signing_url"] in mail["body"] and "1.190,00 €" in mail["body"]
    assert "Herr Kunde" in mail["body"] and mail["subject"].startswith("Angebot AN-2026-0001")
    summary = ok(await public.get(f"/public/quotes/{token}"))
    assert summary["title"] == "Beratungspaket" and summary["client"] == {"name": "ATAS Vertriebs GmbH"}
    assert summary["total_gross_cents"] == 119000 and summary["can_sign"] and "signing_token" not in summary
    assert summary["seller"] == {"name": "Muster GmbH"} and summary["valid_until"] == "2026-07-03"
    error(await public.get("/public/quotes/not-a-real-token-at-all"), 404)
    error(await public.post("/public/quotes/short/sign", json={"signer_name": "X"}), 404)
    error(await public.post(f"/public/quotes/{token}/sign", json={}), 400, "signer_name")
    error(await public.post(f"/public/quotes/{token}/sign", json={"signer_name": "X", "signer_email": "nope"}), 422)
    signed = ok(await public.post(f"/public/quotes/{token}/sign", json={"signer_name": " Klara Kunde "}))
    assert signed["status"] == "signed" and signed["signer_name"] == "Klara Kunde" and not signed["can_sign"]
    assert names(events) == ["quote.sent", "quote.signed"]
    assert events[1][1] == org_a.org_id and events[1][2]["signed_at"] == "2026-06-03T08:00:00Z"
    error(await public.post(f"/public/quotes/{token}/sign", json={"signer_name": "Y"}), 409, token="already_signed")
    error(await api.put(f"/quotes/{quote['id']}", json={"title": "x"}), 409, token="quote_locked")
    error(await api.delete(f"/quotes/{quote['id']}"), 409, token="quote_locked")
    error(await api.post(f"/quotes/{quote['id']}/send"), 409, token="quote_locked")
    error(await api.post(f"/quotes/{quote['id']}/reject"), 409, token="quote_locked")
    converted = ok(await api.post(f"/quotes/{quote['id']}/convert-to-invoice"), 201)
    invoice = converted["invoice"]
    assert converted["quote"]["status"] == "converted" and converted["quote"]["invoice_id"] == invoice["id"]
    assert invoice["status"] == "draft" and invoice["client_id"] == client["id"] and invoice["quote_id"] == quote["id"]
    assert invoice["project_id"] == project["id"] and invoice["notes"] == "Zahlbar in 14 Tagen"
    assert invoice["line_items"] == quote["line_items"] and invoice["total_gross_cents"] == 119000
    assert names(events)[2:] == ["invoice.created", "quote.converted"]
    again = error(await api.post(f"/quotes/{quote['id']}/convert-to-invoice"), 409, token="already_converted")
    assert invoice["id"] in again["message"]
    assert ok(await api.get(f"/invoices/{invoice['id']}"))["id"] == invoice["id"]


async def test_send_needs_client_email(api: httpx2.AsyncClient) -> None:
    quote = await make_quote(api, (await make_client(api, email=None))["id"])
    error(await api.post(f"/quotes/{quote['id']}/send"), 422, "client.email")
    assert ok(await api.get(f"/quotes/{quote['id']}"))["status"] == "draft"


async def test_reject(
    api: httpx2.AsyncClient, public: httpx2.AsyncClient, sandbox: SandboxApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await make_client(api)
    draft = await make_quote(api, client["id"])
    error(await api.post(f"/quotes/{draft['id']}/reject"), 409, token="quote_not_sent")
    sent = await sent_quote(api, client["id"])
    events = capture_events(sandbox, monkeypatch)
    rejected = ok(await api.post(f"/quotes/{sent['id']}/reject", json={"reason": "Zu teuer"}))
    assert rejected["status"] == "rejected" and rejected["rejection_reason"] == "Zu teuer"
    assert names(events) == ["quote.rejected"]
    error(await api.post(f"/quotes/{sent['id']}/reject"), 409, token="quote_locked")
    token = sent["signing_token"]
    error(await public.post(f"/public/quotes/{token}/sign", json={"signer_name": "K"}), 409, token="quote_rejected")
    assert (await api.delete(f"/quotes/{sent['id']}")).status_code == 204


async def test_expiry_is_swept_once(
    api: httpx2.AsyncClient,
    public: httpx2.AsyncClient,
    sandbox: SandboxApp,
    monkeypatch: pytest.MonkeyPatch,
    clock: Clock,
) -> None:
    client = await make_client(api)
    sent = await sent_quote(api, client["id"], valid_until="2026-06-10")
    draft = await make_quote(api, client["id"], valid_until="2026-06-10")
    events = capture_events(sandbox, monkeypatch)
    clock.advance(days=7)  # 2026-06-10, last valid day
    assert ok(await public.get(f"/public/quotes/{sent['signing_token']}"))["status"] == "sent"
    clock.advance(days=1)
    token = sent["signing_token"]
    expired = error(
        await public.post(f"/public/quotes/{token}/sign", json={"signer_name": "K"}), 409, token="quote_expired"
    )
    assert "2026-06-10" in expired["message"]
    assert events == []  # the refused request rolled back; the next successful one records the expiry
    assert ok(await api.get(f"/quotes/{sent['id']}"))["status"] == "expired"
    assert names(events) == ["quote.expired"] and events[0][2]["id"] == sent["id"]
    assert ok(await api.get("/quotes", params={"status": "expired"}))["total"] == 1
    assert names(events) == ["quote.expired"]
    error(await api.post(f"/quotes/{draft['id']}/send"), 409, "valid_until", token="quote_expired")
    error(await api.put(f"/quotes/{sent['id']}", json={"valid_until": "2026-07-01"}), 409, token="quote_locked")
