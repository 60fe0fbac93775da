"""Money in and money chased on an invoice: payments (with status recomputation) and dunning reminders.

A payment never exceeds the open amount (gross + dunning fees − payments): requests run one
at a time in their own transaction, so 100 concurrent 1-cent payments on a 50-cent invoice
yield exactly 50 payments. Reminders climb three levels (Zahlungserinnerung, 1. Mahnung,
2. Mahnung) and only for invoices past their due date.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dversum_sandbox.billing.invoice_store import (
    format_date,
    invoice_json,
    load_invoice,
    open_cents,
    org_row,
    recipient,
    status_of,
    today,
)
from dversum_sandbox.billing.money import format_cents
from dversum_sandbox.db import Row
from dversum_sandbox.errors import conflict, not_found, validation
from dversum_sandbox.framework import MISSING, Ctx, Endpoint, new_id

__all__ = ["ENDPOINTS", "METHODS", "REMINDER_TITLES"]

METHODS = ("transfer", "cash", "card", "paypal", "direct_debit", "other")
REMINDER_TITLES = {1: "Zahlungserinnerung", 2: "1. Mahnung", 3: "2. Mahnung"}
_TITLES_EN = {1: "Payment reminder", 2: "First dunning notice", 3: "Second dunning notice"}
_MAX_LEVEL = 3


def payment_json(row: Row) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "invoice_id", "amount_cents", "paid_at", "method", "reference", "created_at")}


def reminder_json(row: Row) -> dict[str, Any]:
    keys = ("id", "invoice_id", "level", "title", "fee_cents", "open_cents", "message", "email_id", "sent_at")
    return {k: row[k] for k in keys}


def _refuse_settled(row: Row, action: str) -> None:
    """409 for documents that take no payments or reminders: drafts, credit notes, paid, credited."""
    if row["kind"] == "credit_note":
        raise conflict(f"Credit note {row['number']} takes no {action}", error="invoice_locked")
    if row["status"] == "draft":
        raise conflict(f"Invoice is a draft; send it first with send_invoice before {action}", error="invoice_not_sent")
    if row["status"] == "paid":
        raise conflict(f"Invoice {row['number']} is already paid in full; no {action}", error="already_paid")
    if row["status"] == "credited":
        raise conflict(
            f"Invoice {row['number']} was cancelled by a credit note ({row['credited_by']}); no {action}",
            error="invoice_credited",
        )


def _status_for(row: Row, paid: int) -> str:
    if paid <= 0:
        return "sent"
    return "paid" if paid >= int(row["total_gross_cents"]) + int(row["fees_cents"]) else "partially_paid"


def list_payments(ctx: Ctx) -> dict[str, Any]:
    row = load_invoice(ctx)
    where = "FROM invoice_payments WHERE invoice_id = ? AND org_id = ?"
    return ctx.paginate("payments", where, [row["id"], ctx.org_id], "paid_at, created_at, id", payment_json)


def record_payment(ctx: Ctx) -> dict[str, Any]:
    row = load_invoice(ctx)
    amount = ctx.integer("amount_cents", required=True, minimum=1)
    paid_at = ctx.date_field("paid_at")
    method = ctx.choice("method", METHODS)
    reference = ctx.string("reference", max_length=500, allow_empty=True)
    _refuse_settled(row, "payments")
    available = open_cents(row)
    if amount > available:
        raise validation(
            "amount_cents",
            f"amount_cents {amount} exceeds the open amount of {available} cents "
            f"({format_cents(available, 'de')}) on invoice {row['number']}",
        )
    payment: Row = {
        "id": new_id(),
        "org_id": ctx.org_id,
        "invoice_id": row["id"],
        "amount_cents": amount,
        "paid_at": (today(ctx) if paid_at is MISSING else paid_at).isoformat(),
        "method": "transfer" if method is MISSING else method,
        "reference": None if reference is MISSING else reference,
        "created_at": ctx.timestamp(),
    }
    ctx.db.insert("invoice_payments", payment)
    paid = int(row["paid_cents"]) + amount
    status = _status_for(row, paid)
    ctx.db.update("invoices", row["id"], {"paid_cents": paid, "status": status, "updated_at": ctx.timestamp()})
    invoice = invoice_json(ctx, ctx.fetch("invoices", "invoice", row["id"]))
    ctx.emit("invoice.paid" if status == "paid" else "invoice.partially_paid", invoice)
    return {"payment": payment_json(payment), "invoice": invoice}


def delete_payment(ctx: Ctx) -> None:
    row = load_invoice(ctx)
    payment_id = ctx.path_id("paymentId")
    payment = ctx.db.one(
        "SELECT * FROM invoice_payments WHERE id = ? AND invoice_id = ? AND org_id = ?",
        (payment_id, row["id"], ctx.org_id),
    )
    if payment is None:
        raise not_found("payment", payment_id)
    if row["status"] == "credited":
        raise conflict(
            f"Invoice {row['number']} was cancelled by a credit note; its payments are final", error="invoice_credited"
        )
    ctx.db.execute("DELETE FROM invoice_payments WHERE id = ?", (payment_id,))
    paid = int(row["paid_cents"]) - int(payment["amount_cents"])
    ctx.db.update(
        "invoices", row["id"], {"paid_cents": paid, "status": _status_for(row, paid), "updated_at": ctx.timestamp()}
    )
    ctx.emit("invoice.updated", invoice_json(ctx, ctx.fetch("invoices", "invoice", row["id"])))


def list_reminders(ctx: Ctx) -> dict[str, Any]:
    row = load_invoice(ctx)
    where = "FROM invoice_reminders WHERE invoice_id = ? AND org_id = ?"
    return ctx.paginate("reminders", where, [row["id"], ctx.org_id], "level, sent_at, id", reminder_json)


def _reminder_mail(ctx: Ctx, row: Row, client: Row, level: int, fee: int, message: str | None) -> str:
    seller = org_row(ctx).get("name") or "dVersum"
    name = client.get("contact_person") or client["name"]
    number, lang = row["number"], ctx.lang
    gross, open_amount = format_cents(int(row["total_gross_cents"]), lang), format_cents(open_cents(row), lang)
    issued, due = format_date(row["issue_date"], lang), format_date(row["due_date"], lang)
    pay_by = format_date((today(ctx) + timedelta(days=7)).isoformat(), lang)
    if lang == "de":
        subject = f"{REMINDER_TITLES[level]} zur Rechnung {number}"
        intro = "sicher haben Sie es nur übersehen: " if level == 1 else ""
        body = (
            f"Guten Tag {name},\n\n{intro}unsere Rechnung {number} vom {issued} über {gross} war am {due} fällig.\n"
            + (f"Für diese Mahnung berechnen wir eine Gebühr von {format_cents(fee, lang)}.\n" if fee else "")
            + f"Bitte überweisen Sie den offenen Betrag von {open_amount} bis zum {pay_by}.\n"
            + (f"\n{message}\n" if message else "")
            + f"\nMit freundlichen Grüßen\n{seller}"
        )
    else:
        subject = f"{_TITLES_EN[level]}: invoice {number}"
        intro = "perhaps this slipped through: " if level == 1 else ""
        body = (
            f"Hello {name},\n\n{intro}our invoice {number} of {issued} for {gross} was due on {due}.\n"
            + (f"We charge a fee of {format_cents(fee, lang)} for this notice.\n" if fee else "")
            + f"Please pay the open amount of {open_amount} by {pay_by}.\n"
            + (f"\n{message}\n" if message else "")
            + f"\nKind regards\n{seller}"
        )
    return ctx.email(client["email"], subject, body, "reminder", row["id"])


def send_reminder(ctx: Ctx) -> dict[str, Any]:
    row = load_invoice(ctx)
    fee_sent = ctx.integer("fee_cents", minimum=0, maximum=100_000_000)
    message_sent = ctx.string("message", max_length=5000, allow_empty=True)
    fee = 0 if fee_sent is MISSING else fee_sent
    message = None if message_sent is MISSING else message_sent
    _refuse_settled(row, "reminders")
    if status_of(row, today(ctx)) != "overdue":
        from_day = format_date(row["due_date"], "en")
        raise conflict(
            f"Invoice {row['number']} is due on {from_day} and not overdue yet; reminders are possible after that day",
            field="due_date",
            error="not_overdue",
        )
    level = int(row["reminder_level"]) + 1
    if level > _MAX_LEVEL:
        raise conflict(
            f"Invoice {row['number']} already had its {REMINDER_TITLES[_MAX_LEVEL]} (level {_MAX_LEVEL}); "
            "no further reminder levels: hand it to a collection agency or the court dunning procedure",
            error="max_reminder_level",
        )
    client = recipient(ctx, row["client_id"])
    now = ctx.timestamp()
    ctx.db.update(
        "invoices",
        row["id"],
        {"reminder_level": level, "fees_cents": int(row["fees_cents"]) + fee, "updated_at": now},
    )
    updated = ctx.fetch("invoices", "invoice", row["id"])
    email_id = _reminder_mail(ctx, updated, client, level, fee, message)
    reminder: Row = {
        "id": new_id(),
        "org_id": ctx.org_id,
        "invoice_id": row["id"],
        "level": level,
        "title": REMINDER_TITLES[level],
        "fee_cents": fee,
        "open_cents": open_cents(updated),
        "message": message,
        "email_id": email_id,
        "sent_at": now,
    }
    ctx.db.insert("invoice_reminders", reminder)
    data = reminder_json(reminder)
    ctx.emit("reminder.sent", data)
    return data


ENDPOINTS = [
    Endpoint("GET", "/invoices/{id}/payments", list_payments),
    Endpoint("POST", "/invoices/{id}/payments", record_payment, status=201),
    Endpoint("DELETE", "/invoices/{id}/payments/{paymentId}", delete_payment),
    Endpoint("GET", "/invoices/{id}/reminders", list_reminders),
    Endpoint("POST", "/invoices/{id}/reminders", send_reminder, status=201),
]
