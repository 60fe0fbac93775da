"""German invoicing law through the MCP tools: the SDK client, the real server, the real sandbox on SQLite.

One test per law point of the invoicing issue: GoBD (a sent invoice never changes), §14 Abs. 4
UStG (sending refuses missing data and names it), §13b (the reverse-charge note on the PDF),
quotes (locked when sent, revised as a new version), Stornorechnung with the refund owed,
numbers rising with dates, and dunning at the organization's intervals and fees.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx2
import pytest
from mcp import Client
from pypdf import PdfReader

from dversum_sandbox.clock import today_berlin
from tests.dversum_mcp.conftest import Harness, structured

pytestmark = pytest.mark.anyio

LINE = {"description": "Beratung", "quantity": 8, "unit_price_cents": 12500, "tax_rate": 19, "unit": "Std."}
ADDRESS = {"street": "Hafenweg 2", "postal_code": "20095", "city": "Hamburg", "country": "DE"}


async def call(client: Client, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    assert not result.is_error, (tool, result.content)
    return structured(result)


async def refused(client: Client, tool: str, args: dict[str, Any]) -> str:
    result = await client.call_tool(tool, args)
    assert result.is_error, (tool, result)
    return " ".join(c.text for c in result.content if c.type == "text")


async def pdf(client: Client, invoice_id: str) -> bytes:
    result = await client.call_tool("download_invoice_pdf", {"invoice_id": invoice_id})
    assert not result.is_error, result.content
    (blob,) = [c for c in result.content if c.type == "resource"]
    return base64.b64decode(blob.resource.blob)


def text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def today() -> date:
    return today_berlin(datetime.now(UTC))  # the harness sandbox runs on the system clock


async def new_client(client: Client, **fields: Any) -> dict[str, Any]:
    body = {"name": "ATAS Vertriebs GmbH", "email": "kontakt@atas.de", "vat_id": "DE123456789", **ADDRESS, **fields}
    return await call(client, "create_client", body)


async def sent_invoice(client: Client, customer: dict[str, Any], **fields: Any) -> dict[str, Any]:
    draft = await call(client, "create_invoice", {"client_id": customer["id"], "line_items": [LINE], **fields})
    return await call(client, "send_invoice", {"invoice_id": draft["id"]})


async def test_a_sent_invoice_stays_byte_identical_after_client_and_organization_edits(harness: Harness) -> None:
    async with harness.mcp() as client:
        customer = await new_client(client)
        sent = await sent_invoice(client, customer, service_date=today().isoformat())
        first = await pdf(client, sent["id"])
        assert sent["document_sha256"] == hashlib.sha256(first).hexdigest()
        assert await pdf(client, sent["id"]) == first  # two downloads, one document
        moved = {"name": "Umbenannt AG", "street": "Neuer Weg 9", "postal_code": "80331", "city": "München"}
        await call(client, "update_client", {"client_id": customer["id"], **moved, "vat_id": "DE999999999"})
        await call(
            client, "update_organization", {"name": "Neuer Name GmbH", "street": "Andere Str. 5", "city": "Köln"}
        )
        assert await pdf(client, sent["id"]) == first
        again = await call(client, "get_invoice", {"invoice_id": sent["id"]})
        # structuredContent names a nested client by its name (its id is already client_id)
        assert again["client"] == "ATAS Vertriebs GmbH" and again["document_sha256"] == sent["document_sha256"]
        page = text(first)
        assert "Hamburg" in page and "München" not in page and "Umbenannt" not in page
        # the next invoice is issued with the new data
        later = await pdf(client, (await sent_invoice(client, customer))["id"])
        assert "Umbenannt AG" in text(later) and "Neuer Name GmbH" in text(later)


async def test_sending_with_missing_section_14_data_names_every_field(harness: Harness) -> None:
    with harness.app.db.transaction():
        harness.app.db.update("orgs", harness.org_id, {"street": None, "vat_id": None, "tax_number": None})
    async with harness.mcp() as client:
        customer = await call(client, "create_client", {"name": "Ohne Adresse GmbH", "email": "a@b.de"})
        draft = await call(client, "create_invoice", {"client_id": customer["id"], "line_items": [LINE]})
        message = await refused(client, "send_invoice", {"invoice_id": draft["id"]})
        for field in (
            "organization.street",
            "organization.tax_number or organization.vat_id",
            "client.street",
            "client.postal_code",
            "client.city",
        ):
            assert field in message, message
        assert "PUT /organization" in message and f"PUT /clients/{customer['id']}" in message
        assert (await call(client, "get_invoice", {"invoice_id": draft["id"]}))["status"] == "draft"
        await call(client, "update_organization", {"street": "Musterstraße 1", "tax_number": "30/123/45678"})
        await call(client, "update_client", {"client_id": customer["id"], **ADDRESS})
        assert (await call(client, "send_invoice", {"invoice_id": draft["id"]}))["number"]
        # reverse charge needs the buyer's VAT id
        abroad = await call(
            client, "create_client", {"name": "Alpenblick GmbH", "email": "o@alpenblick.at", **ADDRESS, "country": "AT"}
        )
        zero = {**LINE, "tax_rate": 0}
        rc = await call(
            client,
            "create_invoice",
            {"client_id": abroad["id"], "line_items": [zero], "tax_treatment": "reverse_charge"},
        )
        assert "client.vat_id" in await refused(client, "send_invoice", {"invoice_id": rc["id"]})


async def test_reverse_charge_pdf_carries_the_13b_note(harness: Harness) -> None:
    async with harness.mcp() as client:
        austria = await new_client(
            client, name="Alpenblick Tourismus GmbH", email="office@alpenblick.at", vat_id="ATU12345678", country="AT"
        )
        mixed = await refused(
            client,
            "create_invoice",
            {"client_id": austria["id"], "line_items": [LINE], "tax_treatment": "reverse_charge"},
        )
        assert "tax_rate" in mixed and "0" in mixed  # no 19 % line on a reverse-charge invoice
        sent = await sent_invoice(client, austria, line_items=[{**LINE, "tax_rate": 0}], tax_treatment="reverse_charge")
        assert sent["total_tax_cents"] == 0 and sent["tax_treatment"] == "reverse_charge"
        page = text(await pdf(client, sent["id"]))
        assert "Steuerschuldnerschaft des Leistungsempfängers" in page and "§ 13b UStG" in page
        assert "ATU12345678" in page and "Leistungsdatum entspricht Rechnungsdatum" in page


async def test_quotes_lock_when_sent_and_revise_to_a_new_version(harness: Harness) -> None:
    async with (
        harness.mcp() as client,
        httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=harness.app), base_url="http://127.0.0.1/api/v1"
        ) as public,
    ):
        customer = await new_client(client)
        quote = await call(client, "create_quote", {"client_id": customer["id"], "line_items": [LINE]})
        sent = await call(client, "send_quote", {"quote_id": quote["id"]})
        assert sent["version"] == 1 and sent["document_sha256"]
        locked = await refused(
            client, "update_quote", {"quote_id": quote["id"], "line_items": [{**LINE, "quantity": 20}]}
        )
        assert "locked" in locked and "revise" in locked
        revision = await call(client, "revise_quote", {"quote_id": quote["id"]})
        assert (revision["number"], revision["version"], revision["status"]) == (quote["number"], 2, "draft")
        bigger = await call(
            client, "update_quote", {"quote_id": revision["id"], "line_items": [{**LINE, "quantity": 20}]}
        )
        old_link = f"/public/quotes/{sent['signing_token']}"
        assert (await public.get(old_link)).status_code == 200  # still live until the new version is sent
        new = await call(client, "send_quote", {"quote_id": revision["id"]})
        assert (await public.get(old_link)).status_code == 410
        assert (await public.post(old_link + "/sign", json={"signer_name": "Eve"})).status_code == 410
        old = await call(client, "get_quote", {"quote_id": quote["id"]})
        assert old["status"] == "superseded" and old["superseded_by"] == revision["id"]
        signed = await call(
            client, "sign_quote", {"signing_token": new["signing_token"], "signer_name": "Thomas Albers"}
        )
        assert signed["signed_version"] == 2 and signed["signed_gross_cents"] == bigger["total_gross_cents"] == 297500


async def test_credit_note_shows_the_refund_and_settles_with_it(harness: Harness) -> None:
    async with harness.mcp() as client:
        sent = await sent_invoice(client, await new_client(client))
        await call(client, "record_invoice_payment", {"invoice_id": sent["id"], "amount_cents": 74208})
        credit = await call(client, "create_credit_note", {"invoice_id": sent["id"]})
        assert credit["number"].startswith("ST-") and credit["open_cents"] == -74208
        assert credit["refund_due_cents"] == 74208
        original = await call(client, "get_invoice", {"invoice_id": sent["id"]})
        assert original["status"] == "credited" and original["credited_by"] == credit["id"]
        page = text(await pdf(client, credit["id"]))
        assert f"Stornorechnung {credit['number']}" in page and "Gutschrift" not in page
        assert f"Rechnungskorrektur: Storno der Rechnung {sent['number']}" in page and "742,08" in page
        too_much = await refused(client, "record_invoice_payment", {"invoice_id": credit["id"], "amount_cents": 74209})
        assert "74208" in too_much
        refund = await call(client, "record_invoice_payment", {"invoice_id": credit["id"], "amount_cents": 74208})
        assert refund["invoice"]["open_cents"] == 0 and refund["invoice"]["status"] == "refunded"


async def test_back_dating_and_future_dates_are_refused(harness: Harness) -> None:
    day = today()
    async with harness.mcp() as client:
        customer = await new_client(client)
        await sent_invoice(client, customer, issue_date=(day - timedelta(days=3)).isoformat())
        late = await call(
            client,
            "create_invoice",
            {"client_id": customer["id"], "line_items": [LINE], "issue_date": (day - timedelta(days=400)).isoformat()},
        )
        message = await refused(client, "send_invoice", {"invoice_id": late["id"]})
        assert "issue_date" in message and day.isoformat() in message and "send_invoice" not in message
        future = (day + timedelta(days=2)).isoformat()
        await call(client, "update_invoice", {"invoice_id": late["id"], "issue_date": future, "due_date": future})
        assert "future" in await refused(client, "send_invoice", {"invoice_id": late["id"]})
        await call(client, "update_invoice", {"invoice_id": late["id"], "issue_date": day.isoformat()})
        sent = await call(client, "send_invoice", {"invoice_id": late["id"]})
        assert sent["number"].startswith(f"RE-{day.year}-")
        paid_early = (day - timedelta(days=1)).isoformat()
        early = await refused(
            client, "record_invoice_payment", {"invoice_id": sent["id"], "amount_cents": 1, "paid_at": paid_early}
        )
        assert "paid_at" in early
        negative = await call(
            client, "create_invoice", {"client_id": customer["id"], "line_items": [{**LINE, "unit_price_cents": -100}]}
        )
        assert "credit note" in await refused(client, "send_invoice", {"invoice_id": negative["id"]})


async def test_dunning_respects_the_organizations_intervals_and_fees(harness: Harness) -> None:
    day = today()
    async with harness.mcp() as client:
        settings = await call(client, "get_organization", {})
        assert settings["dunning_days"] == [7, 14, 14] and settings["dunning_fees_cents"] == [0, 500, 1000]
        customer = await new_client(client)
        issued, due = (day - timedelta(days=30)).isoformat(), (day - timedelta(days=10)).isoformat()
        sent = await sent_invoice(client, customer, issue_date=issued, due_date=due)
        first = await call(client, "send_invoice_reminder", {"invoice_id": sent["id"]})
        assert (first["level"], first["fee_cents"]) == (1, 0)
        early = await refused(client, "send_invoice_reminder", {"invoice_id": sent["id"]})
        assert "14 days" in early and (day + timedelta(days=14)).isoformat() in early
        await call(client, "update_organization", {"dunning_days": [7, 0, 0], "dunning_fees_cents": [0, 250, 900]})
        second = await call(client, "send_invoice_reminder", {"invoice_id": sent["id"]})
        assert (second["level"], second["fee_cents"], second["open_cents"]) == (2, 250, 119250)
        young = await sent_invoice(
            client, customer, issue_date=day.isoformat(), due_date=(day - timedelta(days=0)).isoformat()
        )
        assert "not overdue" in await refused(client, "send_invoice_reminder", {"invoice_id": young["id"]})


async def test_organization_settings_round_trip_and_validation(harness: Harness) -> None:
    async with harness.mcp() as client:
        bad = await refused(client, "update_organization", {"iban": "DE00 1234 5678 9012 3456 78"})
        assert "iban" in bad
        assert "tax_number" in await refused(client, "update_organization", {"tax_number": "12"})
        changed = await call(
            client,
            "update_organization",
            {"iban": "DE89 3704 0044 0532 0130 00", "bic": "cobadeffxxx", "small_business": True},
        )
        assert changed["iban"] == "DE89370400440532013000" and changed["bic"] == "COBADEFFXXX"
        assert changed["small_business"] is True
        assert json.dumps(await call(client, "get_organization", {})) == json.dumps(changed)
