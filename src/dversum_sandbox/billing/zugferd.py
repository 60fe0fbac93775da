"""The ZUGFeRD 2 / Factur-X XML (UN/CEFACT CII D16B, profile EN 16931) of an invoice or credit note.

Built with the standard library's ElementTree in the element order the profile's XSD demands
(`facturx.xml_check_xsd(..., level="en16931")` accepts it; the tests check). A credit note is
DocumentTypeCode 381 with positive amounts and a reference to the invoice it cancels, as
EN 16931 wants; invoices are 380. A discount line (negative unit price) is written as a
negative quantity at a positive price, because BR-27 forbids negative item prices. Seller and
buyer carry structured addresses; the seller its tax number (`FC`, BT-32) and VAT id (`VA`,
BT-31), the payment means IBAN and BIC (BT-84/86); the tax treatment decides the categories
(S, Z, AE, K, G, E) and exemption reasons, see `tax.py`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from decimal import Decimal
from typing import Any

from dversum_sandbox.billing.tax import category_of, treatment
from dversum_sandbox.db import Row

__all__ = ["FACTURX_LEVEL", "GUIDELINE", "SAME_DAY_NOTE", "build_cii", "unit_code"]

GUIDELINE = "urn:cen.eu:en16931:2017"
SAME_DAY_NOTE = "Leistungsdatum entspricht Rechnungsdatum"
"""§ 14 Abs. 4 Nr. 6 UStG allows this statement instead of a separate service date."""
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


def _address_lines(party: Row) -> list[str]:
    """The street line(s): `street`, else the older free-text `address` (one line each)."""
    text = party.get("street") or party.get("address") or ""
    return [line.strip() for line in str(text).splitlines() if line.strip()]


def _party(parent: ET.Element, tag: str, party: Row, *, seller: bool) -> None:
    node = _el(parent, tag)
    vat, tax_number = party.get("vat_id"), party.get("tax_number")
    register = party.get("register_number")
    if seller and not vat and not register and tax_number:
        _el(node, "ram:ID", str(tax_number))  # BT-29: BR-CO-26 wants a seller identifier
    _el(node, "ram:Name", party.get("name") or "—")
    if seller and register:
        legal = _el(node, "ram:SpecifiedLegalOrganization")  # BT-30 (Handelsregister)
        court = party.get("register_court")
        _el(legal, "ram:ID", f"{court} {register}" if court else str(register))
    postal = _el(node, "ram:PostalTradeAddress")
    if party.get("postal_code"):
        _el(postal, "ram:PostcodeCode", str(party["postal_code"]))
    for tag_name, line in zip(("ram:LineOne", "ram:LineTwo", "ram:LineThree"), _address_lines(party), strict=False):
        _el(postal, tag_name, line)
    if party.get("city"):
        _el(postal, "ram:CityName", str(party["city"]))
    country = str(party.get("country") or "DE").strip().upper()
    _el(postal, "ram:CountryID", country if _COUNTRY.match(country) else "DE")
    if party.get("email"):
        _el(_el(node, "ram:URIUniversalCommunication"), "ram:URIID", str(party["email"]), schemeID="EM")
    if seller and tax_number:
        _el(_el(node, "ram:SpecifiedTaxRegistration"), "ram:ID", str(tax_number), schemeID="FC")  # BT-32
    if vat:
        _el(_el(node, "ram:SpecifiedTaxRegistration"), "ram:ID", str(vat), schemeID="VA")  # BT-31 / BT-48


def _period(parent: ET.Element, tag: str, start: str, end: str) -> None:
    period = _el(parent, tag)
    _date(period, "ram:StartDateTime", start)
    _date(period, "ram:EndDateTime", end)


def build_cii(doc: dict[str, Any], seller: Row, buyer: Row, original: dict[str, Any] | None = None) -> bytes:
    """The CII XML of a numbered invoice or credit note (`doc` as the API returns it).

    `doc["tax_treatment"]` (default `standard`, or `small_business`) gives the VAT category of
    every line and group and the exemption reason (BT-120/121); without a service date or period
    the delivery date is the issue date and a note says so.
    """
    credit = doc["kind"] == "credit_note"
    sign = -1 if credit else 1
    rule = treatment(doc.get("tax_treatment") or "standard", doc.get("exemption_reason"))
    root = ET.Element(f"{{{_NS['rsm']}}}CrossIndustryInvoice")
    context = _el(root, "rsm:ExchangedDocumentContext")
    _el(_el(context, "ram:GuidelineSpecifiedDocumentContextParameter"), "ram:ID", GUIDELINE)
    header = _el(root, "rsm:ExchangedDocument")
    _el(header, "ram:ID", doc["number"] or "DRAFT")
    _el(header, "ram:TypeCode", "381" if credit else "380")
    _date(header, "ram:IssueDateTime", doc["issue_date"])
    notes = [doc.get("notes"), *(doc.get("legal_notes") or [])]
    period = doc.get("service_period_start"), doc.get("service_period_end")
    if not doc.get("service_date") and not all(period):
        notes.append(SAME_DAY_NOTE)
    for note in notes:
        if note:
            _el(_el(header, "ram:IncludedNote"), "ram:Content", str(note))

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
        _el(tax, "ram:CategoryCode", category_of(rule, line["tax_rate"]))
        _el(tax, "ram:RateApplicablePercent", _plain(line["tax_rate"]))
        summation = _el(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation")
        _el(summation, "ram:LineTotalAmount", _amount(int(line["net_cents"]) * sign))

    agreement = _el(trade, "ram:ApplicableHeaderTradeAgreement")
    _party(agreement, "ram:SellerTradeParty", seller, seller=True)
    _party(agreement, "ram:BuyerTradeParty", buyer, seller=False)
    delivery = _el(trade, "ram:ApplicableHeaderTradeDelivery")
    if rule.key == "intra_community_supply":  # BR-IC-12: the deliver-to country
        ship_to = _el(delivery, "ram:ShipToTradeParty")
        _el(ship_to, "ram:Name", buyer.get("name") or "—")
        country = str(buyer.get("country") or "DE").strip().upper()
        _el(_el(ship_to, "ram:PostalTradeAddress"), "ram:CountryID", country if _COUNTRY.match(country) else "DE")
    if doc.get("service_date") or not all(period):
        day = doc.get("service_date") or doc["issue_date"]
        _date(_el(delivery, "ram:ActualDeliverySupplyChainEvent"), "ram:OccurrenceDateTime", day)

    settlement = _el(trade, "ram:ApplicableHeaderTradeSettlement")
    if doc["number"]:
        _el(settlement, "ram:PaymentReference", doc["number"])
    _el(settlement, "ram:InvoiceCurrencyCode", "EUR")
    if seller.get("iban") and not credit:
        means = _el(settlement, "ram:SpecifiedTradeSettlementPaymentMeans")
        _el(means, "ram:TypeCode", "58")
        account = _el(means, "ram:PayeePartyCreditorFinancialAccount")
        _el(account, "ram:IBANID", str(seller["iban"]).replace(" ", ""))
        if seller.get("bic"):
            _el(_el(means, "ram:PayeeSpecifiedCreditorFinancialInstitution"), "ram:BICID", str(seller["bic"]))
    for group in doc["tax_groups"]:
        tax = _el(settlement, "ram:ApplicableTradeTax")
        _el(tax, "ram:CalculatedAmount", _amount(int(group["tax_cents"]) * sign))
        _el(tax, "ram:TypeCode", "VAT")
        if rule.category is not None:
            _el(tax, "ram:ExemptionReason", rule.reason or "")
        _el(tax, "ram:BasisAmount", _amount(int(group["net_cents"]) * sign))
        _el(tax, "ram:CategoryCode", category_of(rule, group["tax_rate"]))
        if rule.reason_code:
            _el(tax, "ram:ExemptionReasonCode", rule.reason_code)
        _el(tax, "ram:RateApplicablePercent", _plain(group["tax_rate"]))
    if all(period):
        _period(settlement, "ram:BillingSpecifiedPeriod", str(period[0]), str(period[1]))
    terms = _el(settlement, "ram:SpecifiedTradePaymentTerms")
    if doc.get("payment_terms"):
        _el(terms, "ram:Description", str(doc["payment_terms"]))
    elif credit:
        _el(terms, "ram:Description", "Stornorechnung: der Betrag wird erstattet oder verrechnet")
    if doc.get("due_date"):
        _date(terms, "ram:DueDateDateTime", doc["due_date"])
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
