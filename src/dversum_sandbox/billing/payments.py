"""Money in and money chased on an invoice: payments (with status recomputation) and dunning reminders.

A payment never exceeds the open amount (gross + dunning fees − payments): requests run one
at a time in their own transaction, so 100 concurrent 1-cent payments on a 50-cent invoice
yield exactly 50 payments. A payment is dated between the invoice's issue date and today. On a
credit note (Stornorechnung) a "payment" is the refund of what the client had paid on the
cancelled invoice. Reminders climb three levels (Zahlungserinnerung, 1. Mahnung, 2. Mahnung),
only for invoices past their due date, and keep the organization's intervals (`dunning_days`:
the first not before due date + N days, each next not before N days after the previous) and fees
(`dunning_fees_cents`, unless a reminder names its own fee).
"""

from __future__ import annotations

from datetime import date, timedelta
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
    today_of,
)
from dversum_sandbox.billing.money import format_cents
from dversum_sandbox.db import Row, loads
from dversum_sandbox.errors import conflict, not_found, validation
from dversum_sandbox.framework import MISSING, Ctx, Endpoint, new_id
from dversum_sandbox.resources.accounts import DUNNING_DAYS, DUNNING_FEES_CENTS

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
        raise conflict(f"Cancellation invoice {row['number']} takes no {action}", error="invoice_locked")
    if row["status"] == "draft":
        raise conflict(
            f"Invoice is a draft; send it first (POST /invoices/{row['id']}/send) before {action}",
            error="invoice_not_sent",
        )
    if row["status"] == "paid":
        raise conflict(f"Invoice {row['number']} is already paid in full; no {action}", error="already_paid")
    if row["status"] == "credited":
        raise conflict(
            f"Invoice {row['number']} was cancelled by a credit note ({row['credited_by']}); no {action}",
            error="invoice_credited",
        )


def _status_for(row: Row, paid: int) -> str:
    if row["kind"] == "credit_note":
        return "refunded" if paid >= int(row["refund_due_cents"]) and paid > 0 else "sent"
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
    day = today(ctx)
    paid_on = day if paid_at is MISSING else paid_at
    if row["kind"] == "credit_note":
        return _record_refund(ctx, row, amount, paid_on, method, reference)
    _refuse_settled(row, "payments")
    _check_paid_at(row, paid_on, day)
    available = open_cents(row)
    if amount > available:
        raise validation(
            "amount_cents",
            f"amount_cents {amount} exceeds the open amount of {available} cents "
            f"({format_cents(available, 'de')}) on invoice {row['number']}",
        )
    payment, invoice = _book(ctx, row, amount, paid_on, method, reference)
    ctx.emit("invoice.paid" if invoice["status"] == "paid" else "invoice.partially_paid", invoice)
    return {"payment": payment_json(payment), "invoice": invoice}


def _book(ctx: Ctx, row: Row, amount: int, paid_on: date, method: Any, reference: Any) -> tuple[Row, dict[str, Any]]:
    """Record one payment (or refund) and the document's new paid amount and status; both checked before."""
    payment: Row = {
        "id": new_id(),
        "org_id": ctx.org_id,
        "invoice_id": row["id"],
        "amount_cents": amount,
        "paid_at": paid_on.isoformat(),
        "method": "transfer" if method is MISSING else method,
        "reference": None if reference is MISSING else reference,
        "created_at": ctx.timestamp(),
    }
    ctx.db.insert("invoice_payments", payment)
    paid = int(row["paid_cents"]) + amount
    ctx.db.update(
        "invoices", row["id"], {"paid_cents": paid, "status": _status_for(row, paid), "updated_at": ctx.timestamp()}
    )
    return payment, invoice_json(ctx, ctx.fetch("invoices", "invoice", row["id"]))


def _check_paid_at(row: Row, paid_on: date, day: date) -> None:
    if paid_on > day:
        raise validation("paid_at", f"paid_at {paid_on} lies in the future; record a payment once it has arrived")
    if paid_on.isoformat() < row["issue_date"]:
        raise validation("paid_at", f"paid_at {paid_on} lies before {row['number']} was issued on {row['issue_date']}")


def _record_refund(ctx: Ctx, row: Row, amount: int, paid_on: date, method: Any, reference: Any) -> dict[str, Any]:
    """A refund paid out on a credit note: what the client had paid on the cancelled invoice, not more."""
    owed = -open_cents(row)
    if owed <= 0:
        raise conflict(
            f"Nothing is owed back on cancellation invoice {row['number']}: the client had paid nothing on the "
            "cancelled invoice, or the refund is already recorded",
            error="nothing_to_refund",
        )
    _check_paid_at(row, paid_on, today(ctx))
    if amount > owed:
        raise validation(
            "amount_cents",
            f"amount_cents {amount} exceeds the refund still owed on {row['number']}: {owed} cents "
            f"({format_cents(owed, 'de')})",
        )
    payment, credit = _book(ctx, row, amount, paid_on, method, reference)
    ctx.emit("invoice.updated", credit)
    return {"payment": payment_json(payment), "invoice": credit}


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


def _dunning(ctx: Ctx) -> tuple[list[int], list[int]]:
    org = org_row(ctx)
    days = loads(org.get("dunning_days")) or list(DUNNING_DAYS)
    fees = loads(org.get("dunning_fees_cents")) or list(DUNNING_FEES_CENTS)
    return [int(d) for d in days], [int(f) for f in fees]


def _check_interval(ctx: Ctx, row: Row, level: int, days: list[int]) -> None:
    """The organization's dunning intervals: due date + N days, then N days after the previous reminder."""
    day = today(ctx)
    if level == 1:
        since, what = date.fromisoformat(row["due_date"]), "the due date"
    else:
        last = ctx.db.scalar(
            "SELECT MAX(sent_at) FROM invoice_reminders WHERE invoice_id = ? AND org_id = ?", (row["id"], ctx.org_id)
        )
        since, what = today_of(str(last)), f"the previous reminder ({REMINDER_TITLES[level - 1]})"
    earliest = since + timedelta(days=days[level - 1])
    if day < earliest:
        raise conflict(
            f"{REMINDER_TITLES[level]} for invoice {row['number']} is possible from {earliest} on: the organization "
            f"waits {days[level - 1]} days after {what} (dunning_days in GET /organization)",
            field="dunning_days",
            error="too_early",
        )


def send_reminder(ctx: Ctx) -> dict[str, Any]:
    row = load_invoice(ctx)
    fee_sent = ctx.integer("fee_cents", minimum=0, maximum=100_000_000)
    message_sent = ctx.string("message", max_length=5000, allow_empty=True)
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
    days, fees = _dunning(ctx)
    _check_interval(ctx, row, level, days)
    fee = fees[level - 1] if fee_sent is MISSING else fee_sent
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
