"""Invoices: drafts, sending (gapless RE- number, GoBD lock), PDF with ZUGFeRD XML, credit notes.

Payments and dunning live in `payments.py`, the tables and the shared JSON in `invoice_store.py`;
this module's `SCHEMA` and `ENDPOINTS` include theirs, so `app.py` needs only this one. Every
handler first runs `sweep`, which emits `invoice.overdue` once per invoice as time passes.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from dversum_sandbox.billing import invoice_store, payments
from dversum_sandbox.billing.invoice_store import (
    OVERDUE_SQL,
    client_row,
    format_date,
    insert_invoice,
    invoice_json,
    load_invoice,
    next_number,
    org_row,
    recipient,
    require_client,
    require_project,
    sweep,
    today,
)
from dversum_sandbox.billing.money import format_cents, negate_lines, parse_line_items
from dversum_sandbox.billing.zugferd import build_cii
from dversum_sandbox.db import Row, loads
from dversum_sandbox.errors import bad_request, conflict, validation
from dversum_sandbox.framework import MISSING, Ctx, Endpoint, Raw, new_id

__all__ = ["ENDPOINTS", "SCHEMA", "locked_error", "sweep"]

SCHEMA = invoice_store.SCHEMA
STATUSES = ("draft", "sent", "partially_paid", "paid", "overdue", "credited")


def locked_error(row: Row) -> Exception:
    """409 for any change to a document that is no longer a draft (§14 UStG / GoBD)."""
    if row["kind"] == "credit_note":
        message = f"Credit note {row['number']} is issued and locked (§14 UStG/GoBD)"
    elif row["status"] == "credited":
        message = f"Invoice {row['number']} is cancelled by credit note and locked (§14 UStG/GoBD)"
    else:
        message = f"Invoice {row['number']} is sent and locked (§14 UStG/GoBD); create a credit note instead"
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
        if status == "overdue":
            where += f" AND {OVERDUE_SQL}"
            params.append(day)
        else:
            where += f" AND status = ? AND NOT {OVERDUE_SQL}"
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
    service = ctx.date_field("service_date")
    notes = _notes(ctx)
    row = insert_invoice(
        ctx,
        client_id=client_id,
        totals=totals,
        issue_date=None if issue is MISSING else issue,
        due_date=None if due is MISSING else due,
        service_date=None if service is MISSING else service,
        project_id=None if project_id is MISSING else project_id,
        notes=None if notes is MISSING else notes,
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
    for name in ("issue_date", "due_date", "service_date"):
        value = ctx.date_field(name)
        if value is not MISSING:
            changes[name] = value.isoformat()
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
    ctx.db.update("invoices", row["id"], changes)
    updated = invoice_json(ctx, ctx.fetch("invoices", "invoice", row["id"]))
    ctx.emit("invoice.updated", updated)
    return updated


def delete_invoice(ctx: Ctx) -> None:
    row = load_invoice(ctx)
    if row["status"] != "draft":
        raise locked_error(row)
    gone = invoice_json(ctx, row)
    ctx.db.execute("DELETE FROM invoices WHERE id = ?", (row["id"],))
    ctx.emit("invoice.deleted", gone)


def _invoice_mail(ctx: Ctx, row: Row, client: Row, kind: str) -> None:
    org = org_row(ctx)
    amount = format_cents(int(row["total_gross_cents"]), ctx.lang)
    issued, due = format_date(row["issue_date"], ctx.lang), format_date(row["due_date"], ctx.lang)
    number, seller, name = row["number"], org.get("name") or "dVersum", client.get("contact_person") or client["name"]
    if ctx.lang == "de":
        noun = "Gutschrift" if kind == "credit_note" else "Rechnung"
        subject = f"{noun} {number} von {seller}"
        body = f"Guten Tag {name},\n\nanbei erhalten Sie unsere {noun} {number} vom {issued} über {amount}.\n"
        if kind == "invoice":
            body += f"Bitte überweisen Sie den Betrag bis zum {due}.\n"
        body += f"\nMit freundlichen Grüßen\n{seller}"
    else:
        noun = "credit note" if kind == "credit_note" else "invoice"
        subject = f"{noun.capitalize()} {number} from {seller}"
        body = f"Hello {name},\n\nplease find attached our {noun} {number} of {issued} for {amount}.\n"
        if kind == "invoice":
            body += f"Please pay the amount by {due}.\n"
        body += f"\nKind regards\n{seller}"
    ctx.email(client["email"], subject, body, kind, row["id"])


def send_invoice(ctx: Ctx) -> dict[str, Any]:
    row = load_invoice(ctx)
    if row["status"] != "draft":
        message = f"Invoice {row['number']} was already sent on {row['sent_at']} and is locked"
        raise conflict(message + "; use send_invoice_reminder to chase payment", error="already_sent")
    client = recipient(ctx, row["client_id"])
    number = next_number(ctx, "RE", date.fromisoformat(row["issue_date"]).year)
    now = ctx.timestamp()
    ctx.db.update("invoices", row["id"], {"number": number, "status": "sent", "sent_at": now, "updated_at": now})
    sent = ctx.fetch("invoices", "invoice", row["id"])
    _invoice_mail(ctx, sent, client, "invoice")
    data = invoice_json(ctx, sent)
    ctx.emit("invoice.sent", data)
    return data


def invoice_pdf(ctx: Ctx) -> Raw:
    row = load_invoice(ctx)
    doc = invoice_json(ctx, row)
    buyer = client_row(ctx, row["client_id"]) or {"name": doc["client"]["name"]}
    seller = org_row(ctx)
    original = (
        ctx.db.one("SELECT * FROM invoices WHERE id = ?", (row["credit_note_of"],)) if row["credit_note_of"] else None
    )
    xml = build_cii(doc, seller, buyer, original) if row["number"] else None
    from dversum_sandbox.billing.pdf import render_invoice_pdf  # fpdf2/factur-x/fontTools: ~0.5 s, loaded on first PDF

    data = render_invoice_pdf(doc, seller, buyer, ctx.lang, xml, original)
    name = row["number"] or f"{'ENTWURF' if ctx.lang == 'de' else 'DRAFT'}-{row['id'][:8]}"
    return Raw(data, "application/pdf", headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'})


def create_credit_note(ctx: Ctx) -> dict[str, Any]:
    row = load_invoice(ctx)
    if row["kind"] == "credit_note":
        raise conflict(f"{row['number']} is itself a credit note and cannot be credited", error="invoice_locked")
    if row["status"] == "draft":
        raise conflict("Invoice is a draft; change or delete it instead of crediting it", error="invoice_not_sent")
    if row["credited_by"]:
        credit = ctx.db.one("SELECT number FROM invoices WHERE id = ?", (row["credited_by"],)) or {}
        raise conflict(
            f"Invoice {row['number']} was already credited by {credit.get('number')} ({row['credited_by']})",
            error="already_credited",
        )
    totals = negate_lines(loads(row["line_items"]))
    day = today(ctx)
    now = ctx.timestamp()
    credit_id = new_id()
    ctx.db.insert(
        "invoices",
        {
            "id": credit_id,
            "org_id": ctx.org_id,
            "client_id": row["client_id"],
            "project_id": row["project_id"],
            "number": next_number(ctx, "GS", day.year),
            "status": "sent",
            "kind": "credit_note",
            "issue_date": day.isoformat(),
            "due_date": None,
            "service_date": row["service_date"],
            **totals.columns(),
            "credit_note_of": row["id"],
            "sent_at": now,
            "created_at": now,
            "updated_at": now,
        },
    )
    ctx.db.update("invoices", row["id"], {"status": "credited", "credited_by": credit_id, "updated_at": now})
    credit_row = ctx.fetch("invoices", "invoice", credit_id)
    client = client_row(ctx, row["client_id"])
    if client and (client.get("email") or "").strip():
        _invoice_mail(ctx, credit_row, client, "credit_note")
    credit_json = invoice_json(ctx, credit_row)
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
