"""Clients: CRUD, search, unique e-mail, linked resources, delete guarded by invoices, events."""

from __future__ import annotations

import httpx2
import pytest

from dversum_sandbox.app import SandboxApp
from dversum_sandbox.util import table_exists
from tests.dversum_sandbox._core_support import capture_events, error, names, ok, project

pytestmark = pytest.mark.anyio

ATAS = {"name": "ATAS Vertriebs GmbH", "email": "kontakt@atas.de", "vat_id": "DE 123 456 789", "country": "de"}


async def test_create_get_update_delete_with_events(
    api: httpx2.AsyncClient, sandbox: SandboxApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = capture_events(sandbox, monkeypatch)
    created = ok(await api.post("/clients", json={**ATAS, "color": "#45E59F", "unknown": 1}), 201)
    assert created["vat_id"] == "DE123456789" and created["country"] == "DE" and created["color"] == "#45e59f"
    assert created["linked"] == {"projects": [], "invoices": [], "quotes": [], "contracts": []}
    assert created["created_at"] == "2026-06-03T08:00:00Z"
    got = ok(await api.get(f"/clients/{created['id']}"))
    assert got == created
    updated = ok(await api.put(f"/clients/{created['id']}", json={"email": "neu@atas.de", "notes": None}))
    assert updated["email"] == "neu@atas.de" and updated["name"] == ATAS["name"]
    cleared = ok(await api.put(f"/clients/{created['id']}", json={"phone": "", "city": "Köln"}))
    assert cleared["phone"] is None and cleared["city"] == "Köln"
    assert (await api.delete(f"/clients/{created['id']}")).status_code == 204
    error(await api.get(f"/clients/{created['id']}"), 404, "not_found")
    assert names(events) == ["client.created", "client.updated", "client.updated", "client.deleted"]
    assert events[0][1]["id"] == created["id"]


async def test_validation_errors(api: httpx2.AsyncClient) -> None:
    error(await api.post("/clients", json={"email": "a@b.de"}), 400, "bad_request", "name")
    error(await api.post("/clients", json={"name": 5}), 422, "validation_failed", "name")
    error(await api.post("/clients", json={"name": "X", "email": "nope"}), 422, "validation_failed", "email")
    error(await api.post("/clients", json={"name": "X", "color": "green"}), 422, "validation_failed", "color")
    error(await api.post("/clients", json={"name": "X", "country": "DEU"}), 422, "validation_failed", "country")
    error(await api.post("/clients", json={"name": "X", "vat_id": "123"}), 422, "validation_failed", "vat_id")
    error(await api.post("/clients", json={"name": "x" * 201}), 422, "validation_failed", "name")
    error(await api.put("/clients/unknown-id", json={"name": "X"}), 404, "not_found")
    error(await api.delete("/clients/unknown-id"), 404)


async def test_duplicate_email_is_409_case_insensitive(api: httpx2.AsyncClient) -> None:
    first = ok(await api.post("/clients", json=ATAS), 201)
    error(
        await api.post("/clients", json={"name": "Copy", "email": "KONTAKT@atas.DE"}), 409, "duplicate_email", "email"
    )
    other = ok(await api.post("/clients", json={"name": "Other", "email": "other@atas.de"}), 201)
    error(await api.put(f"/clients/{other['id']}", json={"email": "Kontakt@Atas.de"}), 409, "duplicate_email", "email")
    # Keeping one's own address is not a conflict.
    ok(await api.put(f"/clients/{first['id']}", json={"email": "KONTAKT@atas.de"}))


async def test_list_search_and_pagination(api: httpx2.AsyncClient) -> None:
    for name, email in [("Müller AG", "info@mueller.de"), ("Schmidt GmbH", "hallo@schmidt.de"), ("Zeta", None)]:
        ok(await api.post("/clients", json={"name": name, "email": email}), 201)
    listing = ok(await api.get("/clients"))
    assert [c["name"] for c in listing["clients"]] == ["Müller AG", "Schmidt GmbH", "Zeta"]
    assert listing["total"] == 3 and listing["page"] == 1 and listing["per_page"] == 25
    assert [c["name"] for c in ok(await api.get("/clients", params={"search": "MÜLLER"}))["clients"]] == ["Müller AG"]
    assert ok(await api.get("/clients", params={"search": "schmidt.DE"}))["total"] == 1
    assert ok(await api.get("/clients", params={"search": "%"}))["total"] == 0
    page2 = ok(await api.get("/clients", params={"per_page": 2, "page": 2}))
    assert [c["name"] for c in page2["clients"]] == ["Zeta"] and page2["total"] == 3
    error(await api.get("/clients", params={"page": 0}), 422, field="page")


async def test_other_org_is_404(api: httpx2.AsyncClient, api_b: httpx2.AsyncClient) -> None:
    mine = ok(await api.post("/clients", json=ATAS), 201)
    error(await api_b.get(f"/clients/{mine['id']}"), 404, "not_found")
    error(await api_b.put(f"/clients/{mine['id']}", json={"name": "Hijack"}), 404)
    error(await api_b.delete(f"/clients/{mine['id']}"), 404)
    assert ok(await api_b.get("/clients"))["total"] == 0
    # The same e-mail is fine in another organization.
    ok(await api_b.post("/clients", json=ATAS), 201)


async def _add_invoice(api: httpx2.AsyncClient, sandbox: SandboxApp, client_id: str) -> None:
    """A sent, overdue invoice for the client: via the API when invoices.py exists, else a bare row."""
    with sandbox.db.transaction():
        real = table_exists(sandbox.db, "invoices")
    if real:
        body = {
            "client_id": client_id,
            "issue_date": "2026-05-01",
            "due_date": "2026-05-15",
            "line_items": [{"description": "Beratung", "quantity": 1, "unit_price_cents": 10000, "tax_rate": 19}],
        }
        invoice = ok(await api.post("/invoices", json=body), 201)
        ok(await api.post(f"/invoices/{invoice['id']}/send"))
        return
    org_id = ok(await api.get("/me"))["organization"]["id"]
    with sandbox.db.transaction():
        sandbox.db.execute(
            "CREATE TABLE invoices (id TEXT PRIMARY KEY, org_id TEXT, client_id TEXT, number TEXT, status TEXT, "
            "kind TEXT, issue_date TEXT, due_date TEXT, total_gross_cents INTEGER, created_at TEXT, updated_at TEXT)"
        )
        sandbox.db.insert(
            "invoices",
            {
                "id": "inv-1",
                "org_id": org_id,
                "client_id": client_id,
                "number": "RE-2026-0001",
                "status": "sent",
                "kind": "invoice",
                "issue_date": "2026-05-01",
                "due_date": "2026-05-15",
                "total_gross_cents": 11900,
                "created_at": "2026-05-01T00:00:00Z",
                "updated_at": "2026-05-01T00:00:00Z",
            },
        )


async def test_linked_resources_and_delete_refused_with_invoices(api: httpx2.AsyncClient, sandbox: SandboxApp) -> None:
    address = {"street": "Hafenweg 2", "postal_code": "20095", "city": "Hamburg"}  # §14 UStG: to send an invoice
    client = ok(await api.post("/clients", json={**ATAS, **address}), 201)
    proj = await project(api, "Website", client_id=client["id"])
    await _add_invoice(api, sandbox, client["id"])
    linked = ok(await api.get(f"/clients/{client['id']}"))["linked"]
    assert linked["projects"] == [{"id": proj["id"], "name": "Website", "status": "active"}]
    assert len(linked["invoices"]) == 1
    invoice = linked["invoices"][0]
    assert invoice["status"] == "overdue" and invoice["total_gross_cents"] == 11900 and invoice["number"]
    error(await api.delete(f"/clients/{client['id']}"), 409, "client_has_invoices")


async def test_delete_unlinks_projects(api: httpx2.AsyncClient) -> None:
    client = ok(await api.post("/clients", json=ATAS), 201)
    proj = await project(api, "Website", client_id=client["id"])
    assert (await api.delete(f"/clients/{client['id']}")).status_code == 204
    assert ok(await api.get(f"/projects/{proj['id']}"))["client_id"] is None
