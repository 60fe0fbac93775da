"""Tax treatment, service date or period, and the §14 send checks at the REST level."""

from __future__ import annotations

import httpx2
import pytest

from tests.dversum_sandbox._billing_support import LINE, error, make_client, make_invoice, ok

pytestmark = pytest.mark.anyio

ZERO = {**LINE, "tax_rate": 0}


async def test_treatment_fields_are_read_and_checked(api: httpx2.AsyncClient) -> None:
    client = await make_client(api)
    error(
        await api.post("/invoices", json={"client_id": client["id"], "line_items": [ZERO], "tax_treatment": "x"}), 422
    )
    body = {"client_id": client["id"], "line_items": [ZERO], "tax_treatment": "exempt"}
    error(await api.post("/invoices", json=body), 422, "exemption_reason")
    exempt = ok(await api.post("/invoices", json={**body, "exemption_reason": "§ 4 Nr. 14 UStG"}), 201)
    assert (exempt["tax_treatment"], exempt["exemption_reason"]) == ("exempt", "§ 4 Nr. 14 UStG")
    error(await api.put(f"/invoices/{exempt['id']}", json={"line_items": [LINE]}), 422, "line_items[0].tax_rate")
    back = ok(await api.put(f"/invoices/{exempt['id']}", json={"tax_treatment": "standard", "line_items": [LINE]}))
    assert (back["tax_treatment"], back["exemption_reason"], back["total_tax_cents"]) == ("standard", None, 19000)
    reason = {"client_id": client["id"], "line_items": [LINE], "exemption_reason": "x"}
    error(await api.post("/invoices", json=reason), 422, "exemption_reason")


async def test_service_period_or_date(api: httpx2.AsyncClient) -> None:
    client = await make_client(api)
    base = {"client_id": client["id"], "line_items": [LINE]}
    error(await api.post("/invoices", json={**base, "service_period_start": "2026-05-01"}), 422, "service_period_end")
    wrong = {"service_period_start": "2026-05-31", "service_period_end": "2026-05-01"}
    error(await api.post("/invoices", json={**base, **wrong}), 422, "service_period_end")
    period = {"service_period_start": "2026-05-01", "service_period_end": "2026-05-31"}
    both = {**base, **period, "service_date": "2026-05-02"}
    error(await api.post("/invoices", json=both), 422, "service_date")
    inv = ok(await api.post("/invoices", json={**base, **period}), 201)
    dated = ok(await api.put(f"/invoices/{inv['id']}", json={"service_date": "2026-05-20"}))
    assert (dated["service_date"], dated["service_period_start"], dated["service_period_end"]) == (
        "2026-05-20",
        None,
        None,
    )


async def test_small_business_and_cross_border_checks(api: httpx2.AsyncClient) -> None:
    german = await make_client(api)
    ok(await api.put("/organization", json={"small_business": True}))
    error(await make_invoice_raw(api, german["id"], [LINE]), 422, "line_items[0].tax_rate")
    body = {"client_id": german["id"], "line_items": [ZERO], "tax_treatment": "reverse_charge"}
    error(await api.post("/invoices", json=body), 422, "tax_treatment")
    small = await make_invoice(api, german["id"], line_items=[ZERO])
    sent = ok(await api.post(f"/invoices/{small['id']}/send"))
    assert sent["total_tax_cents"] == 0 and sent["number"] == "RE-2026-0001"
    ok(await api.put("/organization", json={"small_business": False}))
    ic = await make_invoice(api, german["id"], line_items=[ZERO], tax_treatment="intra_community_supply")
    error(await api.post(f"/invoices/{ic['id']}/send"), 422, "client.country")  # not to a German buyer
    gone = {"street": None, "postal_code": None, "city": None}
    organization = ok(await api.put("/organization", json={**gone, "vat_id": None}))
    assert organization["street"] is None and organization["tax_number"] == "30/123/45678"
    draft = await make_invoice(api, german["id"])
    failed = error(await api.post(f"/invoices/{draft['id']}/send"), 422)
    assert failed["field"] == "organization.street, organization.postal_code, organization.city"
    assert "send_invoice" not in failed["message"] and failed["message"].count("PUT /organization") == 3
    export = await make_invoice(api, german["id"], line_items=[ZERO], tax_treatment="export")
    ok(await api.put("/organization", json={"street": "Musterstraße 1", "postal_code": "10115", "city": "Berlin"}))
    assert error(await api.post(f"/invoices/{export['id']}/send"), 422)["field"] == "organization.vat_id"


async def make_invoice_raw(api: httpx2.AsyncClient, client_id: str, lines: list[dict[str, object]]) -> httpx2.Response:
    return await api.post("/invoices", json={"client_id": client_id, "line_items": lines})
