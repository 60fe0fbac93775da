"""Invoices: drafts, sending (gapless RE- number, GoBD freeze), PDF with ZUGFeRD XML, credit notes.

Payments and dunning live in `payments.py`, the tables and the shared JSON in `invoice_store.py`;
this module's `SCHEMA` and `ENDPOINTS` include theirs, so `app.py` needs only this one. Every
handler first runs `sweep`, which emits `invoice.overdue` once per invoice as time passes.

Sending checks what §14 Abs. 4 UStG requires (seller and buyer names and addresses, the seller's
tax number or VAT id, the buyer's VAT id for reverse charge and intra-community supplies), that
the tax treatment and the line rates fit together, that the total is positive and that numbers
rise with their dates; then it freezes the issued document and its PDF bytes. A credit note
(Stornorechnung, `ST-…`) cancels a sent invoice in full and is frozen the same way.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from dversum_sandbox.billing import invoice_store, payments
from dversum_sandbox.billing.documents import (
    EU_COUNTRIES,
    buyer_party,
    check_rates,
    effective_treatment,
    missing_data,
    read_tax_fields,
    refuse_missing,
    seller_party,
)
from dversum_sandbox.billing.invoice_store import (
    client_row,
    format_date,
    insert_invoice,
    invoice_json,
    issued_pdf,
    load_invoice,
    next_number,
    org_row,
    overdue_sql,
    recipient,
    require_client,
    require_project,
    store_issued,
    sweep,
    today,
)
from dversum_sandbox.billing.money import format_cents, negate_lines, parse_line_items
from dversum_sandbox.billing.tax import treatment
from dversum_sandbox.billing.zugferd import build_cii
from dversum_sandbox.db import Row, dumps, loads
from dversum_sandbox.errors import bad_request, conflict, validation
from dversum_sandbox.framework import MISSING, Ctx, Endpoint, Raw, new_id

__all__ = ["ENDPOINTS", "SCHEMA", "locked_error", "sweep"]

SCHEMA = invoice_store.SCHEMA
STATUSES = ("draft", "sent", "partially_paid", "paid", "overdue", "credited", "refunded")
_TITLES = {
    "de": {"invoice": "Rechnung", "credit_note": "Stornorechnung"},
    "en": {"invoice": "Invoice", "credit_note": "Cancellation invoice"},
}


def locked_error(row: Row) -> Exception:
    """409 for any change to a document that is no longer a draft (§14 UStG / GoBD)."""
    if row["kind"] == "credit_note":
        message = f"Cancellation invoice {row['number']} is issued and locked (§14 UStG/GoBD)"
    elif row["status"] == "credited":
        message = f"Invoice {row['number']} is cancelled by credit note and locked (§14 UStG/GoBD)"
    else:
        message = (
            f"Invoice {row['number']} is sent and locked (§14 UStG/GoBD); cancel it with a credit note "
            f"(POST /invoices/{row['id']}/credit-note) and issue a new invoice"
        )
    return conflict(message, error="invoice_locked")


def _optional_id(ctx: Ctx, name: str) -> Any:
    """An id field that may be cleared with null on update: MISSING, None, or the id."""
    if name in ctx.body and ctx.body[name] is None:
        return None
    return ctx.id_field(name)


def _notes(ctx: Ctx) -> Any:
    if "notes" in ctx.body and ctx.body["notes"] is None:
        return None
    return ctx.string("notes", max_length=5000, allow_empty=True)


def list_invoices(ctx: Ctx) -> dict[str, Any]:
    sweep(ctx)
    where, params = "FROM invoices WHERE org_id = ?", [ctx.org_id]
    status = ctx.q_choice("status", STATUSES)
    day = today(ctx).isoformat()
    if status is not None:
        overdue = overdue_sql(ctx.db)
        if status == "overdue":
            where += f" AND {overdue}"
            params.append(day)
        else:
            where += f" AND status = ? AND NOT {overdue}"
            params += [status, day]
    client_id = ctx.q_id("client_id")
    if client_id:
        where += " AND client_id = ?"
        params.append(client_id)
    start, end = ctx.q_date("from"), ctx.q_date("to")
    if start and end and end < start:
        raise validation("to", "to lies before from")
    if start:
        where += " AND issue_date >= ?"
        params.append(start.isoformat())
    if end:
        where += " AND issue_date <= ?"
        params.append(end.isoformat())
    return ctx.paginate(
        "invoices", where, params, "issue_date DESC, created_at DESC, id", lambda r: invoice_json(ctx, r)
    )


def _check_treatment(ctx: Ctx, stored: str, lines: list[dict[str, Any]]) -> str:
    """The effective treatment, after refusing combinations the law does not allow; 422 otherwise."""
    org = org_row(ctx)
    if org.get("small_business") and stored != "standard":
        raise validation(
            "tax_treatment",
            f"the organization is a §19 small business (small_business in GET /organization): its invoices "
            f"charge no VAT under § 19 UStG and cannot be {stored}; leave tax_treatment at standard",
        )
    kind = effective_treatment(org, stored)
    check_rates(lines, kind)
    return kind


def create_invoice(ctx: Ctx) -> dict[str, Any]:
    sweep(ctx)
    client_id = ctx.id_field("client_id", required=True)
    if ctx.body.get("line_items") is None:
        raise bad_request("line_items is required: at least one line", "line_items")
    totals = parse_line_items(ctx.body["line_items"])
    require_client(ctx, client_id)
    project_id = ctx.id_field("project_id")
    if project_id is not MISSING:
        require_project(ctx, project_id)
    issue = ctx.date_field("issue_date")
    due = ctx.date_field("due_date")
    tax = read_tax_fields(ctx)
    service = tax.pop("service_date", None)
    _check_treatment(ctx, tax.get("tax_treatment") or "standard", totals.line_items)
    notes = _notes(ctx)
    row = insert_invoice(
        ctx,
        client_id=client_id,
        totals=totals,
        issue_date=None if issue is MISSING else issue,
        due_date=None if due is MISSING else due,
        service_date=date.fromisoformat(service) if service else None,
        project_id=None if project_id is MISSING else project_id,
        notes=None if notes is MISSING else notes,
        tax=tax,
    )
    return invoice_json(ctx, row)


def get_invoice(ctx: Ctx) -> dict[str, Any]:
    return invoice_json(ctx, load_invoice(ctx))


def update_invoice(ctx: Ctx) -> dict[str, Any]:
    row = load_invoice(ctx)
    if row["status"] != "draft":
        raise locked_error(row)
    changes: dict[str, Any] = {}
    client_id = ctx.id_field("client_id")
    if client_id is not MISSING:
        require_client(ctx, client_id)
        changes["client_id"] = client_id
    project_id = _optional_id(ctx, "project_id")
    if project_id is not MISSING:
        if project_id is not None:
            require_project(ctx, project_id)
        changes["project_id"] = project_id
    if ctx.has("line_items"):
        changes.update(parse_line_items(ctx.body["line_items"]).columns())
    for name in ("issue_date", "due_date"):
        value = ctx.date_field(name)
        if value is not MISSING:
            changes[name] = value.isoformat()
    changes.update(read_tax_fields(ctx, row))
    merged = {**row, **changes}
    _check_treatment(ctx, str(merged["tax_treatment"]), loads(merged["line_items"]))
    notes = _notes(ctx)
    if notes is not MISSING:
        changes["notes"] = notes
    issue = str({**row, **changes}["issue_date"])
    due = str({**row, **changes}["due_date"])
    if due < issue:
        raise validation("due_date", f"due_date {due} lies before issue_date {issue}")
    if not changes:
        return invoice_json(ctx, row)
    changes["updated_at"] = ctx.timestamp()
    return ctx.update_and_emit("invoices", row, changes, invoice_json, "invoice.updated")


def delete_invoice(ctx: Ctx) -> None:
    row = load_invoice(ctx)
    if row["status"] != "draft":
        raise locked_error(row)
    gone = invoice_json(ctx, row)
    ctx.db.execute("DELETE FROM invoices WHERE id = ?", (row["id"],))
    ctx.emit("invoice.deleted", gone)


def _invoice_mail(ctx: Ctx, row: Row, to: str, name: str, seller: str, original: Row | None) -> None:
    kind = str(row["kind"])
    amount = format_cents(abs(int(row["total_gross_cents"])), ctx.lang)
    issued, due = format_date(row["issue_date"], ctx.lang), format_date(row["due_date"], ctx.lang)
    number, noun = row["number"], _TITLES[ctx.lang][kind]
    if ctx.lang == "de":
        subject = f"{noun} {number} von {seller}"
        body = f"Guten Tag {name},\n\nanbei erhalten Sie unsere {noun} {number} vom {issued} über {amount}.\n"
        if kind == "invoice":
            body += f"Bitte überweisen Sie den Betrag bis zum {due}.\n"
        elif original is not None:
            body += (
                f"Sie storniert unsere Rechnung {original['number']} vom {format_date(original['issue_date'], 'de')}.\n"
            )
            if int(row["refund_due_cents"]):
                refund = format_cents(int(row["refund_due_cents"]), "de")
                body += f"Den bereits gezahlten Betrag von {refund} erstatten wir.\n"
        body += f"\nMit freundlichen Grüßen\n{seller}"
    else:
        subject = f"{noun} {number} from {seller}"
        body = f"Hello {name},\n\nplease find attached our {noun.lower()} {number} of {issued} for {amount}.\n"
        if kind == "invoice":
            body += f"Please pay the amount by {due}.\n"
        elif original is not None:
            body += f"It cancels our invoice {original['number']} of {original['issue_date']}.\n"
            if int(row["refund_due_cents"]):
                body += f"We will refund the {format_cents(int(row['refund_due_cents']), 'en')} already paid.\n"
        body += f"\nKind regards\n{seller}"
    ctx.email(to, subject, body, kind, row["id"])


def _tax_groups(groups: list[dict[str, Any]], kind: str, reason: str | None) -> list[dict[str, Any]]:
    rule = treatment(kind, reason)
    out = []
    for group in groups:
        category = rule.category or ("S" if float(group["tax_rate"]) > 0 else "Z")
        out.append({**group, "category": category, "exemption_reason": rule.reason if rule.category else None})
    return out


def _document(
    ctx: Ctx, row: Row, seller: dict[str, Any], buyer: dict[str, Any], kind: str, original: Row | None
) -> dict[str, Any]:
    """The complete document as issued: what the PDF and the XML print, frozen at sending."""
    lang = ctx.lang
    rule = treatment(kind, row["exemption_reason"])
    credit = row["kind"] == "credit_note"
    terms = None
    if row["due_date"] and not credit:
        due = format_date(row["due_date"], lang)
        terms = f"Zahlbar ohne Abzug bis zum {due}." if lang == "de" else f"Payable without deduction by {due}."
    return {
        "kind": row["kind"],
        "title": _TITLES[lang][str(row["kind"])],
        "number": row["number"],
        "issue_date": row["issue_date"],
        "due_date": row["due_date"],
        "service_date": row["service_date"],
        "service_period_start": row["service_period_start"],
        "service_period_end": row["service_period_end"],
        "tax_treatment": kind,
        "exemption_reason": row["exemption_reason"],
        "line_items": loads(row["line_items"]),
        "tax_groups": _tax_groups(loads(row["tax_groups"]), kind, row["exemption_reason"]),
        "total_net_cents": row["total_net_cents"],
        "total_tax_cents": row["total_tax_cents"],
        "total_gross_cents": row["total_gross_cents"],
        "refund_due_cents": row["refund_due_cents"] if credit else None,
        "notes": row["notes"],
        "legal_notes": [note] if (note := rule.note(lang)) else [],
        "payment_terms": terms,
        "seller": seller,
        "buyer": buyer,
        "original": {"number": original["number"], "issue_date": original["issue_date"]} if original else None,
        "lang": lang,
    }


def _render(document: dict[str, Any], with_xml: bool) -> bytes:
    from dversum_sandbox.billing.pdf import render_invoice_pdf  # fpdf2/factur-x/fontTools: ~0.5 s, loaded on first PDF

    seller, buyer, original = document["seller"], document["buyer"], document["original"]
    xml = build_cii(document, seller, buyer, original) if with_xml else None
    return render_invoice_pdf(document, seller, buyer, document["lang"], xml, original)


def _freeze(ctx: Ctx, row: Row, document: dict[str, Any]) -> dict[str, Any]:
    """Store the issued document and its PDF for good; the columns to update on the invoice."""
    data = _render(document, with_xml=True)
    digest = store_issued(ctx, row["id"], str(row["kind"]), str(row["number"]), data, "application/pdf")
    return {"document": dumps(document), "document_sha256": digest}


def _check_dates(ctx: Ctx, row: Row) -> date:
    """The issue date of a sendable invoice: not in the future, not before the latest sent one (§14, GoBD)."""
    issue, day = date.fromisoformat(row["issue_date"]), today(ctx)
    where = f"PUT /invoices/{row['id']}"
    if issue > day:
        raise validation(
            "issue_date", f"issue_date {issue} lies in the future; an invoice is dated the day it is issued ({where})"
        )
    latest = ctx.db.scalar(
        "SELECT MAX(issue_date) FROM invoices WHERE org_id = ? AND kind = 'invoice' AND number IS NOT NULL",
        (ctx.org_id,),
    )
    if latest and row["issue_date"] < latest:
        raise validation(
            "issue_date",
            f"issue_date {issue} lies before {latest}, the date of the latest sent invoice: numbers must rise "
            f"with their dates, so a late invoice is dated today; set issue_date to {day} ({where})",
        )
    return issue


def send_invoice(ctx: Ctx) -> dict[str, Any]:
    row = load_invoice(ctx)
    if row["status"] != "draft":
        message = f"Invoice {row['number']} was already sent on {row['sent_at']} and is locked"
        raise conflict(message + f"; chase payment with POST /invoices/{row['id']}/reminders", error="already_sent")
    if int(row["total_gross_cents"]) <= 0:
        raise validation(
            "line_items",
            f"the invoice total is {format_cents(int(row['total_gross_cents']), 'en')}; an invoice must be for a "
            "positive amount. To give money back, cancel the original invoice with a credit note "
            "(POST /invoices/{id}/credit-note)",
        )
    client = recipient(ctx, row["client_id"])
    org = org_row(ctx)
    seller, buyer = seller_party(org), buyer_party(client)
    kind = _check_treatment(ctx, str(row["tax_treatment"]), loads(row["line_items"]))
    refuse_missing(missing_data(seller, buyer, kind, row["client_id"]), "The invoice")
    if kind == "intra_community_supply" and (
        buyer["country"] not in EU_COUNTRIES or buyer["country"] == seller["country"]
    ):
        raise validation(
            "client.country",
            f"an intra-community supply goes to a business in another EU member state; the client's country is "
            f"{buyer['country']} (PUT /clients/{row['client_id']}) or choose another tax_treatment",
        )
    issue = _check_dates(ctx, row)
    number = next_number(ctx, "RE", issue.year)
    now = ctx.timestamp()
    numbered = {**row, "number": number}
    frozen = _freeze(ctx, numbered, _document(ctx, numbered, seller, buyer, kind, None))
    ctx.db.update(
        "invoices", row["id"], {"number": number, "status": "sent", "sent_at": now, "updated_at": now, **frozen}
    )
    sent = ctx.fetch("invoices", "invoice", row["id"])
    _invoice_mail(ctx, sent, client["email"], client.get("contact_person") or buyer["name"], seller["name"] or "", None)
    data = invoice_json(ctx, sent)
    ctx.emit("invoice.sent", data)
    return data


def invoice_pdf(ctx: Ctx) -> Raw:
    row = load_invoice(ctx)
    data = issued_pdf(ctx, row["id"]) if row["document_sha256"] else None
    if data is None:  # a draft (marked ENTWURF/DRAFT, no XML), or a document sent before freezing existed
        org = org_row(ctx)
        client = client_row(ctx, row["client_id"]) or {"name": invoice_json(ctx, row)["client"]["name"]}
        kind = effective_treatment(org, str(row["tax_treatment"]))
        document = _document(ctx, row, seller_party(org), buyer_party(client), kind, None)
        data = _render(document, with_xml=row["number"] is not None)
    name = row["number"] or f"{'ENTWURF' if ctx.lang == 'de' else 'DRAFT'}-{row['id'][:8]}"
    return Raw(data, "application/pdf", headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'})


def create_credit_note(ctx: Ctx) -> dict[str, Any]:
    row = load_invoice(ctx)
    if row["kind"] == "credit_note":
        raise conflict(
            f"{row['number']} is itself a cancellation invoice and cannot be cancelled", error="invoice_locked"
        )
    if row["status"] == "draft":
        raise conflict("Invoice is a draft; change or delete it instead of cancelling it", error="invoice_not_sent")
    if row["credited_by"]:
        credit = ctx.db.one("SELECT number FROM invoices WHERE id = ?", (row["credited_by"],)) or {}
        raise conflict(
            f"Invoice {row['number']} was already cancelled by {credit.get('number')} ({row['credited_by']})",
            error="already_credited",
        )
    totals = negate_lines(loads(row["line_items"]))
    day = today(ctx)
    now = ctx.timestamp()
    credit_id = new_id()
    issued = loads(row["document"]) or {}
    org = org_row(ctx)
    seller = issued.get("seller") or seller_party(org)
    client = client_row(ctx, row["client_id"])
    buyer = issued.get("buyer") or buyer_party(client or {"name": invoice_json(ctx, row)["client"]["name"]})
    kind = issued.get("tax_treatment") or effective_treatment(org, str(row["tax_treatment"]))
    credit_row: Row = {
        "id": credit_id,
        "org_id": ctx.org_id,
        "client_id": row["client_id"],
        "project_id": row["project_id"],
        "number": next_number(ctx, "ST", day.year),
        "status": "sent",
        "kind": "credit_note",
        "issue_date": day.isoformat(),
        "due_date": None,
        "service_date": row["service_date"],
        "service_period_start": row["service_period_start"],
        "service_period_end": row["service_period_end"],
        "tax_treatment": row["tax_treatment"],
        "exemption_reason": row["exemption_reason"],
        **totals.columns(),
        "refund_due_cents": int(row["paid_cents"]),
        "credit_note_of": row["id"],
        "sent_at": now,
        "created_at": now,
        "updated_at": now,
    }
    document = _document(ctx, {**credit_row, "paid_cents": 0, "notes": None}, seller, buyer, kind, row)
    credit_row.update(_freeze(ctx, credit_row, document))
    ctx.db.insert("invoices", credit_row)
    ctx.db.update("invoices", row["id"], {"status": "credited", "credited_by": credit_id, "updated_at": now})
    stored = ctx.fetch("invoices", "invoice", credit_id)
    if client and (client.get("email") or "").strip():
        name = client.get("contact_person") or buyer.get("name") or ""
        _invoice_mail(ctx, stored, client["email"], name, seller.get("name") or "", row)
    credit_json = invoice_json(ctx, stored)
    ctx.emit("invoice.created", credit_json)
    ctx.emit("invoice.updated", invoice_json(ctx, ctx.fetch("invoices", "invoice", row["id"])))
    return credit_json


ENDPOINTS = [
    Endpoint("GET", "/invoices", list_invoices),
    Endpoint("POST", "/invoices", create_invoice, status=201),
    Endpoint("GET", "/invoices/{id}", get_invoice),
    Endpoint("PUT", "/invoices/{id}", update_invoice),
    Endpoint("DELETE", "/invoices/{id}", delete_invoice),
    Endpoint("POST", "/invoices/{id}/send", send_invoice),
    Endpoint("GET", "/invoices/{id}/pdf", invoice_pdf),
    Endpoint("POST", "/invoices/{id}/credit-note", create_credit_note, status=201),
    *payments.ENDPOINTS,
]
