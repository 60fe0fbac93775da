"""How an invoice is taxed: the treatment, its EN 16931 VAT category, exemption reason and printed note.

`standard` invoices charge German VAT (category `S`, or `Z` for a 0 % line such as § 12 Abs. 3
UStG). Every other treatment charges none, and each line's rate must be 0 %:

| treatment | category | reason code (BT-121) | what the PDF says |
|---|---|---|---|
| `reverse_charge` (§ 13b, § 14a Abs. 5 UStG) | AE | VATEX-EU-AE | Steuerschuldnerschaft des Leistungsempfängers |
| `intra_community_supply` (§ 4 Nr. 1b, § 6a) | K | VATEX-EU-IC | Steuerfreie innergemeinschaftliche Lieferung |
| `export` (§ 4 Nr. 1a, § 6 UStG) | G | VATEX-EU-G | Steuerfreie Ausfuhrlieferung |
| `exempt` (e.g. § 4 Nr. 14 UStG) | E | – | the invoice's `exemption_reason` |
| §19 small business (organization setting) | E | – | Kleinunternehmer gemäß § 19 UStG |
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = ["SMALL_BUSINESS", "TREATMENTS", "Treatment", "category_of", "treatment"]

TREATMENTS = ("standard", "reverse_charge", "intra_community_supply", "export", "exempt")
SMALL_BUSINESS = "small_business"
"""The effective treatment of every invoice of an organization with `small_business` set (§ 19 UStG)."""


@dataclass(frozen=True)
class Treatment:
    """One tax treatment: EN 16931 category, exemption reason (BT-120/121) and the note the law wants printed."""

    key: str
    category: str | None
    """None for `standard`: S per line, Z for 0 % lines."""
    reason_code: str | None = None
    reason: str | None = None
    note_de: str | None = None
    note_en: str | None = None
    needs_buyer_vat_id: bool = False
    needs_seller_vat_id: bool = False

    def note(self, lang: str) -> str | None:
        return self.note_de if lang == "de" else self.note_en


_RULES = {
    "standard": Treatment("standard", None),
    "reverse_charge": Treatment(
        "reverse_charge",
        "AE",
        "VATEX-EU-AE",
        "Steuerschuldnerschaft des Leistungsempfängers",
        "Steuerschuldnerschaft des Leistungsempfängers (§ 13b UStG): die Umsatzsteuer schuldet der Leistungsempfänger.",
        "Reverse charge (Steuerschuldnerschaft des Leistungsempfängers, § 13b UStG): "
        "the recipient is liable for the VAT.",
        needs_buyer_vat_id=True,
    ),
    "intra_community_supply": Treatment(
        "intra_community_supply",
        "K",
        "VATEX-EU-IC",
        "Steuerfreie innergemeinschaftliche Lieferung",
        "Steuerfreie innergemeinschaftliche Lieferung (§ 4 Nr. 1 Buchst. b, § 6a UStG).",
        "VAT-exempt intra-community supply (§ 4 Nr. 1 lit. b, § 6a UStG).",
        needs_buyer_vat_id=True,
        needs_seller_vat_id=True,
    ),
    "export": Treatment(
        "export",
        "G",
        "VATEX-EU-G",
        "Steuerfreie Ausfuhrlieferung",
        "Steuerfreie Ausfuhrlieferung (§ 4 Nr. 1 Buchst. a, § 6 UStG).",
        "VAT-exempt export delivery (§ 4 Nr. 1 lit. a, § 6 UStG).",
        needs_seller_vat_id=True,
    ),
    SMALL_BUSINESS: Treatment(
        SMALL_BUSINESS,
        "E",
        None,
        "Kleinunternehmer gemäß § 19 UStG",
        "Gemäß § 19 UStG wird keine Umsatzsteuer berechnet (Kleinunternehmerregelung).",
        "No VAT is charged: small business under § 19 UStG (Kleinunternehmerregelung).",
    ),
}


def treatment(key: str, exemption_reason: str | None = None) -> Treatment:
    """The rules of a treatment; `exempt` takes its reason (and printed note) from the invoice."""
    if key == "exempt":
        reason = exemption_reason or "Steuerfrei"
        return Treatment("exempt", "E", None, reason, f"Steuerfrei: {reason}", f"VAT exempt: {reason}")
    return _RULES[key]


def category_of(rule: Treatment, rate: Any) -> str:
    """The EN 16931 VAT category code of a line or tax group with this rate."""
    if rule.category is not None:
        return rule.category
    return "S" if Decimal(str(rate)) > 0 else "Z"
