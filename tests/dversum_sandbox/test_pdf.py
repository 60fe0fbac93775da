"""Invoice PDF and ZUGFeRD XML: XSD-valid EN 16931 CII, embedded as factur-x.xml, PDF/A-3B markers."""

from __future__ import annotations

import io
import logging
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import facturx  # type: ignore[import-untyped]
import pytest
from pypdf import PdfReader

from dversum_sandbox.billing import pdf
from dversum_sandbox.billing.money import negate_lines, parse_line_items
from dversum_sandbox.billing.zugferd import build_cii, unit_code

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
}
SELLER = {
    "name": "Muster GmbH",
    "address": "Musterstr. 1\n10115 Berlin",
    "vat_id": "DE111111111",
    "iban": "DE02120300000000202051",
}
BUYER = {
    "name": "ATAS Vertriebs GmbH",
    "email": "kontakt@atas.de",
    "address": "Hafenweg 2",
    "postal_code": "20095",
    "city": "Hamburg",
    "country": "DE",
    "vat_id": "DE123456789",
}


def invoice(kind: str = "invoice", number: str | None = "RE-2026-0001") -> dict[str, Any]:
    totals = parse_line_items(
        [
            {"description": "Beratung", "quantity": 8, "unit_price_cents": 12500, "tax_rate": 19, "unit": "Std."},
            {"description": "Fachbuch „Steuern“ 😀 中文", "quantity": 3, "unit_price_cents": 3333, "tax_rate": 7},
            {"description": "Treuerabatt", "quantity": 1, "unit_price_cents": -5000, "tax_rate": 19},
        ]
    )
    if kind == "credit_note":
        totals = negate_lines(totals.line_items)
    return {
        "kind": kind,
        "number": number,
        "issue_date": "2026-06-03",
        "due_date": None if kind == "credit_note" else "2026-06-17",
        "service_date": "2026-05-29",
        "notes": "Vielen Dank für Ihren Auftrag.",
        "line_items": totals.line_items,
        "tax_groups": totals.tax_groups,
        "total_net_cents": totals.total_net_cents,
        "total_tax_cents": totals.total_tax_cents,
        "total_gross_cents": totals.total_gross_cents,
    }


def text(root: ET.Element, path: str) -> str:
    node = root.find(path, NS)
    assert node is not None and node.text is not None, path
    return node.text


def test_invoice_xml_is_valid_en16931_with_totals() -> None:
    xml = build_cii(invoice(), SELLER, BUYER)
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
    root = ET.fromstring(xml)
    assert text(root, ".//ram:GuidelineSpecifiedDocumentContextParameter/ram:ID") == "urn:cen.eu:en16931:2017"
    assert text(root, "rsm:ExchangedDocument/ram:ID") == "RE-2026-0001"
    assert text(root, "rsm:ExchangedDocument/ram:TypeCode") == "380"
    totals = ".//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:"
    assert text(root, totals + "LineTotalAmount") == "1049.99"
    assert text(root, totals + "TaxTotalAmount") == "187.50"  # 19 % of 950,00 + 7 % of 99,99 (6,9993 → 7,00)
    assert text(root, totals + "GrandTotalAmount") == "1237.49"
    lines = root.findall(".//ram:IncludedSupplyChainTradeLineItem", NS)
    assert [text(li, ".//ram:BilledQuantity") for li in lines] == ["8", "3", "-1"]  # discount: price stays positive
    assert [text(li, ".//ram:ChargeAmount") for li in lines] == ["125.00", "33.33", "50.00"]
    assert text(root, ".//ram:SellerTradeParty//ram:ID") == "DE111111111"
    assert text(root, ".//ram:IBANID") == "DE02120300000000202051"


def test_credit_note_xml_is_381_with_positive_amounts_and_reference() -> None:
    xml = build_cii(
        invoice("credit_note", "GS-2026-0001"), SELLER, BUYER, {"number": "RE-2026-0001", "issue_date": "2026-06-01"}
    )
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
    root = ET.fromstring(xml)
    assert text(root, "rsm:ExchangedDocument/ram:TypeCode") == "381"
    assert text(root, ".//ram:GrandTotalAmount") == "1237.49"
    assert text(root, ".//ram:InvoiceReferencedDocument/ram:IssuerAssignedID") == "RE-2026-0001"


def test_control_characters_do_not_break_the_xml() -> None:
    doc = invoice()
    doc["line_items"][0]["description"] = "Bad\x00\x07 <chars> & more"
    xml = build_cii(doc, SELLER, {"name": "X", "country": "germany"})
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
    assert b"Bad &lt;chars&gt; &amp; more" in xml


def test_unit_codes() -> None:
    assert [unit_code(u) for u in ("Std.", "Tage", "Stk.", "pauschal", None, "Eimer")] == [
        "HUR",
        "DAY",
        "H87",
        "LS",
        "C62",
        "C62",
    ]


def attachments(data: bytes) -> dict[str, list[bytes]]:
    return dict(PdfReader(io.BytesIO(data)).attachments)


def test_pdf_embeds_the_xml_as_factur_x() -> None:
    doc = invoice()
    data = pdf.render_invoice_pdf(doc, SELLER, BUYER, "de", build_cii(doc, SELLER, BUYER))
    assert data.startswith(b"%PDF")
    files = attachments(data)
    assert list(files) == ["factur-x.xml"]
    xml = files["factur-x.xml"][0]
    assert b"RE-2026-0001" in xml and b"<ram:GrandTotalAmount>1237.49</ram:GrandTotalAmount>" in xml
    _, found = facturx.get_xml_from_pdf(data, check_xsd=True)
    assert found == xml
    reader = PdfReader(io.BytesIO(data))
    page = reader.pages[0].extract_text()
    for expected in (
        "RE-2026-0001",
        "Muster GmbH",
        "ATAS Vertriebs GmbH",
        "Leistungsdatum",
        "29.05.2026",
        "17.06.2026",
    ):
        assert expected in page
    everything = "".join(p.extract_text() for p in reader.pages)
    assert "1.237,49" in everything and "USt 19 % auf 950,00" in everything and "DE111111111" in everything


@pytest.mark.skipif(not pdf.pdfa_available(), reason="no TrueType font to embed on this machine")
def test_pdf_a3_markers(caplog: pytest.LogCaptureFixture) -> None:
    doc = invoice()
    data = pdf.render_invoice_pdf(doc, SELLER, BUYER, "en", build_cii(doc, SELLER, BUYER))
    assert "missing the following glyphs" not in caplog.text  # 中文 became "??", no .notdef glyph
    reader = PdfReader(io.BytesIO(data))
    root: Any = reader.trailer["/Root"]
    assert "/OutputIntents" in root and "/AF" in root
    assert reader.trailer.get("/ID") is not None
    xmp = root["/Metadata"].get_object().get_data()
    assert b"<pdfaid:part>3</pdfaid:part>" in xmp and b"<pdfaid:conformance>B</pdfaid:conformance>" in xmp
    assert b"EN 16931" in xmp
    resources: Any = reader.pages[0]["/Resources"]
    fonts = resources["/Font"]
    assert all("/FontFile2" in f.get_object()["/DescendantFonts"][0]["/FontDescriptor"] for f in fonts.values())


def test_pdf_writes_no_font_subsetting_chatter(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)  # what `DVERSUM_LOG_LEVEL=INFO` (the default) lets through
    doc = invoice()
    pdf.render_invoice_pdf(doc, SELLER, BUYER, "de", build_cii(doc, SELLER, BUYER))
    assert not [r.getMessage() for r in caplog.records if r.name.startswith("fontTools")]


def test_draft_pdf_is_marked_and_has_no_xml() -> None:
    data = pdf.render_invoice_pdf(invoice(number=None), SELLER, BUYER, "de", None)
    assert data.startswith(b"%PDF")
    assert attachments(data) == {}
    assert "ENTWURF" in PdfReader(io.BytesIO(data)).pages[0].extract_text()


def test_core_font_fallback_still_renders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf, "font_files", lambda: None)
    doc = invoice("credit_note", "ST-2026-0001")
    data = pdf.render_invoice_pdf(
        doc, SELLER, BUYER, "en", build_cii(doc, SELLER, BUYER), {"number": "RE-1", "issue_date": "2026-06-01"}
    )
    assert data.startswith(b"%PDF") and list(attachments(data)) == ["factur-x.xml"]
    page = PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert "Cancellation invoice ST-2026-0001" in page and "EUR" in page and "RE-1" in page


def test_unusable_font_override_is_skipped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bogus = tmp_path / "broken.ttf"
    bogus.write_bytes(b"not a font")
    monkeypatch.setenv("DVERSUM_SANDBOX_PDF_FONT", str(bogus))
    pdf.font_files.cache_clear()
    try:
        assert pdf.font_files() != (str(bogus), str(bogus))
    finally:
        pdf.font_files.cache_clear()
