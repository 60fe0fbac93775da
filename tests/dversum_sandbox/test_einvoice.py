"""The embedded ZUGFeRD XML against the official EN 16931 CII Schematron and the Factur-X EN16931 one.

Every document is made the way a user makes it (REST calls to the sandbox, sent, PDF downloaded,
XML read out of the PDF) and run through both rule sets with Saxon (`saxonche`). The official
rules come from `../shared/reference/einvoice/` beside the repository (CI puts them there; the
test fails, never skips, without them); the Factur-X ones ship with the `factur-x` package.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import facturx  # type: ignore[import-untyped]
import httpx2
import pytest
from pypdf import PdfReader
from saxonche import PySaxonProcessor, PyXsltExecutable

from dversum_sandbox.app import SandboxApp
from tests.dversum_sandbox._billing_support import make_client, ok
from tests.dversum_sandbox.conftest import Workspace

REPO = Path(__file__).resolve().parents[2]
OFFICIAL = REPO.parent / "shared" / "reference" / "einvoice" / "EN16931-CII-validation.xslt"
FACTURX = Path(facturx.__file__).parent / "xsd_and_schematron" / "facturx-en16931" / "FACTUR-X_EN16931.xslt"
SVRL = "{http://purl.oclc.org/dsdl/svrl}"
pytestmark = pytest.mark.anyio
NS = {
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}

LINES = [
    {"description": "Beratung", "quantity": 8, "unit_price_cents": 12500, "tax_rate": 19, "unit": "Std."},
    {"description": "Fachbuch", "quantity": 3, "unit_price_cents": 3333, "tax_rate": 7, "unit": "Stk."},
    {"description": "Treuerabatt", "quantity": 1, "unit_price_cents": -5000, "tax_rate": 19},
]
ZERO = [{"description": "Konzeption", "quantity": 10, "unit_price_cents": 9500, "tax_rate": 0, "unit": "Std."}]
AUSTRIA = {
    "name": "Alpenblick Tourismus GmbH",
    "email": "office@alpenblick.at",
    "vat_id": "ATU12345678",
    "country": "AT",
    "street": "Maria-Theresien-Straße 18",
    "postal_code": "6020",
    "city": "Innsbruck",
}
FRANCE = {**AUSTRIA, "name": "Lumière SARL", "email": "achats@lumiere.fr", "vat_id": "FR40303265045"}
FRANCE.update(country="FR", street="12 rue de la Paix", postal_code="75002", city="Paris")
SWITZERLAND = {
    "name": "Bergsicht Outdoor AG",
    "email": "einkauf@bergsicht.ch",
    "vat_id": None,
    "country": "CH",
    "street": "Bahnhofstrasse 52",
    "postal_code": "8001",
    "city": "Zürich",
}


class Validator:
    """Both rule sets, compiled once; `failures(xml)` lists (rule id, flag) of every fatal failed assert."""

    def __init__(self, processor: PySaxonProcessor) -> None:
        if not OFFICIAL.is_file():
            pytest.fail(f"the official EN 16931 Schematron is missing: {OFFICIAL} (CI puts ../shared beside the repo)")
        self.processor = processor
        compiler = processor.new_xslt30_processor()
        self.rules: dict[str, PyXsltExecutable] = {
            "EN16931-CII": compiler.compile_stylesheet(stylesheet_file=str(OFFICIAL)),
            "Factur-X EN16931": compiler.compile_stylesheet(stylesheet_file=str(FACTURX)),
        }

    def failures(self, xml: bytes) -> dict[str, list[tuple[str | None, str | None, str]]]:
        node = self.processor.parse_xml(xml_text=xml.decode())
        out = {}
        for name, executable in self.rules.items():
            svrl = executable.transform_to_string(xdm_node=node)
            asserts = ET.fromstring(svrl.encode()).iter(SVRL + "failed-assert")
            found = [(a.get("id"), a.get("flag"), " ".join("".join(a.itertext()).split())[:160]) for a in asserts]
            # the official rules flag fatal ones; the Factur-X file has no flag on BR rules, only on warnings
            out[name] = [f for f in found if f[1] != "warning"]
        return out


@pytest.fixture(scope="module")
def validator() -> Iterator[Validator]:
    with PySaxonProcessor(license=False) as processor:
        yield Validator(processor)


def xml_of(pdf: bytes) -> bytes:
    data: bytes = PdfReader(io.BytesIO(pdf)).attachments["factur-x.xml"][0]
    return data


async def issue(api: httpx2.AsyncClient, client: dict[str, Any], **fields: Any) -> tuple[dict[str, Any], bytes]:
    body = {"client_id": client["id"], "line_items": LINES, **fields}
    draft = ok(await api.post("/invoices", json=body), 201)
    sent = ok(await api.post(f"/invoices/{draft['id']}/send"))
    response = await api.get(f"/invoices/{sent['id']}/pdf")
    assert response.status_code == 200
    return sent, xml_of(response.content)


def assert_valid(validator: Validator, xml: bytes) -> None:
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
    assert validator.failures(xml) == {"EN16931-CII": [], "Factur-X EN16931": []}


def categories(xml: bytes) -> list[tuple[str, str | None, str | None]]:
    root = ET.fromstring(xml)
    groups = root.findall(".//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax", NS)
    return [
        (
            g.findtext("ram:CategoryCode", namespaces=NS) or "",
            g.findtext("ram:ExemptionReason", namespaces=NS),
            g.findtext("ram:ExemptionReasonCode", namespaces=NS),
        )
        for g in groups
    ]


async def test_standard_19_7_and_discount(api: httpx2.AsyncClient, validator: Validator) -> None:
    sent, xml = await issue(api, await make_client(api), service_date="2026-06-01")
    assert sent["total_gross_cents"] == 123749
    assert_valid(validator, xml)
    assert [c[0] for c in categories(xml)] == ["S", "S"]
    root = ET.fromstring(xml)
    seller = root.find(".//ram:SellerTradeParty", NS)
    assert seller is not None
    assert seller.findtext("ram:PostalTradeAddress/ram:PostcodeCode", namespaces=NS) == "10115"
    assert seller.findtext("ram:PostalTradeAddress/ram:CityName", namespaces=NS) == "Berlin"
    assert seller.findtext("ram:PostalTradeAddress/ram:LineOne", namespaces=NS) == "Musterstraße 1"
    schemes = {n.get("schemeID"): n.text for n in seller.iterfind("ram:SpecifiedTaxRegistration/ram:ID", NS)}
    assert schemes == {"FC": "30/123/45678", "VA": "DE111111111"}
    assert root.findtext(".//ram:ActualDeliverySupplyChainEvent//udt:DateTimeString", namespaces=NS) == "20260601"


async def test_payment_means_terms_and_same_day_note(
    api: httpx2.AsyncClient, sandbox: SandboxApp, org_a: Workspace, validator: Validator
) -> None:
    ok(await api.put("/organization", json={"iban": "DE89 3704 0044 0532 0130 00", "bic": "COBADEFFXXX"}))
    _, xml = await issue(api, await make_client(api))
    assert_valid(validator, xml)
    root = ET.fromstring(xml)
    assert root.findtext(".//ram:PayeePartyCreditorFinancialAccount/ram:IBANID", namespaces=NS) == (
        "DE89370400440532013000"
    )
    assert root.findtext(".//ram:PayeeSpecifiedCreditorFinancialInstitution/ram:BICID", namespaces=NS) == "COBADEFFXXX"
    assert "Zahlbar ohne Abzug bis zum 17.06.2026" in (
        root.findtext(".//ram:SpecifiedTradePaymentTerms/ram:Description", namespaces=NS) or ""
    )
    notes = [n.text for n in root.iterfind(".//ram:IncludedNote/ram:Content", NS)]
    assert "Leistungsdatum entspricht Rechnungsdatum" in notes  # no service date given: none invented
    assert root.findtext(".//ram:ActualDeliverySupplyChainEvent//udt:DateTimeString", namespaces=NS) == "20260603"


async def test_reverse_charge_to_an_austrian_company(api: httpx2.AsyncClient, validator: Validator) -> None:
    client = await make_client(api, **AUSTRIA)
    sent, xml = await issue(api, client, line_items=ZERO, tax_treatment="reverse_charge", service_date="2026-06-02")
    assert sent["tax_treatment"] == "reverse_charge" and sent["total_tax_cents"] == 0
    assert_valid(validator, xml)
    assert categories(xml) == [("AE", "Steuerschuldnerschaft des Leistungsempfängers", "VATEX-EU-AE")]
    buyer = ET.fromstring(xml).find(".//ram:BuyerTradeParty", NS)
    assert buyer is not None and buyer.findtext("ram:SpecifiedTaxRegistration/ram:ID", namespaces=NS) == "ATU12345678"


async def test_intra_community_supply(api: httpx2.AsyncClient, validator: Validator) -> None:
    client = await make_client(api, **FRANCE)
    _, xml = await issue(
        api, client, line_items=ZERO, tax_treatment="intra_community_supply", service_date="2026-06-02"
    )
    assert_valid(validator, xml)
    assert categories(xml) == [("K", "Steuerfreie innergemeinschaftliche Lieferung", "VATEX-EU-IC")]


async def test_export(api: httpx2.AsyncClient, validator: Validator) -> None:
    _, xml = await issue(api, await make_client(api, **SWITZERLAND), line_items=ZERO, tax_treatment="export")
    assert_valid(validator, xml)
    assert categories(xml) == [("G", "Steuerfreie Ausfuhrlieferung", "VATEX-EU-G")]


async def test_exempt_with_reason(api: httpx2.AsyncClient, validator: Validator) -> None:
    reason = "Steuerfreie Heilbehandlung nach § 4 Nr. 14 UStG"
    _, xml = await issue(api, await make_client(api), line_items=ZERO, tax_treatment="exempt", exemption_reason=reason)
    assert_valid(validator, xml)
    assert categories(xml) == [("E", reason, None)]


async def test_small_business_section_19(api: httpx2.AsyncClient, validator: Validator) -> None:
    # a Kleinunternehmer with only a Steuernummer, no VAT id and no register entry
    ok(await api.put("/organization", json={"small_business": True, "vat_id": None}))
    _, xml = await issue(api, await make_client(api), line_items=ZERO)
    assert_valid(validator, xml)
    assert categories(xml) == [("E", "Kleinunternehmer gemäß § 19 UStG", None)]
    seller = ET.fromstring(xml).find(".//ram:SellerTradeParty", NS)
    assert seller is not None and seller.findtext("ram:ID", namespaces=NS) == "30/123/45678"  # BT-29, BR-CO-26


async def test_credit_note(api: httpx2.AsyncClient, validator: Validator) -> None:
    sent, _ = await issue(api, await make_client(api), service_date="2026-06-01")
    ok(await api.post(f"/invoices/{sent['id']}/payments", json={"amount_cents": 74208}), 201)
    credit = ok(await api.post(f"/invoices/{sent['id']}/credit-note"), 201)
    xml = xml_of((await api.get(f"/invoices/{credit['id']}/pdf")).content)
    assert_valid(validator, xml)
    root = ET.fromstring(xml)
    assert root.findtext(".//ram:TypeCode", namespaces=NS) == "381"
    assert root.findtext(".//ram:InvoiceReferencedDocument/ram:IssuerAssignedID", namespaces=NS) == sent["number"]


async def test_service_period(api: httpx2.AsyncClient, validator: Validator) -> None:
    period = {"service_period_start": "2026-05-01", "service_period_end": "2026-05-31"}
    sent, xml = await issue(api, await make_client(api), **period)
    assert (sent["service_period_start"], sent["service_period_end"], sent["service_date"]) == (
        "2026-05-01",
        "2026-05-31",
        None,
    )
    assert_valid(validator, xml)
    root = ET.fromstring(xml)
    period_node = root.find(".//ram:ApplicableHeaderTradeSettlement/ram:BillingSpecifiedPeriod", NS)
    assert period_node is not None
    assert [n.text for n in period_node.iter() if n.text and n.text.strip()] == ["20260501", "20260531"]
    assert root.find(".//ram:ActualDeliverySupplyChainEvent", NS) is None


async def test_a_broken_total_fires_br_co_15(api: httpx2.AsyncClient, validator: Validator) -> None:
    _, xml = await issue(api, await make_client(api))
    broken = re.sub(rb"<ram:GrandTotalAmount>[^<]+<", b"<ram:GrandTotalAmount>999.99<", xml)
    assert broken != xml
    fired = validator.failures(broken)
    assert "BR-CO-15" in {rule for rule, _, _ in fired["EN16931-CII"]}
    assert "BR-CO-15" in {rule for rule, _, _ in fired["Factur-X EN16931"]}
