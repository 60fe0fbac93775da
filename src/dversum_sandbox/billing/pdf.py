"""The invoice PDF: §14 UStG layout with fpdf2, made PDF/A-3B with the ZUGFeRD XML embedded by factur-x.

PDF/A needs embedded fonts, so the layout uses a Unicode TrueType font found on the machine
(DejaVu Sans, Liberation Sans, Arial; `DVERSUM_SANDBOX_PDF_FONT` names another). Without one it
falls back to the PDF core font Helvetica: still a valid PDF with the XML attached, but not
PDF/A (`pdfa_available()` tells which). Drafts carry an ENTWURF/DRAFT marker and no XML.
Printed per §14 Abs. 4 UStG: seller and buyer with full addresses, the seller's tax number
and/or VAT id, number, dates, the service date or period (or "Leistungsdatum entspricht
Rechnungsdatum"), lines, net per rate, tax, and the note the tax treatment requires (§13b
reverse charge, tax-free supplies, §19). Cancellations are titled Stornorechnung.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import facturx  # type: ignore[import-untyped]
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
from fpdf import FPDF

from dversum_sandbox.billing.invoice_store import format_date
from dversum_sandbox.billing.money import format_cents, format_decimal
from dversum_sandbox.billing.tax import treatment
from dversum_sandbox.billing.zugferd import FACTURX_LEVEL
from dversum_sandbox.db import Row

__all__ = ["font_files", "pdfa_available", "render_invoice_pdf"]

# fpdf2 subsets the embedded font with fontTools, which logs ~75 INFO lines per PDF ("Glyph names: …").
logging.getLogger("fontTools.subset").setLevel(logging.WARNING)

_FONT_CANDIDATES = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/TTF/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf"),
    (
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    ),
    ("/Library/Fonts/Arial.ttf", "/Library/Fonts/Arial Bold.ttf"),
    ("/System/Library/Fonts/Supplemental/Arial.ttf", "/System/Library/Fonts/Supplemental/Arial Bold.ttf"),
    ("C:/Windows/Fonts/arial.ttf", "C:/Windows/Fonts/arialbd.ttf"),
)

_COLUMNS = {
    "de": ("Pos.", "Beschreibung", "Menge", "Einheit", "Einzelpreis", "USt", "Netto"),
    "en": ("No.", "Description", "Qty", "Unit", "Unit price", "VAT", "Net"),
}
_TEXT: dict[str, dict[str, str]] = {
    "de": {
        "invoice": "Rechnung",
        "credit_note": "Stornorechnung",
        "draft": "ENTWURF",
        "draft_note": "ENTWURF – keine gültige Rechnung, noch nicht versendet",
        "number": "Rechnungsnummer",
        "credit_number": "Stornonummer",
        "issue_date": "Rechnungsdatum",
        "service_date": "Leistungsdatum",
        "service_period": "Leistungszeitraum",
        "same_day": "Leistungsdatum entspricht Rechnungsdatum.",
        "due_date": "Fällig am",
        "customer_vat": "USt-IdNr. Kunde",
        "refers_to": "Rechnungskorrektur: Storno der Rechnung {number} vom {date}",
        "refund": "Auf die stornierte Rechnung bereits gezahlt: {amount}. Diesen Betrag erstatten wir Ihnen.",
        "tax_number": "Steuernummer",
        "register": "Registergericht",
        "directors": "Geschäftsführung",
        "net": "Nettobetrag",
        "tax": "USt {rate} % auf {net}",
        "gross": "Gesamtbetrag",
        "pay": "Bitte überweisen Sie den Gesamtbetrag bis zum {due} unter Angabe der Nummer {number}.",
        "pay_iban": "Bitte überweisen Sie den Gesamtbetrag bis zum {due} auf IBAN {iban}, Verwendungszweck {number}.",
        "vat_id": "USt-IdNr.",
        "no_tax": "Umsatzsteuer",
    },
    "en": {
        "invoice": "Invoice",
        "credit_note": "Cancellation invoice",
        "draft": "DRAFT",
        "draft_note": "DRAFT – not a valid invoice, not sent yet",
        "number": "Invoice number",
        "credit_number": "Cancellation number",
        "issue_date": "Invoice date",
        "service_date": "Service date",
        "service_period": "Service period",
        "same_day": "The service date is the invoice date.",
        "due_date": "Due date",
        "customer_vat": "Customer VAT ID",
        "refers_to": "Invoice correction: cancels invoice {number} of {date}",
        "refund": "Already paid on the cancelled invoice: {amount}. We will refund this amount.",
        "tax_number": "Tax number",
        "register": "Register court",
        "directors": "Managing directors",
        "net": "Net amount",
        "tax": "VAT {rate} % on {net}",
        "gross": "Total amount",
        "pay": "Please pay the total by {due}, quoting {number}.",
        "pay_iban": "Please transfer the total by {due} to IBAN {iban}, reference {number}.",
        "vat_id": "VAT ID",
        "no_tax": "VAT",
    },
}


@cache
def _coverage(regular: str, bold: str) -> frozenset[int]:
    """Code points both font files can draw; others would print the .notdef glyph PDF/A forbids."""
    maps = [TTFont(path, lazy=True).getBestCmap() or {} for path in (regular, bold)]
    return frozenset(maps[0]).intersection(maps[1])


@cache
def font_files() -> tuple[str, str] | None:
    """(regular, bold) TrueType files to embed, or None when the machine has none we know."""
    override = os.environ.get("DVERSUM_SANDBOX_PDF_FONT")
    candidates: list[tuple[str, str]] = [(override, override)] if override else []
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.origin:
        ttf = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf"
        candidates.append((str(ttf / "DejaVuSans.ttf"), str(ttf / "DejaVuSans-Bold.ttf")))
    candidates.extend(_FONT_CANDIDATES)
    for regular, bold in candidates:
        if not Path(regular).is_file():
            continue
        pair = (regular, bold if Path(bold).is_file() else regular)
        try:
            _coverage(*pair)
        except Exception:  # noqa: S112 - not a usable font file: try the next one
            continue
        return pair
    return None


def pdfa_available() -> bool:
    return font_files() is not None


class _Document(FPDF):
    """FPDF with the chosen font; text is reduced to Latin-1 when only the core font is there."""

    def __init__(self) -> None:
        fonts = font_files()
        super().__init__(format="A4", enforce_compliance="PDFA_3B" if fonts else None)
        self.unicode = fonts is not None
        self.coverage = _coverage(*fonts) if fonts else frozenset()
        if fonts:
            self.add_font("body", "", fonts[0])
            self.add_font("body", "B", fonts[1])
            self.body_family = "body"
        else:
            self.body_family = "helvetica"
        self.set_margins(20, 18, 20)
        self.set_auto_page_break(True, margin=22)
        self.footer_text = ""

    def clean(self, text: str) -> str:
        text = "".join(ch for ch in text if ch in "\n\t" or ch.isprintable())
        if self.unicode:
            return "".join(ch if ord(ch) in self.coverage or ch in "\n\t" else "?" for ch in text)
        return text.replace("€", "EUR").replace("–", "-").encode("latin-1", "replace").decode("latin-1")

    def put(self, text: str, size: float = 9, bold: bool = False, height: float = 4.5, align: str = "L") -> None:
        self.set_font(self.body_family, "B" if bold else "", size)
        self.multi_cell(0, height, self.clean(text), align=align, new_x="LMARGIN", new_y="NEXT")

    def footer(self) -> None:
        self.set_y(-16)
        self.set_font(self.body_family, "", 7)
        self.set_text_color(100)
        self.multi_cell(0, 3.5, self.clean(self.footer_text), align="C")
        self.set_text_color(0)


def _qty(value: Any, lang: str) -> str:
    number = Decimal(str(value))
    places = max(0, -int(number.normalize().as_tuple().exponent))
    return format_decimal(number, lang, min(places, 3))


def _postal(row: Row) -> list[str]:
    """Street line(s), postcode and city, and the country when it is not Germany."""
    lines = (row.get("street") or row.get("address") or "").splitlines()
    lines.append(" ".join(p for p in (row.get("postal_code"), row.get("city")) if p))
    if (row.get("country") or "DE").upper() != "DE":
        lines.append(str(row["country"]))
    return [line for line in lines if line.strip()]


def _address(row: Row) -> list[str]:
    lines = [row.get("name") or "", row.get("contact_person") or "", *_postal(row)]
    return [line for line in lines if line.strip()]


def _footer(seller: Row, t: dict[str, str]) -> str:
    bank = " ".join(p for p in (f"IBAN {seller['iban']}" if seller.get("iban") else "", seller.get("bic") or "") if p)
    parts = [
        seller.get("name") or "",
        ", ".join(_postal(seller)),
        f"{t['tax_number']} {seller['tax_number']}" if seller.get("tax_number") else "",
        f"{t['vat_id']} {seller['vat_id']}" if seller.get("vat_id") else "",
        " ".join(p for p in (seller.get("bank_name") or "", bank) if p),
        f"{t['register']} {seller.get('register_court') or ''} {seller['register_number']}".replace("  ", " ")
        if seller.get("register_number")
        else "",
        f"{t['directors']}: {seller['managing_directors']}" if seller.get("managing_directors") else "",
    ]
    return " · ".join(p for p in parts if p.strip())


def _layout(pdf: _Document, doc: dict[str, Any], seller: Row, buyer: Row, lang: str, original: Row | None) -> None:
    t = _TEXT[lang]
    credit = doc["kind"] == "credit_note"
    draft = doc["number"] is None
    rule = treatment(doc.get("tax_treatment") or "standard", doc.get("exemption_reason"))
    seller_lines = [seller.get("name") or "", *_postal(seller)]
    pdf.footer_text = _footer(seller, t)
    pdf.add_page()
    if draft:
        pdf.set_text_color(200, 0, 0)
        pdf.put(t["draft_note"], size=12, bold=True, height=7, align="C")
        pdf.set_text_color(0)
    pdf.put(" · ".join(p for p in seller_lines if p.strip()), size=7)
    pdf.ln(2)
    top = pdf.get_y()
    for line in _address(buyer):
        pdf.put(line, size=10, height=5)
    pdf.set_xy(120, top)
    number_label = t["credit_number"] if credit else t["number"]
    facts = [
        (number_label, doc["number"] or t["draft"]),
        (t["issue_date"], format_date(doc["issue_date"], lang)),
    ]
    start, end = doc.get("service_period_start"), doc.get("service_period_end")
    if start and end:
        facts.append((t["service_period"], f"{format_date(start, lang)} – {format_date(end, lang)}"))
    elif doc.get("service_date"):
        facts.append((t["service_date"], format_date(doc["service_date"], lang)))
    if doc["due_date"]:
        facts.append((t["due_date"], format_date(doc["due_date"], lang)))
    if buyer.get("vat_id"):
        facts.append((t["customer_vat"], str(buyer["vat_id"])))
    pdf.set_font(pdf.body_family, "", 9)
    for label, value in facts:
        pdf.set_x(120)
        pdf.cell(35, 5, pdf.clean(label + ":"))
        pdf.cell(0, 5, pdf.clean(value), new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(max(pdf.get_y(), top + 30) + 8)
    title = t["credit_note"] if credit else t["invoice"]
    pdf.put(f"{title} {doc['number'] or t['draft']}", size=15, bold=True, height=8)
    if credit and original is not None:
        pdf.put(t["refers_to"].format(number=original["number"], date=format_date(original["issue_date"], lang)))
    if not doc.get("service_date") and not (start and end):
        pdf.put(t["same_day"])
    pdf.ln(3)
    _lines_table(pdf, doc, lang)
    _totals(pdf, doc, lang, charged=rule.category is None)
    pdf.ln(6)
    note = rule.note(lang)
    if note:
        pdf.put(note, bold=True)
        pdf.ln(2)
    if credit and doc.get("refund_due_cents"):
        pdf.put(t["refund"].format(amount=format_cents(int(doc["refund_due_cents"]), lang)))
    if not credit:
        key = "pay_iban" if seller.get("iban") else "pay"
        number = doc["number"] or t["draft"]
        iban = " ".join(p for p in (seller.get("iban"), f"(BIC {seller['bic']})" if seller.get("bic") else "") if p)
        pdf.put(t[key].format(due=format_date(doc["due_date"], lang), iban=iban, number=number))
    if doc.get("notes"):
        pdf.ln(2)
        pdf.put(str(doc["notes"]))


_WIDTHS = (9.0, 70.0, 15.0, 15.0, 24.0, 12.0, 25.0)
_ALIGN = ("R", "L", "R", "L", "R", "R", "R")
_LINE_H = 4.5


def _wrap(pdf: _Document, text: str, width: float) -> list[str]:
    """Greedy word wrap by measured width: fpdf2's multi_cell takes ~10 ms per long cell, this ~1 ms."""
    lines: list[str] = []
    space = pdf.get_string_width(" ")
    for paragraph in text.strip().split("\n"):
        current: list[str] = []
        used = 0.0
        for word in paragraph.split():
            size = pdf.get_string_width(word)
            if size > width:  # longer than the column: cut it into column-wide pieces
                if current:
                    lines.append(" ".join(current))
                    current, used = [], 0.0
                piece, size = "", 0.0
                for char in word:
                    char_width = pdf.get_string_width(char)
                    if piece and size + char_width > width:
                        lines.append(piece)
                        piece, size = "", 0.0
                    piece, size = piece + char, size + char_width
                word = piece
            needed = used + space + size if current else size
            if current and needed > width:
                lines.append(" ".join(current))
                current, used = [word], size
            else:
                current.append(word)
                used = needed
        lines.append(" ".join(current))
    return lines


def _row(pdf: _Document, cells: list[str], header: list[str] | None) -> None:
    """One table row; `header` is repeated at the top of a new page (None: this is the header)."""
    pdf.set_font(pdf.body_family, "" if header else "B", 8.5)
    description = _wrap(pdf, cells[1], _WIDTHS[1] - 2 * pdf.c_margin)
    height = len(description) * _LINE_H + 2
    if pdf.get_y() + height > pdf.page_break_trigger:
        pdf.add_page()
        if header:
            _row(pdf, header, None)
        pdf.set_font(pdf.body_family, "", 8.5)
    top, x = pdf.get_y(), pdf.l_margin
    for width, text, align, column in zip(_WIDTHS, cells, _ALIGN, range(len(_WIDTHS)), strict=True):
        for index, part in enumerate(description if column == 1 else [text]):
            pdf.set_xy(x, top + 1 + index * _LINE_H)
            pdf.cell(width, _LINE_H, part, align=align)
        x += width
    pdf.set_y(top + height)
    pdf.set_draw_color(160 if header else 0)
    pdf.line(pdf.l_margin, top + height, pdf.l_margin + sum(_WIDTHS), top + height)
    pdf.set_draw_color(0)


def _lines_table(pdf: _Document, doc: dict[str, Any], lang: str) -> None:
    header = [pdf.clean(c) for c in _COLUMNS[lang]]
    _row(pdf, header, None)
    for index, line in enumerate(doc["line_items"], start=1):
        cells = [
            str(index),
            pdf.clean(line["description"]),
            _qty(line["quantity"], lang),
            pdf.clean(line.get("unit") or ""),
            pdf.clean(format_cents(int(line["unit_price_cents"]), lang)),
            f"{_qty(line['tax_rate'], lang)} %",
            pdf.clean(format_cents(int(line["net_cents"]), lang)),
        ]
        _row(pdf, cells, header)


def _totals(pdf: _Document, doc: dict[str, Any], lang: str, *, charged: bool = True) -> None:
    """Net, the tax per rate (only where VAT is charged: else the treatment's note says why not), gross."""
    t = _TEXT[lang]
    rows = [(t["net"], format_cents(doc["total_net_cents"], lang), False)]
    for group in doc["tax_groups"] if charged else []:
        label = t["tax"].format(rate=_qty(group["tax_rate"], lang), net=format_cents(group["net_cents"], lang))
        rows.append((label, format_cents(group["tax_cents"], lang), False))
    if not charged:
        rows.append((t["no_tax"], format_cents(doc["total_tax_cents"], lang), False))
    rows.append((t["gross"], format_cents(doc["total_gross_cents"], lang), True))
    pdf.ln(3)
    for label, value, bold in rows:
        pdf.set_font(pdf.body_family, "B" if bold else "", 9.5 if bold else 9)
        pdf.set_x(95)
        pdf.cell(55, 5.5, pdf.clean(label), align="R")
        pdf.cell(0, 5.5, pdf.clean(value), align="R", new_x="LMARGIN", new_y="NEXT")


def render_invoice_pdf(
    doc: dict[str, Any], seller: Row, buyer: Row, lang: str, xml: bytes | None, original: Row | None = None
) -> bytes:
    """The PDF of an invoice or credit note (`doc` as the API returns it), with `xml` embedded as factur-x.xml."""
    pdf = _Document()
    title = f"{_TEXT[lang]['credit_note' if doc['kind'] == 'credit_note' else 'invoice']} {doc['number'] or ''}"
    pdf.set_title(pdf.clean(title.strip()))
    pdf.set_author(pdf.clean(seller.get("name") or "dVersum"))
    pdf.set_lang(lang)
    _layout(pdf, doc, seller, buyer, lang, original)
    data = bytes(pdf.output())
    if xml is None:
        return data
    metadata = {
        "author": seller.get("name") or "dVersum",
        "keywords": "Factur-X, ZUGFeRD, EN 16931",
        "title": title.strip(),
        "subject": f"{title.strip()} ({seller.get('name') or ''})",
    }
    result: bytes = facturx.generate_from_binary(
        data,
        xml,
        flavor="factur-x",
        level=FACTURX_LEVEL,
        check_xsd=False,
        pdf_metadata=metadata,
        lang=lang,
        afrelationship="alternative",
    )
    return result
