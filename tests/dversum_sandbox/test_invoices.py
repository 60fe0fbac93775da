"""Invoices: drafts, GoBD lock, gapless numbers, sending, PDF, credit notes, overdue sweep, events."""

from __future__ import annotations

import io
from typing import Any

import httpx2
import pytest
from pypdf import PdfReader

from dversum_sandbox.app import SandboxApp
from tests.dversum_sandbox._billing_support import (
    LINE,
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


async def test_create_draft_with_defaults_and_totals(
    api: httpx2.AsyncClient, sandbox: SandboxApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await make_client(api)
    events = capture_events(sandbox, monkeypatch)
    lines = [LINE, {"description": "Fachbuch", "quantity": 3, "unit_price_cents": 3333, "tax_rate": 7}]
    inv = ok(await api.post("/invoices", json={"client_id": client["id"], "line_items": lines, "x": 1}), 201)
    assert inv["status"] == "draft" and inv["kind"] == "invoice" and inv["number"] is None
    assert (inv["issue_date"], inv["due_date"], inv["service_date"]) == ("2026-06-03", "2026-06-17", None)
    assert inv["client"] == {"id": client["id"], "name": "ATAS Vertriebs GmbH"}
    assert [li["net_cents"] for li in inv["line_items"]] == [100000, 9999]
    assert inv["tax_groups"] == [
        {"tax_rate": 7, "net_cents": 9999, "tax_cents": 700},
        {"tax_rate": 19, "net_cents": 100000, "tax_cents": 19000},
    ]
    assert (inv["total_net_cents"], inv["total_tax_cents"], inv["total_gross_cents"]) == (109999, 19700, 129699)
    assert (inv["paid_cents"], inv["open_cents"], inv["payment_count"], inv["reminder_level"]) == (0, 129699, 0, 0)
    assert inv["created_at"] == inv["updated_at"] == "2026-06-03T08:00:00Z"
    assert events == [("invoice.created", events[0][1], inv)]
    assert ok(await api.get(f"/invoices/{inv['id']}")) == inv


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"line_items": [LINE]}, 400, "client_id"),
        ({"client_id": "CLIENT"}, 400, "line_items"),
        ({"client_id": "CLIENT", "line_items": []}, 422, "line_items"),
        ({"client_id": "CLIENT", "line_items": [LINE, {**LINE, "tax_rate": "19"}]}, 422, "line_items[1].tax_rate"),
        ({"client_id": "nope-not-there", "line_items": [LINE]}, 422, "client_id"),
        ({"client_id": 5, "line_items": [LINE]}, 422, "client_id"),
        ({"client_id": "CLIENT", "line_items": [LINE], "due_date": "2026-06-01"}, 422, "due_date"),
        ({"client_id": "CLIENT", "line_items": [LINE], "issue_date": "03.06.2026"}, 422, "issue_date"),
        ({"client_id": "CLIENT", "line_items": [LINE], "project_id": "no-such-project"}, 422, "project_id"),
        ({"client_id": "CLIENT", "line_items": [LINE], "notes": 7}, 422, "notes"),
    ],
)
async def test_create_validation(api: httpx2.AsyncClient, body: dict[str, Any], status: int, field: str) -> None:
    client = await make_client(api)
    if body.get("client_id") == "CLIENT":
        body = {**body, "client_id": client["id"]}
    error(await api.post("/invoices", json=body), status, field)


async def test_other_orgs_client_project_and_invoice_are_invisible(
    api: httpx2.AsyncClient, api_b: httpx2.AsyncClient
) -> None:
    theirs = await make_client(api_b)
    error(await api.post("/invoices", json={"client_id": theirs["id"], "line_items": [LINE]}), 422, "client_id")
    mine = await make_client(api)
    project = ok(await api.post("/projects", json={"name": "Relaunch", "client_id": mine["id"]}), 201)
    inv = await make_invoice(api, mine["id"], project_id=project["id"])
    assert inv["project_id"] == project["id"]
    their_project = ok(await api_b.post("/projects", json={"name": "Theirs"}), 201)
    error(await api.put(f"/invoices/{inv['id']}", json={"project_id": their_project["id"]}), 422, "project_id")
    for method, suffix in [("GET", ""), ("PUT", ""), ("DELETE", ""), ("POST", "/send"), ("GET", "/pdf")]:
        error(await api_b.request(method, f"/invoices/{inv['id']}{suffix}", json={}), 404)
    for suffix in ("/payments", "/reminders", "/credit-note"):
        error(await api_b.post(f"/invoices/{inv['id']}{suffix}", json={"amount_cents": 1}), 404)
    assert ok(await api_b.get("/invoices"))["total"] == 0


async def test_list_filters_and_pagination(api: httpx2.AsyncClient, clock: Clock) -> None:
    a, b = await make_client(api), await make_client(api, name="Beta AG", email="b@beta.de")
    first = await make_invoice(api, a["id"], issue_date="2026-05-01", due_date="2026-05-10")
    second = await sent_invoice(api, a["id"], issue_date="2026-06-01")
    third = await make_invoice(api, b["id"], issue_date="2026-06-02")

    def ids(page: dict[str, Any]) -> list[str]:
        return [i["id"] for i in page["invoices"]]

    everything = ok(await api.get("/invoices"))
    assert everything["total"] == 3 and ids(everything) == [third["id"], second["id"], first["id"]]
    assert ids(ok(await api.get("/invoices", params={"status": "draft"}))) == [third["id"], first["id"]]
    assert ids(ok(await api.get("/invoices", params={"status": "sent"}))) == [second["id"]]
    assert ids(ok(await api.get("/invoices", params={"client_id": b["id"]}))) == [third["id"]]
    window = ok(await api.get("/invoices", params={"from": "2026-05-15", "to": "2026-06-01"}))
    assert ids(window) == [second["id"]]
    page = ok(await api.get("/invoices", params={"per_page": 2, "page": 2}))
    assert (page["total"], page["page"], page["per_page"], ids(page)) == (3, 2, 2, [first["id"]])
    error(await api.get("/invoices", params={"status": "open"}), 422, "status")
    error(await api.get("/invoices", params={"from": "yesterday"}), 422, "from")
    error(await api.get("/invoices", params={"from": "2026-06-02", "to": "2026-06-01"}), 422, "to")
    clock.advance(days=20)
    assert ids(ok(await api.get("/invoices", params={"status": "overdue"}))) == [second["id"]]
    assert ok(await api.get("/invoices", params={"status": "sent"}))["total"] == 0


async def test_update_draft_partially(
    api: httpx2.AsyncClient, sandbox: SandboxApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await make_client(api)
    other = await make_client(api, name="Beta AG", email="b@beta.de")
    inv = await make_invoice(api, client["id"], notes="Danke")
    events = capture_events(sandbox, monkeypatch)
    lines = [{**LINE, "quantity": 2.5}]
    updated = ok(
        await api.put(f"/invoices/{inv['id']}", json={"line_items": lines, "client_id": other["id"], "notes": None})
    )
    assert updated["total_net_cents"] == 31250 and updated["total_gross_cents"] == 37188  # 5937,5 → 5938 tax
    assert updated["client"]["name"] == "Beta AG" and updated["notes"] is None
    assert updated["due_date"] == "2026-06-17"
    assert names(events) == ["invoice.updated"]
    error(await api.put(f"/invoices/{inv['id']}", json={"due_date": "2026-06-01"}), 422, "due_date")
    error(
        await api.put(f"/invoices/{inv['id']}", json={"line_items": [{**LINE, "quantity": -1}]}),
        422,
        "line_items[0].quantity",
    )
    error(await api.put(f"/invoices/{inv['id']}", json={"client_id": "unknown-client"}), 422, "client_id")
    same = ok(await api.put(f"/invoices/{inv['id']}", json={}))
    assert same == updated and names(events) == ["invoice.updated"]
    moved = ok(await api.put(f"/invoices/{inv['id']}", json={"issue_date": "2026-06-10", "due_date": "2026-06-30"}))
    assert (moved["issue_date"], moved["due_date"], moved["service_date"]) == ("2026-06-10", "2026-06-30", None)


async def test_delete_draft(api: httpx2.AsyncClient, sandbox: SandboxApp, monkeypatch: pytest.MonkeyPatch) -> None:
    inv = await make_invoice(api, (await make_client(api))["id"])
    events = capture_events(sandbox, monkeypatch)
    response = await api.delete(f"/invoices/{inv['id']}")
    assert response.status_code == 204 and response.content == b""
    assert names(events) == ["invoice.deleted"] and events[0][2]["id"] == inv["id"]
    error(await api.get(f"/invoices/{inv['id']}"), 404)
    error(await api.delete(f"/invoices/{inv['id']}"), 404)


async def test_send_numbers_locks_and_mails(
    api: httpx2.AsyncClient, sandbox: SandboxApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await make_client(api)
    first, second = await make_invoice(api, client["id"]), await make_invoice(api, client["id"])
    events = capture_events(sandbox, monkeypatch)
    sent = ok(await api.post(f"/invoices/{second['id']}/send"))
    assert sent["number"] == "RE-2026-0001" and sent["status"] == "sent" and sent["sent_at"] == "2026-06-03T08:00:00Z"
    assert names(events) == ["invoice.sent"] and events[0][2] == sent
    mail = outbox(sandbox, "invoice")[-1]
    assert mail["to_addr"] == "kontakt@atas.de" and mail["related_id"] == sent["id"]
    assert "RE-2026-0001" in mail["subject"] and "1.190,00 €" in mail["body"] and "17.06.2026" in mail["body"]
    english = ok(await api.post(f"/invoices/{first['id']}/send", headers={"Accept-Language": "en-GB"}))
    assert english["number"] == "RE-2026-0002"
    assert "€1,190.00" in outbox(sandbox, "invoice")[-1]["body"]
    locked = error(await api.put(f"/invoices/{sent['id']}", json={"notes": "x"}), 409, token="invoice_locked")
    assert locked["message"].startswith("Invoice RE-2026-0001 is sent and locked (§14 UStG/GoBD)")
    assert f"POST /invoices/{sent['id']}/credit-note" in locked["message"]  # REST words, not tool names
    error(await api.delete(f"/invoices/{sent['id']}"), 409, token="invoice_locked")
    error(await api.post(f"/invoices/{sent['id']}/send"), 409, token="already_sent")
    assert ok(await api.get(f"/invoices/{sent['id']}"))["number"] == "RE-2026-0001"


async def test_numbers_are_per_year_and_not_consumed_by_failures(api: httpx2.AsyncClient, sandbox: SandboxApp) -> None:
    no_mail = await make_client(api, name="Ohne Mail", email=None)
    inv = await make_invoice(api, no_mail["id"])
    body = error(await api.post(f"/invoices/{inv['id']}/send"), 422, "client.email")
    assert body["message"] == f"Client has no e-mail address; set one with PUT /clients/{no_mail['id']}"
    assert ok(await api.get(f"/invoices/{inv['id']}"))["status"] == "draft"
    client = await make_client(api, name="Mit Mail", email="m@mail.de")
    old = await sent_invoice(api, client["id"], issue_date="2025-12-30")
    new = await sent_invoice(api, client["id"])
    assert (old["number"], new["number"]) == ("RE-2025-0001", "RE-2026-0001")
    ok(await api.put(f"/invoices/{inv['id']}", json={"client_id": client["id"]}))
    assert ok(await api.post(f"/invoices/{inv['id']}/send"))["number"] == "RE-2026-0002"


async def test_numbers_are_per_organization(api: httpx2.AsyncClient, api_b: httpx2.AsyncClient) -> None:
    mine = await sent_invoice(api, (await make_client(api))["id"])
    theirs = await sent_invoice(api_b, (await make_client(api_b))["id"])
    assert mine["number"] == theirs["number"] == "RE-2026-0001"


async def test_pdf_download(api: httpx2.AsyncClient) -> None:
    client = await make_client(api, address="Hafenweg 2", postal_code="20095", city="Hamburg")
    draft = await make_invoice(api, client["id"])
    response = await api.get(f"/invoices/{draft['id']}/pdf")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'attachment; filename="ENTWURF-{draft["id"][:8]}.pdf"'
    assert "ENTWURF" in PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
    sent = ok(await api.post(f"/invoices/{draft['id']}/send", headers={"Accept-Language": "en"}))
    response = await api.get(f"/invoices/{sent['id']}/pdf", headers={"Accept-Language": "de"})
    # GoBD: the document is issued once, in the language it was sent in; every download is those bytes
    assert response.content.startswith(b"%PDF")
    assert response.headers["content-disposition"] == 'attachment; filename="RE-2026-0001.pdf"'
    reader = PdfReader(io.BytesIO(response.content))
    xml = reader.attachments["factur-x.xml"][0]
    assert b"<ram:ID>RE-2026-0001</ram:ID>" in xml and b"<ram:GrandTotalAmount>1190.00</ram:GrandTotalAmount>" in xml
    assert b"<ram:TypeCode>380</ram:TypeCode>" in xml
    page = reader.pages[0].extract_text()
    assert "Invoice RE-2026-0001" in page and "Hamburg" in page and "DRAFT" not in page


async def test_credit_note(
    api: httpx2.AsyncClient, sandbox: SandboxApp, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    client = await make_client(api)
    draft = await make_invoice(api, client["id"])
    error(await api.post(f"/invoices/{draft['id']}/credit-note"), 409, token="invoice_not_sent")
    lines = [LINE, {"description": "Buch", "quantity": 1.5, "unit_price_cents": 3333, "tax_rate": 7}]
    inv = await sent_invoice(api, client["id"], line_items=lines)
    ok(await api.post(f"/invoices/{inv['id']}/payments", json={"amount_cents": 1000}), 201)
    events = capture_events(sandbox, monkeypatch)
    credit = ok(await api.post(f"/invoices/{inv['id']}/credit-note"), 201)
    assert credit["kind"] == "credit_note" and credit["number"] == "ST-2026-0001" and credit["status"] == "sent"
    assert credit["credit_note_of"] == inv["id"] and credit["due_date"] is None
    assert credit["open_cents"] == -1000 and credit["refund_due_cents"] == 1000  # the 10,00 € paid are owed back
    for key in ("total_net_cents", "total_tax_cents", "total_gross_cents"):
        assert credit[key] == -inv[key]
    assert [g["tax_cents"] for g in credit["tax_groups"]] == [-g["tax_cents"] for g in inv["tax_groups"]]
    assert [li["net_cents"] for li in credit["line_items"]] == [-li["net_cents"] for li in inv["line_items"]]
    original = ok(await api.get(f"/invoices/{inv['id']}"))
    assert original["status"] == "credited" and original["credited_by"] == credit["id"] and original["open_cents"] == 0
    assert names(events) == ["invoice.created", "invoice.updated"] and events[1][2]["status"] == "credited"
    assert "Stornorechnung ST-2026-0001" in outbox(sandbox, "credit_note")[-1]["subject"]
    error(await api.post(f"/invoices/{inv['id']}/credit-note"), 409, token="already_credited")
    error(await api.post(f"/invoices/{credit['id']}/credit-note"), 409, token="invoice_locked")
    error(await api.put(f"/invoices/{credit['id']}", json={"notes": "x"}), 409, token="invoice_locked")
    error(await api.put(f"/invoices/{inv['id']}", json={"notes": "x"}), 409, token="invoice_locked")
    error(await api.post(f"/invoices/{inv['id']}/payments", json={"amount_cents": 1}), 409, token="invoice_credited")
    error(await api.post(f"/invoices/{credit['id']}/payments", json={"amount_cents": 1001}), 422, "amount_cents")
    payment = ok(await api.get(f"/invoices/{inv['id']}/payments"))["payments"][0]
    error(await api.delete(f"/invoices/{inv['id']}/payments/{payment['id']}"), 409, token="invoice_credited")
    response = await api.get(f"/invoices/{credit['id']}/pdf")
    xml = PdfReader(io.BytesIO(response.content)).attachments["factur-x.xml"][0]
    assert b"<ram:TypeCode>381</ram:TypeCode>" in xml and b"<ram:IssuerAssignedID>RE-2026-0001" in xml
    clock.advance(days=60)
    assert ok(await api.get(f"/invoices/{credit['id']}"))["status"] == "sent"
    assert "invoice.overdue" not in names(events)


async def test_overdue_is_computed_and_emitted_once(
    api: httpx2.AsyncClient, sandbox: SandboxApp, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    inv = await sent_invoice(api, (await make_client(api))["id"])
    draft = await make_invoice(api, (await make_client(api, name="B", email="b@b.de"))["id"])
    events = capture_events(sandbox, monkeypatch)
    clock.set(clock.now.replace(day=17, hour=21, minute=59))  # 23:59 in Berlin on the due date
    assert ok(await api.get(f"/invoices/{inv['id']}"))["status"] == "sent"
    clock.advance(minutes=2)  # 00:01 Berlin, 22:01 UTC on the 17th
    got = ok(await api.get(f"/invoices/{inv['id']}"))
    assert got["status"] == "overdue"
    assert names(events) == ["invoice.overdue"] and events[0][2]["id"] == inv["id"]
    ok(await api.get("/invoices"))
    ok(await api.get(f"/invoices/{draft['id']}"))
    assert names(events) == ["invoice.overdue"]
    paid = ok(await api.post(f"/invoices/{inv['id']}/payments", json={"amount_cents": 100}), 201)["invoice"]
    assert paid["status"] == "overdue" and paid["open_cents"] == 118900


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("POST", "", {"client_id": ["x"], "line_items": "lots"}),
        (
            "POST",
            "",
            {
                "client_id": "CLIENT",
                "line_items": [{"description": {}, "quantity": {}, "unit_price_cents": [], "tax_rate": None}],
            },
        ),
        ("POST", "", {"client_id": "CLIENT", "line_items": [{**LINE, "quantity": 1e308, "unit_price_cents": 10**30}]}),
        ("POST", "", {"client_id": "CLIENT", "line_items": [LINE], "issue_date": "2026-02-30", "service_date": 3}),
        ("PUT", "/ID", {"line_items": {"a": 1}, "due_date": ["2026-01-01"], "project_id": 3}),
        ("POST", "/ID/payments", {"amount_cents": "12", "paid_at": "soon", "method": "gold"}),
        ("POST", "/ID/payments", {"amount_cents": 10**30}),
        ("POST", "/ID/reminders", {"fee_cents": -1, "message": 5}),
        ("GET", "/ID/payments?page=0", None),
        ("DELETE", "/ID/payments/..%2F..", None),
        ("GET", "?client_id=a%20b", None),
    ],
)
async def test_garbage_is_never_a_500(api: httpx2.AsyncClient, method: str, suffix: str, body: Any) -> None:
    client = await make_client(api)
    inv = await sent_invoice(api, client["id"])
    if isinstance(body, dict) and body.get("client_id") == "CLIENT":
        body = {**body, "client_id": client["id"]}
    response = await api.request(method, "/invoices" + suffix.replace("ID", inv["id"]), json=body)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]
