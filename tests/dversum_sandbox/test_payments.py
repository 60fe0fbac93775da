"""Payments and dunning on invoices: status recomputation, overpayment, concurrency, reminder levels."""

from __future__ import annotations

import asyncio

import httpx2
import pytest

from dversum_sandbox.app import SandboxApp
from tests.dversum_sandbox._billing_support import (
    capture_events,
    error,
    make_client,
    make_invoice,
    names,
    ok,
    outbox,
    sent_invoice,
)
from tests.dversum_sandbox.conftest import Clock

pytestmark = pytest.mark.anyio


async def test_partial_then_full_payment(
    api: httpx2.AsyncClient, sandbox: SandboxApp, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    inv = await sent_invoice(api, (await make_client(api))["id"])  # 1.190,00 €
    events = capture_events(sandbox, monkeypatch)
    first = ok(await api.post(f"/invoices/{inv['id']}/payments", json={"amount_cents": 19000, "reference": "TX1"}), 201)
    assert first["payment"]["amount_cents"] == 19000 and first["payment"]["method"] == "transfer"
    assert first["payment"]["paid_at"] == "2026-06-03" and first["payment"]["reference"] == "TX1"
    assert first["invoice"]["status"] == "partially_paid" and first["invoice"]["open_cents"] == 100000
    assert first["invoice"]["payment_count"] == 1
    over = error(await api.post(f"/invoices/{inv['id']}/payments", json={"amount_cents": 100001}), 422, "amount_cents")
    assert "100000" in over["message"] and "1.000,00 €" in over["message"]
    error(await api.post(f"/invoices/{inv['id']}/payments", json={"amount_cents": 1, "paid_at": "2026-06-05"}), 422)
    clock.advance(days=2)  # a payment is dated between issue date and today
    body = {"amount_cents": 100000, "paid_at": "2026-06-05", "method": "paypal"}
    second = ok(await api.post(f"/invoices/{inv['id']}/payments", json=body), 201)
    assert second["invoice"]["status"] == "paid" and second["invoice"]["open_cents"] == 0
    assert second["invoice"]["paid_cents"] == 119000
    assert names(events) == ["invoice.partially_paid", "invoice.paid"]
    assert events[1][2] == second["invoice"]
    error(await api.post(f"/invoices/{inv['id']}/payments", json={"amount_cents": 1}), 409, token="already_paid")
    listed = ok(await api.get(f"/invoices/{inv['id']}/payments"))
    assert listed["total"] == 2 and [p["paid_at"] for p in listed["payments"]] == ["2026-06-03", "2026-06-05"]
    assert set(listed) == {"payments", "total", "page", "per_page"}


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({}, 400, "amount_cents"),
        ({"amount_cents": 0}, 422, "amount_cents"),
        ({"amount_cents": 12.5}, 422, "amount_cents"),
        ({"amount_cents": "100"}, 422, "amount_cents"),
        ({"amount_cents": 100, "method": "bitcoin"}, 422, "method"),
        ({"amount_cents": 100, "paid_at": "2026-13-01"}, 422, "paid_at"),
        ({"amount_cents": 100, "reference": 5}, 422, "reference"),
    ],
)
async def test_payment_validation(api: httpx2.AsyncClient, body: dict[str, object], status: int, field: str) -> None:
    inv = await sent_invoice(api, (await make_client(api))["id"])
    error(await api.post(f"/invoices/{inv['id']}/payments", json=body), status, field)


async def test_draft_takes_no_payment(api: httpx2.AsyncClient) -> None:
    draft = await make_invoice(api, (await make_client(api))["id"])
    body = error(await api.post(f"/invoices/{draft['id']}/payments", json={"amount_cents": 100}), 409)
    assert "send it first" in body["message"]


async def test_delete_payment_recomputes_status(
    api: httpx2.AsyncClient, api_b: httpx2.AsyncClient, sandbox: SandboxApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    inv = await sent_invoice(api, (await make_client(api))["id"])
    url = f"/invoices/{inv['id']}/payments"
    small = ok(await api.post(url, json={"amount_cents": 19000}), 201)["payment"]
    rest = ok(await api.post(url, json={"amount_cents": 100000}), 201)["payment"]
    events = capture_events(sandbox, monkeypatch)
    error(await api_b.delete(f"{url}/{rest['id']}"), 404)
    assert (await api.delete(f"{url}/{rest['id']}")).status_code == 204
    got = ok(await api.get(f"/invoices/{inv['id']}"))
    assert (got["status"], got["paid_cents"], got["open_cents"]) == ("partially_paid", 19000, 100000)
    assert names(events) == ["invoice.updated"]
    assert (await api.delete(f"{url}/{small['id']}")).status_code == 204
    assert ok(await api.get(f"/invoices/{inv['id']}"))["status"] == "sent"
    error(await api.delete(f"{url}/{small['id']}"), 404)
    other = await sent_invoice(api, (await make_client(api, name="B", email="b@b.de"))["id"])
    moved = ok(await api.post(f"/invoices/{other['id']}/payments", json={"amount_cents": 5}), 201)["payment"]
    error(await api.delete(f"{url}/{moved['id']}"), 404)


async def test_concurrent_payments_never_overpay(api: httpx2.AsyncClient) -> None:
    client = await make_client(api)
    line = {"description": "Kleinkram", "quantity": 1, "unit_price_cents": 50, "tax_rate": 0}
    inv = await sent_invoice(api, client["id"], line_items=[line])
    url = f"/invoices/{inv['id']}/payments"
    responses = await asyncio.gather(*(api.post(url, json={"amount_cents": 1}) for _ in range(100)))
    codes = sorted(r.status_code for r in responses)
    assert codes.count(201) == 50 and len(codes) == 100
    assert all(code in (409, 422) for code in codes[50:])
    final = ok(await api.get(f"/invoices/{inv['id']}"))
    assert (final["paid_cents"], final["open_cents"], final["status"], final["payment_count"]) == (50, 0, "paid", 50)


async def test_reminders_climb_three_levels(
    api: httpx2.AsyncClient, sandbox: SandboxApp, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    inv = await sent_invoice(api, (await make_client(api, contact_person="Frau Berg"))["id"])
    url = f"/invoices/{inv['id']}/reminders"
    early = error(await api.post(url, json={}), 409, token="not_overdue")
    assert "2026-06-17" in early["message"]
    clock.advance(days=15)
    events = capture_events(sandbox, monkeypatch)
    error(await api.post(url, json={}), 409, token="too_early")  # default: due date + 7 days
    clock.advance(days=7)
    first = ok(await api.post(url, json={}), 201)
    assert (first["level"], first["title"], first["fee_cents"], first["open_cents"]) == (
        1,
        "Zahlungserinnerung",
        0,
        119000,
    )
    assert names(events) == ["invoice.overdue", "reminder.sent"] and events[1][2] == first
    clock.advance(days=14)  # default interval between the levels
    mail = outbox(sandbox, "reminder")[-1]
    assert mail["subject"] == "Zahlungserinnerung zur Rechnung RE-2026-0001" and "Frau Berg" in mail["body"]
    assert mail["id"] == first["email_id"] and "1.190,00 €" in mail["body"]
    second = ok(await api.post(url, json={"fee_cents": 500, "message": "Bitte umgehend zahlen."}), 201)
    assert (second["level"], second["title"], second["open_cents"]) == (2, "1. Mahnung", 119500)
    assert "1.195,00 €" in outbox(sandbox, "reminder")[-1]["body"]
    clock.advance(days=14)
    third = ok(await api.post(url, json={"fee_cents": 500}, headers={"Accept-Language": "en"}), 201)
    assert third["title"] == "2. Mahnung" and outbox(sandbox, "reminder")[-1]["subject"].startswith("Second dunning")
    error(await api.post(url, json={}), 409, token="max_reminder_level")
    got = ok(await api.get(f"/invoices/{inv['id']}"))
    assert (got["reminder_level"], got["fees_cents"], got["open_cents"]) == (3, 1000, 120000)
    listed = ok(await api.get(url))
    assert [r["level"] for r in listed["reminders"]] == [1, 2, 3] and listed["total"] == 3
    paid = ok(await api.post(f"/invoices/{inv['id']}/payments", json={"amount_cents": 120000}), 201)
    assert paid["invoice"]["status"] == "paid"


async def test_reminder_refusals(api: httpx2.AsyncClient, clock: Clock) -> None:
    client = await make_client(api)
    draft = await make_invoice(api, client["id"])
    error(await api.post(f"/invoices/{draft['id']}/reminders", json={}), 409, token="invoice_not_sent")
    paid = await sent_invoice(api, client["id"])
    ok(await api.post(f"/invoices/{paid['id']}/payments", json={"amount_cents": 119000}), 201)
    mute = await make_client(api, name="Stumm", email=None)
    silent = await make_invoice(api, mute["id"])
    ok(await api.put(f"/clients/{mute['id']}", json={"email": "s@stumm.de"}))
    silent = ok(await api.post(f"/invoices/{silent['id']}/send"))
    ok(await api.put(f"/clients/{mute['id']}", json={"email": None}))
    clock.advance(days=30)
    error(await api.post(f"/invoices/{paid['id']}/reminders", json={}), 409, token="already_paid")
    error(await api.post(f"/invoices/{silent['id']}/reminders", json={}), 422, "client.email")
    error(await api.post(f"/invoices/{silent['id']}/reminders", json={"fee_cents": -5}), 422, "fee_cents")
    assert ok(await api.get(f"/invoices/{silent['id']}/reminders"))["total"] == 0
