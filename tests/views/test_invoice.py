"""The invoice and quote preview in headless Chromium: the same totals as the API, the §14
checklist, "Send" through the server's confirmation to a sent, numbered invoice, and the PDF
handed to the host."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.views.conftest import Confirmations, Host, Sandbox, mcp_session, view_host

pytestmark = pytest.mark.anyio


def eur(cents: int) -> str:
    """de-DE currency as Intl formats it (with a no-break space before €)."""
    whole, rest = divmod(abs(cents), 100)
    text = f"{whole:,}".replace(",", ".") + f",{rest:02d}\xa0€"
    return "-" + text if cents < 0 else text


async def _draft(host: Host) -> dict[str, Any]:
    listed = (await host.client.call_tool("list_invoices", {"status": "draft"})).structured_content or {}
    return dict(next(i for i in listed["invoices"] if i["client"] == "ATAS Vertriebs GmbH"))


async def _totals(host: Host) -> dict[str, str]:
    frame = await host.frame()
    return dict(
        await frame.evaluate(
            "() => Object.fromEntries([...document.querySelectorAll('[data-total]')]"
            ".map(td => [td.dataset.total, td.textContent]))"
        )
    )


async def _wait_status(host: Host, text: str) -> str:
    frame = await host.frame()
    await frame.wait_for_function("t => document.getElementById('status').textContent.includes(t)", arg=text)
    return str(await frame.evaluate("document.getElementById('status').textContent"))


async def test_preview_shows_the_api_totals_and_the_checklist(sandbox: Sandbox, browser: Any) -> None:
    async with mcp_session(sandbox) as client, view_host(client, browser) as host:
        invoice = await _draft(host)
        await host.open("get_invoice", {"invoice_id": invoice["id"]})
        await host.view.locator("[data-total=gross]").wait_for()
        api = (await client.call_tool("get_invoice", {"invoice_id": invoice["id"]})).structured_content or {}
        totals = await _totals(host)
        assert totals["net"] == eur(api["total_net_cents"])
        assert totals["gross"] == eur(api["total_gross_cents"])
        for group in api["tax_groups"]:
            assert totals[f"tax-{group['tax_rate']}"] == eur(group["tax_cents"])
        lines = await host.view.locator("table[aria-label=Positionen] tbody tr").count()
        assert lines == len(api["line_items"])
        buyer = await host.view.locator(".party", has_text="An").text_content()
        assert "ATAS Vertriebs GmbH" in buyer and "USt-IdNr.: DE123456789" in buyer  # filled in by get_client
        # The result carries no seller block: the view reads the organization settings (get_organization).
        seller = (await client.call_tool("get_organization", {})).structured_content or {}
        await host.view.locator(".party", has_text=seller["name"]).wait_for()
        von = await host.view.locator(".party", has_text="Von").text_content()
        assert seller["street"] in von and f"{seller['postal_code']} {seller['city']}" in von
        assert f"Steuernummer: {seller['tax_number']}" in von
        leistender = ".checks li[data-check='Name und Anschrift des Leistenden'].ok"
        await host.view.locator(leistender).wait_for()
        # The checklist: the number comes on sending; what this result lacks is named.
        checks = host.view.locator(".checks li")
        assert await checks.count() >= 9
        assert await host.view.locator(".checks li.later").all_text_contents() != []
        assert "Rechnungsnummer" in (await host.view.locator(".checks li.later").all_text_contents())[0]
        assert await host.view.locator(".checks li[data-check='Ausstellungsdatum'].ok").count() == 1
        assert not await host.view.locator("#send").is_hidden()
        host.assert_clean()


async def test_send_asks_for_confirmation_then_shows_the_numbered_invoice(sandbox: Sandbox, browser: Any) -> None:
    answers = Confirmations()
    async with mcp_session(sandbox, confirmations=answers) as client, view_host(client, browser) as host:
        answers.page = host.page  # the host shows the server's question; the user clicks
        invoice = await _draft(host)
        await host.open("get_invoice", {"invoice_id": invoice["id"]})
        await host.view.locator("#send").click()
        question = host.page.locator("#ask-text")
        await question.wait_for()
        asked = str(await question.text_content())
        assert "5.355,00 €" in asked and "ATAS Vertriebs GmbH" in asked  # the server's question, as the host shows it
        await host.page.locator("#ask-no").click()
        await host.view.locator("#status[data-kind=error]").wait_for()  # the refusal, as the server words it
        still = (await client.call_tool("get_invoice", {"invoice_id": invoice["id"]})).structured_content or {}
        assert still["status"] == "draft" and not still.get("number")
        assert not await host.view.locator("#send").is_disabled()  # can be sent again

        await host.view.locator("#send").click()
        await host.page.locator("#ask-yes").click()
        status = await _wait_status(host, "sent")
        sent = (await client.call_tool("get_invoice", {"invoice_id": invoice["id"]})).structured_content or {}
        assert sent["status"] == "sent" and sent["number"].startswith("RE-")
        assert sent["number"] in status
        assert sent["number"] in await host.view.locator("#title").text_content()
        assert await host.view.locator("#badge").text_content() == "sent"
        assert await host.view.locator("#send").is_hidden()
        assert len(answers.messages) == 2
        assert [name for name, _ in host.calls].count("send_invoice") == 2
        host.assert_clean()


async def test_download_pdf_hands_the_file_to_the_host(sandbox: Sandbox, browser: Any) -> None:
    async with mcp_session(sandbox) as client, view_host(client, browser) as host:
        invoice = await _draft(host)
        await host.open("get_invoice", {"invoice_id": invoice["id"]})
        await host.view.locator("#pdf").click()
        await _wait_status(host, "PDF")
        downloads = await host.page.evaluate("window.__downloads")
        (item,) = downloads[0]["contents"]
        assert item["resource"]["mimeType"] == "application/pdf"
        assert base64.b64decode(item["resource"]["blob"])[:5] == b"%PDF-"
        host.assert_clean()


async def test_new_quote_preview(sandbox: Sandbox, browser: Any) -> None:
    async with mcp_session(sandbox) as client, view_host(client, browser) as host:
        clients = (await client.call_tool("list_clients", {"search": "ATAS"})).structured_content or {}
        client_id = clients["clients"][0]["id"]
        lines = [
            {"description": "Konzept", "quantity": 6, "unit": "Std.", "unit_price_cents": 9500, "tax_rate": 19},
            {"description": "Fachbuch", "quantity": 1, "unit": "Stk.", "unit_price_cents": 3990, "tax_rate": 7},
        ]
        created = await host.open("create_quote", {"client_id": client_id, "title": "Relaunch", "line_items": lines})
        quote = created.structured_content or {}
        await host.view.locator("[data-total=gross]").wait_for()
        assert "Angebot" in await host.view.locator("#title").text_content()
        totals = await _totals(host)
        assert totals["gross"] == eur(quote["total_gross_cents"])
        assert totals["tax-7"] == eur(next(g["tax_cents"] for g in quote["tax_groups"] if g["tax_rate"] == 7))
        assert await host.view.locator(".checks").count() == 0  # §14 applies to invoices
        assert await host.view.locator("#pdf").is_hidden()
        await host.view.locator("#send").click()
        await _wait_status(host, "sent")
        sent = (await client.call_tool("get_quote", {"quote_id": quote["id"]})).structured_content or {}
        assert sent["status"] == "sent"
        assert await host.view.locator("#badge").text_content() == "sent"


async def test_checklist_reads_the_richer_invoice_shapes(sandbox: Sandbox, browser: Any) -> None:
    """Seller and buyer blocks, service periods and tax treatments (fields a later API adds) are
    shown and checked when present: a reverse-charge invoice without the buyer's VAT id is flagged."""
    async with mcp_session(sandbox) as client, view_host(client, browser) as host:
        invoice = await _draft(host)
        base = (await client.call_tool("get_invoice", {"invoice_id": invoice["id"]})).structured_content or {}
        seller = {
            "name": "Nordlicht Digital GmbH",
            "street": "Speicherstadt 12",
            "postal_code": "20457",
            "city": "Hamburg",
            "country": "DE",
            "tax_number": "22/815/08150",
        }
        buyer = {
            "name": "Alpen Handel GmbH",
            "street": "Ringstraße 1",
            "postal_code": "1010",
            "city": "Wien",
            "country": "AT",
        }
        richer = {
            **base,
            "seller": seller,
            "buyer": buyer,
            "service_date": None,
            "service_period_start": "2026-11-01",
            "service_period_end": "2026-11-30",
            "tax_treatment": "reverse_charge",
        }
        await host.show("invoice", {"invoice_id": base["id"]}, {"content": [], "structuredContent": richer})
        await host.view.locator(".checks").wait_for()
        missing = await host.view.locator(".checks li.missing").all_text_contents()
        assert len(missing) == 1 and "USt-IdNr. des Leistungsempfängers" in missing[0]
        assert "Steuernummer: 22/815/08150" in await host.view.locator(".party", has_text="Von").text_content()
        assert "Österreich" in await host.view.locator(".party", has_text="An").text_content()
        assert "01.11.2026 – 30.11.2026" in await host.view.locator(".dates").text_content()
        assert "§13b" in await host.view.locator(".note").first.text_content()
        await host.show(
            "invoice",
            {"invoice_id": base["id"]},
            {"content": [], "structuredContent": {**richer, "buyer": {**buyer, "vat_id": "ATU12345678"}}},
        )
        await host.view.locator(".checks li.ok", has_text="USt-IdNr. des Leistungsempfängers").wait_for()
        assert await host.view.locator(".checks li.missing").count() == 0
        assert host.calls == []  # seller and buyer came with the result: nothing fetched


async def test_narrow_pane_keeps_the_document_readable(sandbox: Sandbox, browser: Any) -> None:
    async with mcp_session(sandbox) as client, view_host(client, browser, width=360) as host:
        invoice = await _draft(host)
        await host.open("get_invoice", {"invoice_id": invoice["id"]})
        await host.view.locator("[data-total=gross]").wait_for()
        frame = await host.frame()
        assert await frame.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        assert await host.view.locator("th.opt").first.is_hidden()  # unit price and tax rate give way
        assert await host.view.locator("[data-total=gross]").is_visible()


async def test_checklist_flags_what_sending_refuses_and_names_a_cancellation(sandbox: Sandbox, browser: Any) -> None:
    """A client without an address: the checklist flags the buyer before sending, and "Send" shows
    the server's §14 refusal (the invoice stays a draft). A Stornorechnung shows as such."""
    answers = Confirmations()
    async with mcp_session(sandbox, confirmations=answers) as client, view_host(client, browser) as host:
        customer = (
            await client.call_tool("create_client", {"name": "Ohne Anschrift GmbH", "email": "a@example.com"})
        ).structured_content or {}
        line = {"description": "Beratung", "quantity": 2, "unit": "Std.", "unit_price_cents": 9000, "tax_rate": 19}
        created = await host.open("create_invoice", {"client_id": customer["id"], "line_items": [line]})
        draft = created.structured_content or {}
        check = ".checks li.missing[data-check='Name und Anschrift des Leistungsempfängers']"
        await host.view.locator(check).wait_for()
        await host.view.locator("#send").click()
        await host.view.locator("#status[data-kind=error]").wait_for()
        assert "client.street" in str(await host.view.locator("#status").text_content())
        still = (await client.call_tool("get_invoice", {"invoice_id": draft["id"]})).structured_content or {}
        assert still["status"] == "draft" and not still.get("number")

        invoice = await _draft(host)
        sent = await client.call_tool("send_invoice", {"invoice_id": invoice["id"]})
        assert not sent.is_error, sent.content
        credit = await client.call_tool("create_credit_note", {"invoice_id": invoice["id"]})
        assert not credit.is_error, credit.content
        note = credit.structured_content or {}
        await host.open("get_invoice", {"invoice_id": note["id"]})
        title = str(await host.view.locator("#title").text_content())
        assert title.startswith("Stornorechnung ST-") and note["number"] in title
        assert await host.view.locator("#send").is_hidden()
