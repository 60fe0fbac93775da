"""The ZUGFeRD 2 / Factur-X XML (UN/CEFACT CII D16B, profile EN 16931) of an invoice or credit note.

Built with the standard library's ElementTree in the element order the profile's XSD demands
(`facturx.xml_check_xsd(..., level="en16931")` accepts it; the tests check). A credit note is
DocumentTypeCode 381 with positive amounts and a reference to the invoice it cancels, as
EN 16931 wants; invoices are 380. A discount line (negative unit price) is written as a
negative quantity at a positive price, because BR-27 forbids negative item prices.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from decimal import Decimal
from typing import Any

from dversum_sandbox.db import Row

__all__ = ["FACTURX_LEVEL", "GUIDELINE", "build_cii", "unit_code"]

GUIDELINE = "urn:cen.eu:en16931:2017"
FACTURX_LEVEL = "en16931"

_NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
for _prefix, _uri in _NS.items():
    ET.register_namespace(_prefix, _uri)

_INVALID_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_UNITS = {
    "std": "HUR",
    "std.": "HUR",
    "h": "HUR",
    "stunde": "HUR",
    "stunden": "HUR",
    "hour": "HUR",
    "hours": "HUR",
    "tag": "DAY",
    "tage": "DAY",
    "day": "DAY",
    "days": "DAY",
    "monat": "MON",
    "monate": "MON",
    "month": "MON",
    "stk": "H87",
    "stk.": "H87",
    "stück": "H87",
    "pcs": "H87",
    "piece": "H87",
    "pauschal": "LS",
    "psch.": "LS",
    "flat": "LS",
    "km": "KMT",
    "kg": "KGM",
    "m": "MTR",
}


def unit_code(unit: str | None) -> str:
    """UN/ECE Rec. 20 code for the line's unit text; `C62` (one) when unknown."""
    return _UNITS.get((unit or "").strip().lower(), "C62")


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    prefix, name = tag.split(":")
    node = ET.SubElement(parent, f"{{{_NS[prefix]}}}{name}", attrs)
    if text is not None:
        node.text = _INVALID_XML.sub("", text)
    return node


def _date(parent: ET.Element, tag: str, iso_date: str, ns: str = "udt") -> None:
    _el(_el(parent, tag), f"{ns}:DateTimeString", iso_date.replace("-", ""), format="102")


def _amount(cents: int) -> str:
    return f"{Decimal(cents) / 100:.2f}"


def _plain(value: Any) -> str:
    """A JSON number as an XSD decimal without exponent: 8, 1.5, 0.125."""
    text = format(Decimal(str(value)).normalize(), "f")
    return text if text != "-0" else "0"


def _category(rate: Any) -> str:
    return "S" if Decimal(str(rate)) > 0 else "Z"


def _party(
    parent: ET.Element, tag: str, name: str, address: dict[str, str | None], email: str | None, vat: str | None
) -> None:
    party = _el(parent, tag)
    _el(party, "ram:Name", name or "—")
    postal = _el(party, "ram:PostalTradeAddress")
    if address.get("postcode"):
        _el(postal, "ram:PostcodeCode", address["postcode"])
    lines = [line.strip() for line in (address.get("lines") or "").splitlines() if line.strip()]
    for tag_name, line in zip(("ram:LineOne", "ram:LineTwo", "ram:LineThree"), lines, strict=False):
        _el(postal, tag_name, line)
    if address.get("city"):
        _el(postal, "ram:CityName", address["city"])
    country = (address.get("country") or "DE").strip().upper()
    _el(postal, "ram:CountryID", country if _COUNTRY.match(country) else "DE")
    if email:
        _el(_el(party, "ram:URIUniversalCommunication"), "ram:URIID", email, schemeID="EM")
    if vat:
        _el(_el(party, "ram:SpecifiedTaxRegistration"), "ram:ID", vat, schemeID="VA")


def build_cii(doc: dict[str, Any], seller: Row, buyer: Row, original: dict[str, Any] | None = None) -> bytes:
    """The CII XML of a numbered invoice or credit note (`doc` as the API returns it)."""
    credit = doc["kind"] == "credit_note"
    sign = -1 if credit else 1
    root = ET.Element(f"{{{_NS['rsm']}}}CrossIndustryInvoice")
    context = _el(root, "rsm:ExchangedDocumentContext")
    _el(_el(context, "ram:GuidelineSpecifiedDocumentContextParameter"), "ram:ID", GUIDELINE)
    header = _el(root, "rsm:ExchangedDocument")
    _el(header, "ram:ID", doc["number"] or "DRAFT")
    _el(header, "ram:TypeCode", "381" if credit else "380")
    _date(header, "ram:IssueDateTime", doc["issue_date"])
    if doc.get("notes"):
        _el(_el(header, "ram:IncludedNote"), "ram:Content", doc["notes"])

    trade = _el(root, "rsm:SupplyChainTradeTransaction")
    for index, line in enumerate(doc["line_items"], start=1):
        quantity = Decimal(str(line["quantity"])) * sign
        price = int(line["unit_price_cents"])
        if price < 0:
            quantity, price = -quantity, -price
        item = _el(trade, "ram:IncludedSupplyChainTradeLineItem")
        _el(_el(item, "ram:AssociatedDocumentLineDocument"), "ram:LineID", str(index))
        _el(_el(item, "ram:SpecifiedTradeProduct"), "ram:Name", line["description"])
        agreement = _el(item, "ram:SpecifiedLineTradeAgreement")
        _el(_el(agreement, "ram:NetPriceProductTradePrice"), "ram:ChargeAmount", _amount(price))
        delivery = _el(item, "ram:SpecifiedLineTradeDelivery")
        _el(delivery, "ram:BilledQuantity", _plain(quantity), unitCode=unit_code(line.get("unit")))
        settlement = _el(item, "ram:SpecifiedLineTradeSettlement")
        tax = _el(settlement, "ram:ApplicableTradeTax")
        _el(tax, "ram:TypeCode", "VAT")
        _el(tax, "ram:CategoryCode", _category(line["tax_rate"]))
        _el(tax, "ram:RateApplicablePercent", _plain(line["tax_rate"]))
        summation = _el(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation")
        _el(summation, "ram:LineTotalAmount", _amount(int(line["net_cents"]) * sign))

    agreement = _el(trade, "ram:ApplicableHeaderTradeAgreement")
    _party(
        agreement,
        "ram:SellerTradeParty",
        seller.get("name") or "",
        {"lines": seller.get("address"), "country": seller.get("country")},
        None,
        seller.get("vat_id"),
    )
    _party(
        agreement,
        "ram:BuyerTradeParty",
        buyer.get("name") or "",
        {
            "lines": buyer.get("address"),
            "postcode": buyer.get("postal_code"),
            "city": buyer.get("city"),
            "country": buyer.get("country"),
        },
        buyer.get("email"),
        buyer.get("vat_id"),
    )
    delivery = _el(trade, "ram:ApplicableHeaderTradeDelivery")
    if doc.get("service_date"):
        _date(_el(delivery, "ram:ActualDeliverySupplyChainEvent"), "ram:OccurrenceDateTime", doc["service_date"])

    settlement = _el(trade, "ram:ApplicableHeaderTradeSettlement")
    if doc["number"]:
        _el(settlement, "ram:PaymentReference", doc["number"])
    _el(settlement, "ram:InvoiceCurrencyCode", "EUR")
    if seller.get("iban") and not credit:
        means = _el(settlement, "ram:SpecifiedTradeSettlementPaymentMeans")
        _el(means, "ram:TypeCode", "58")
        account = _el(means, "ram:PayeePartyCreditorFinancialAccount")
        _el(account, "ram:IBANID", str(seller["iban"]).replace(" ", ""))
    for group in doc["tax_groups"]:
        tax = _el(settlement, "ram:ApplicableTradeTax")
        _el(tax, "ram:CalculatedAmount", _amount(int(group["tax_cents"]) * sign))
        _el(tax, "ram:TypeCode", "VAT")
        _el(tax, "ram:BasisAmount", _amount(int(group["net_cents"]) * sign))
        _el(tax, "ram:CategoryCode", _category(group["tax_rate"]))
        _el(tax, "ram:RateApplicablePercent", _plain(group["tax_rate"]))
    terms = _el(settlement, "ram:SpecifiedTradePaymentTerms")
    if doc.get("due_date"):
        _date(terms, "ram:DueDateDateTime", doc["due_date"])
    else:
        _el(terms, "ram:Description", "Gutschrift: der Betrag wird erstattet oder verrechnet")
    totals = _el(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    _el(totals, "ram:LineTotalAmount", _amount(int(doc["total_net_cents"]) * sign))
    _el(totals, "ram:TaxBasisTotalAmount", _amount(int(doc["total_net_cents"]) * sign))
    _el(totals, "ram:TaxTotalAmount", _amount(int(doc["total_tax_cents"]) * sign), currencyID="EUR")
    _el(totals, "ram:GrandTotalAmount", _amount(int(doc["total_gross_cents"]) * sign))
    _el(totals, "ram:DuePayableAmount", _amount(int(doc["total_gross_cents"]) * sign))
    if original is not None:
        reference = _el(settlement, "ram:InvoiceReferencedDocument")
        _el(reference, "ram:IssuerAssignedID", original["number"] or "")
        _date(reference, "ram:FormattedIssueDateTime", original["issue_date"], ns="qdt")
    xml: bytes = ET.tostring(root, encoding="UTF-8", xml_declaration=True)
    return xml
