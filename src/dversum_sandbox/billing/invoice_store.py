"""The invoice tables and what every invoice handler shares: JSON shape, status, numbering, overdue sweep.

Kept apart from the endpoint modules (`invoices.py`, `payments.py`, `quotes.py`) so each of them
can read and create invoices without importing the others. Credit notes (Stornorechnungen) have
no due date (NULL): nothing is payable on them; what the client already paid on the cancelled
invoice is owed back (`refund_due_cents`, shown as a negative `open_cents` until refunded).
Document numbers (`RE-2026-0001`, `ST-…`, `AN-…`) come from one counter table, incremented
inside the request's transaction: a rolled-back request gives its number back, a committed one
never reuses it.

GoBD: sending (or issuing a credit note) freezes the document. `document` holds the complete
issued content (seller, buyer, lines, totals, texts) as JSON, and `issued_documents` the PDF
bytes with their SHA-256; later edits of the client or the organization never reach them.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from typing import Any

from dversum_sandbox.billing.money import Totals
from dversum_sandbox.clock import today_berlin
from dversum_sandbox.db import Database, Row, loads
from dversum_sandbox.errors import validation
from dversum_sandbox.framework import Ctx, new_id

__all__ = [
    "SCHEMA",
    "client_ref",
    "client_row",
    "format_date",
    "insert_invoice",
    "invoice_json",
    "is_overdue",
    "issued_pdf",
    "load_invoice",
    "next_number",
    "open_cents",
    "org_row",
    "overdue_sql",
    "recipient",
    "require_client",
    "require_project",
    "status_of",
    "store_issued",
    "sweep",
    "today",
    "today_of",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS invoices (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, client_id TEXT NOT NULL, project_id TEXT, quote_id TEXT,
  number TEXT, status TEXT NOT NULL DEFAULT 'draft', kind TEXT NOT NULL DEFAULT 'invoice',
  issue_date TEXT NOT NULL, due_date TEXT, service_date TEXT,
  line_items TEXT NOT NULL, tax_groups TEXT NOT NULL,
  total_net_cents INTEGER NOT NULL, total_tax_cents INTEGER NOT NULL, total_gross_cents INTEGER NOT NULL,
  paid_cents INTEGER NOT NULL DEFAULT 0, fees_cents INTEGER NOT NULL DEFAULT 0, notes TEXT, sent_at TEXT,
  credit_note_of TEXT, credited_by TEXT, reminder_level INTEGER NOT NULL DEFAULT 0,
  overdue_notified INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
  tax_treatment TEXT NOT NULL DEFAULT 'standard', exemption_reason TEXT, service_period_start TEXT,
  service_period_end TEXT, refund_due_cents INTEGER NOT NULL DEFAULT 0, document TEXT, document_sha256 TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS invoices_org_number ON invoices(org_id, number) WHERE number IS NOT NULL;
CREATE INDEX IF NOT EXISTS invoices_org_status ON invoices(org_id, status, due_date);
CREATE INDEX IF NOT EXISTS invoices_org_client ON invoices(org_id, client_id);
CREATE TABLE IF NOT EXISTS invoice_payments (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, invoice_id TEXT NOT NULL, amount_cents INTEGER NOT NULL,
  paid_at TEXT NOT NULL, method TEXT NOT NULL, reference TEXT, created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS invoice_payments_invoice ON invoice_payments(invoice_id);
CREATE TABLE IF NOT EXISTS invoice_reminders (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, invoice_id TEXT NOT NULL, level INTEGER NOT NULL, title TEXT NOT NULL,
  fee_cents INTEGER NOT NULL, open_cents INTEGER NOT NULL, message TEXT, email_id TEXT, sent_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS invoice_reminders_invoice ON invoice_reminders(invoice_id);
CREATE TABLE IF NOT EXISTS issued_documents (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, kind TEXT NOT NULL, number TEXT NOT NULL, media_type TEXT NOT NULL,
  content BLOB NOT NULL, sha256 TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS document_counters (
  org_id TEXT NOT NULL, prefix TEXT NOT NULL, year INTEGER NOT NULL, last_number INTEGER NOT NULL,
  PRIMARY KEY (org_id, prefix, year)
);
"""

OPEN_STATUSES = ("sent", "partially_paid")


def is_overdue(kind: str | None, status: str | None, due_date: str | None, on: str) -> bool:
    """The overdue rule, the one place it is written: a sent, unpaid invoice (not a credit note) past its due date.

    SQL uses the same function (`overdue_sql`), so the list filter and the status always agree.
    """
    return kind == "invoice" and status in OPEN_STATUSES and due_date is not None and due_date < on


def overdue_sql(db: Database) -> str:
    """A WHERE condition for overdue rows (one `?`: today's ISO date), backed by `is_overdue`."""
    db.conn.create_function("dv_invoice_overdue", 4, is_overdue, deterministic=True)
    return "dv_invoice_overdue(kind, status, due_date, ?)"


def today(ctx: Ctx) -> date:
    return today_berlin(ctx.now)


def today_of(timestamp: str) -> date:
    """The Berlin calendar day of a stored ISO UTC timestamp."""
    return today_berlin(datetime.fromisoformat(timestamp.replace("Z", "+00:00")))


def format_date(value: str | None, lang: str) -> str:
    """`17.06.2026` for German readers, ISO for English ones."""
    if not value:
        return "—"
    return date.fromisoformat(value).strftime("%d.%m.%Y") if lang == "de" else value


def next_number(ctx: Ctx, prefix: str, year: int) -> str:
    """The next gapless `PREFIX-YEAR-NNNN` of this organization (part of the request's transaction)."""
    ctx.db.execute(
        "INSERT INTO document_counters (org_id, prefix, year, last_number) VALUES (?, ?, ?, 1) "
        "ON CONFLICT (org_id, prefix, year) DO UPDATE SET last_number = last_number + 1",
        (ctx.org_id, prefix, year),
    )
    number = ctx.db.scalar(
        "SELECT last_number FROM document_counters WHERE org_id = ? AND prefix = ? AND year = ?",
        (ctx.org_id, prefix, year),
    )
    return f"{prefix}-{year}-{int(number):04d}"


def org_row(ctx: Ctx) -> Row:
    return ctx.db.one("SELECT * FROM orgs WHERE id = ?", (ctx.org_id,)) or {"name": "", "id": ctx.org_id}


def client_row(ctx: Ctx, client_id: str) -> Row | None:
    return ctx.db.one("SELECT * FROM clients WHERE id = ? AND org_id = ?", (client_id, ctx.org_id))


def client_ref(ctx: Ctx, client_id: str) -> dict[str, Any]:
    row = ctx.db.one("SELECT name FROM clients WHERE id = ? AND org_id = ?", (client_id, ctx.org_id))
    return {"id": client_id, "name": row["name"] if row else None}


def require_client(ctx: Ctx, client_id: str) -> Row:
    row = client_row(ctx, client_id)
    if row is None:
        raise validation("client_id", f"Client {client_id} does not exist in this organization; see GET /clients")
    return row


def require_project(ctx: Ctx, project_id: str) -> None:
    found = ctx.db.scalar("SELECT 1 FROM projects WHERE id = ? AND org_id = ?", (project_id, ctx.org_id))
    if found is None:
        raise validation("project_id", f"Project {project_id} does not exist in this organization; see GET /projects")


def recipient(ctx: Ctx, client_id: str) -> Row:
    """The client a document goes to; 422 when it has no e-mail address to send it to."""
    row = require_client(ctx, client_id)
    if not (row.get("email") or "").strip():
        raise validation("client.email", f"Client has no e-mail address; set one with PUT /clients/{client_id}")
    return row


def open_cents(row: Row) -> int:
    """What the client still owes: gross + dunning fees − payments (nothing for credited documents).

    On a credit note it is what is still owed back to the client (negative), until the refund is recorded.
    """
    if row["kind"] == "credit_note":
        return -(int(row["refund_due_cents"]) - int(row["paid_cents"]))
    if row["status"] == "credited":
        return 0
    return int(row["total_gross_cents"]) + int(row["fees_cents"]) - int(row["paid_cents"])


def status_of(row: Row, on: date) -> str:
    """The API status: the stored one, or `overdue` for unpaid sent invoices past their due date."""
    if is_overdue(row["kind"], row["status"], row["due_date"], on.isoformat()):
        return "overdue"
    return str(row["status"])


def store_issued(ctx: Ctx, row_id: str, kind: str, number: str, content: bytes, media_type: str) -> str:
    """Keep the bytes of an issued document for good (GoBD); returns their SHA-256."""
    digest = hashlib.sha256(content).hexdigest()
    ctx.db.insert(
        "issued_documents",
        {
            "id": row_id,
            "org_id": ctx.org_id,
            "kind": kind,
            "number": number,
            "media_type": media_type,
            "content": content,
            "sha256": digest,
            "created_at": ctx.timestamp(),
        },
    )
    return digest


def issued_pdf(ctx: Ctx, row_id: str) -> bytes | None:
    """The PDF bytes stored when the document was issued (None for drafts)."""
    content = ctx.db.scalar("SELECT content FROM issued_documents WHERE id = ? AND org_id = ?", (row_id, ctx.org_id))
    return bytes(content) if content is not None else None


def _client_ref(ctx: Ctx, row: Row) -> dict[str, Any]:
    """The client reference; an issued document names the buyer as it was when it was issued."""
    document = loads(row.get("document"))
    if isinstance(document, dict) and isinstance(document.get("buyer"), dict):
        return {"id": row["client_id"], "name": document["buyer"].get("name")}
    return client_ref(ctx, row["client_id"])


def invoice_json(ctx: Ctx, row: Row) -> dict[str, Any]:
    payments = ctx.db.scalar("SELECT COUNT(*) FROM invoice_payments WHERE invoice_id = ?", (row["id"],))
    return {
        "id": row["id"],
        "number": row["number"],
        "status": status_of(row, today(ctx)),
        "kind": row["kind"],
        "client": _client_ref(ctx, row),
        "client_id": row["client_id"],
        "project_id": row["project_id"],
        "quote_id": row["quote_id"],
        "issue_date": row["issue_date"],
        "due_date": row["due_date"],
        "service_date": row["service_date"],
        "service_period_start": row["service_period_start"],
        "service_period_end": row["service_period_end"],
        "tax_treatment": row["tax_treatment"],
        "exemption_reason": row["exemption_reason"],
        "currency": "EUR",
        "line_items": loads(row["line_items"]),
        "tax_groups": loads(row["tax_groups"]),
        "total_net_cents": row["total_net_cents"],
        "total_tax_cents": row["total_tax_cents"],
        "total_gross_cents": row["total_gross_cents"],
        "fees_cents": row["fees_cents"],
        "paid_cents": row["paid_cents"],
        "open_cents": open_cents(row),
        "refund_due_cents": row["refund_due_cents"] if row["kind"] == "credit_note" else None,
        "payment_count": payments,
        "reminder_level": row["reminder_level"],
        "notes": row["notes"],
        "sent_at": row["sent_at"],
        "credit_note_of": row["credit_note_of"],
        "credited_by": row["credited_by"],
        "document_sha256": row["document_sha256"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def sweep(ctx: Ctx) -> None:
    """Emit `invoice.overdue` once for each invoice first seen past its due date (time passes between calls)."""
    overdue = overdue_sql(ctx.db)
    rows = ctx.db.all(
        f"SELECT * FROM invoices WHERE org_id = ? AND overdue_notified = 0 AND {overdue} ORDER BY due_date, id",  # noqa: S608
        (ctx.org_id, today(ctx).isoformat()),
    )
    for row in rows:
        ctx.db.update("invoices", row["id"], {"overdue_notified": 1})
        ctx.emit("invoice.overdue", invoice_json(ctx, row))


def load_invoice(ctx: Ctx, row_id: str | None = None) -> Row:
    """Sweep, then this organization's invoice (404 otherwise)."""
    sweep(ctx)
    return ctx.fetch("invoices", "invoice", row_id)


def insert_invoice(
    ctx: Ctx,
    *,
    client_id: str,
    totals: Totals,
    issue_date: date | None = None,
    due_date: date | None = None,
    service_date: date | None = None,
    project_id: str | None = None,
    notes: str | None = None,
    quote_id: str | None = None,
    tax: dict[str, Any] | None = None,
) -> Row:
    """A new draft invoice (client, project and `tax` columns already checked); emits `invoice.created`.

    No service date is invented: without one (or a period) the document says that it is the invoice date.
    """
    issue = issue_date or today(ctx)
    due = due_date or issue + timedelta(days=14)
    if due < issue:
        raise validation("due_date", f"due_date {due} lies before issue_date {issue}")
    now = ctx.timestamp()
    row: Row = {
        "id": new_id(),
        "org_id": ctx.org_id,
        "client_id": client_id,
        "project_id": project_id,
        "quote_id": quote_id,
        "status": "draft",
        "kind": "invoice",
        "issue_date": issue.isoformat(),
        "due_date": due.isoformat(),
        "service_date": service_date.isoformat() if service_date else None,
        **(tax or {}),
        **totals.columns(),
        "notes": notes,
        "created_at": now,
        "updated_at": now,
    }
    ctx.db.insert("invoices", row)
    created = ctx.fetch("invoices", "invoice", row["id"])
    ctx.emit("invoice.created", invoice_json(ctx, created))
    return created
