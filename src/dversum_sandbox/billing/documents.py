"""What an issued document says: seller and buyer as of issuing, the §14 Abs. 4 UStG checks, tax treatment rules.

`seller_party` and `buyer_party` copy the organization and the client into the plain dicts that
the PDF and the XML print, and that sending freezes into the invoice (GoBD). `missing_data`
lists what §14 Abs. 4 UStG (and EN 16931 for the chosen treatment) needs and is not there,
each with where to set it, so sending can refuse with one message naming all of it.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal
from typing import Any

from dversum_sandbox.billing.tax import SMALL_BUSINESS, TREATMENTS, treatment
from dversum_sandbox.db import Row
from dversum_sandbox.errors import validation
from dversum_sandbox.framework import MISSING, Ctx

__all__ = [
    "EU_COUNTRIES",
    "buyer_party",
    "check_rates",
    "effective_treatment",
    "missing_data",
    "read_tax_fields",
    "refuse_missing",
    "seller_party",
]

EU_COUNTRIES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()  # noqa: SIM905
)
"""EU member states (ISO 3166-1; Greece is GR here, EL only in VAT ids)."""

_SELLER_KEYS = (
    "name",
    "street",
    "postal_code",
    "city",
    "country",
    "vat_id",
    "tax_number",
    "iban",
    "bic",
    "bank_name",
    "email",
    "phone",
    "register_court",
    "register_number",
    "managing_directors",
)
_BUYER_KEYS = ("name", "contact_person", "street", "postal_code", "city", "country", "vat_id", "email")


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def seller_party(org: Row) -> dict[str, Any]:
    """The organization as the seller of a document (a plain copy: later edits do not reach it)."""
    party: dict[str, Any] = {k: _text(org.get(k)) for k in _SELLER_KEYS}
    party["country"] = party["country"] or "DE"
    party["small_business"] = bool(org.get("small_business"))
    return party


def buyer_party(client: Row) -> dict[str, Any]:
    """The client as the buyer of a document; the older `address` field stands in for `street`."""
    party: dict[str, Any] = {k: _text(client.get(k)) for k in _BUYER_KEYS}
    party["street"] = party["street"] or _text(client.get("address"))
    party["country"] = (party["country"] or "DE").upper()
    return party


def effective_treatment(org: Row, stored: str) -> str:
    """`small_business` for every invoice of a §19 organization, else the invoice's own treatment."""
    return SMALL_BUSINESS if org.get("small_business") else stored


def read_tax_fields(ctx: Ctx, current: Row | None = None) -> dict[str, Any]:
    """`tax_treatment`, `exemption_reason` and the service period from the body (only what was sent)."""
    out: dict[str, Any] = {}
    choice = ctx.choice("tax_treatment", TREATMENTS)
    if isinstance(choice, str):
        out["tax_treatment"] = choice
    if "exemption_reason" in ctx.body:
        reason = ctx.body["exemption_reason"]
        if reason is not None and (not isinstance(reason, str) or len(reason) > 500):
            raise validation("exemption_reason", "exemption_reason must be a text of at most 500 characters")
        out["exemption_reason"] = reason.strip() or None if isinstance(reason, str) else None
    for name in ("service_date", "service_period_start", "service_period_end"):
        if name in ctx.body and ctx.body[name] is None:
            out[name] = None
        else:
            value = ctx.date_field(name)
            if value is not MISSING:
                out[name] = value.isoformat()
    if out.get("tax_treatment", "exempt") != "exempt" and "exemption_reason" not in out:
        out["exemption_reason"] = None  # leaving `exempt` drops its reason
    if out.get("service_date") and "service_period_start" not in out:
        out["service_period_start"] = out["service_period_end"] = None  # a date replaces a period
    elif out.get("service_period_start") and "service_date" not in out:
        out["service_date"] = None  # and a period a date
    merged = {**(current or {}), **out}
    kind = merged.get("tax_treatment") or "standard"
    if kind == "exempt" and not merged.get("exemption_reason"):
        raise validation(
            "exemption_reason",
            "an exempt invoice needs exemption_reason, the legal ground printed on it (e.g. § 4 Nr. 14 UStG)",
        )
    if kind != "exempt" and merged.get("exemption_reason"):
        raise validation("exemption_reason", "exemption_reason belongs only to tax_treatment exempt")
    start, end = merged.get("service_period_start"), merged.get("service_period_end")
    if bool(start) != bool(end):
        raise validation(
            "service_period_end" if start else "service_period_start",
            "a service period needs both service_period_start and service_period_end",
        )
    if start and end and end < start:
        raise validation("service_period_end", f"service_period_end {end} lies before service_period_start {start}")
    if start and merged.get("service_date"):
        raise validation("service_date", "give either service_date or a service period, not both")
    return out


def check_rates(lines: list[dict[str, Any]], kind: str, field: str = "line_items") -> None:
    """Refuse VAT on an invoice whose treatment charges none (reverse charge, exports, §19 …)."""
    if kind == "standard":
        return
    for index, line in enumerate(lines):
        if Decimal(str(line["tax_rate"])) != 0:
            what = (
                "a §19 small business (the organization's small_business setting)" if kind == SMALL_BUSINESS else kind
            )
            raise validation(
                f"{field}[{index}].tax_rate",
                f"{field}[{index}].tax_rate is {line['tax_rate']} %, but an invoice of {what} charges no VAT; "
                "set every tax_rate to 0 (mixing taxed lines into it is not allowed)",
            )


def _blank(value: Any) -> bool:
    """Nothing a reader would see: empty, or only spaces, control and invisible format characters
    (a zero-width space or a byte-order mark is no postal code and no seller name)."""
    return not any(not ch.isspace() and unicodedata.category(ch) not in ("Cc", "Cf") for ch in str(value or ""))


def missing_data(seller: Row, buyer: Row, kind: str, client_id: str) -> list[tuple[str, str]]:
    """(field, where to set it) for every §14 Abs. 4 UStG datum that is missing."""
    org_where, client_where = "PUT /organization", f"PUT /clients/{client_id}"
    missing = [(f"organization.{k}", org_where) for k in ("name", "street", "postal_code", "city") if _blank(seller[k])]
    if _blank(seller["tax_number"]) and _blank(seller["vat_id"]):
        missing.append(("organization.tax_number or organization.vat_id", org_where))
    missing += [(f"client.{k}", client_where) for k in ("name", "street", "postal_code", "city") if _blank(buyer[k])]
    rule = treatment(kind) if kind != "exempt" else None
    if rule is not None and rule.needs_seller_vat_id and _blank(seller["vat_id"]):
        missing.append(("organization.vat_id", org_where))
    if rule is not None and rule.needs_buyer_vat_id and _blank(buyer["vat_id"]):
        missing.append(("client.vat_id", client_where))
    return missing


def refuse_missing(missing: list[tuple[str, str]], what: str) -> None:
    """422 naming every missing field and where to set it."""
    if not missing:
        return
    parts = "; ".join(f"{name} (set it with {where})" for name, where in missing)
    raise validation(
        ", ".join(name for name, _ in missing),
        f"{what} cannot be sent: §14 Abs. 4 UStG requires data that is missing: {parts}",
    )
