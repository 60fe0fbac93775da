"""Quotes (Angebote): numbered drafts, sending with a public signing link, signing, expiry, conversion.

The signing link `{base_url}/public/quotes/{token}` is the only unauthenticated way in: its
handlers find the quote by token alone and then act for the quote's organization. A `sweep`
at the start of every handler marks sent quotes past `valid_until` as expired (`quote.expired`
once). Conversion reuses the invoice module's draft creation, so totals are computed the same.

A sent quote is locked: its content is frozen (`document`, `document_sha256`) as the client
received it. `POST /quotes/{id}/revise` starts version + 1 as a new draft with the same number;
once that version is sent, the older one reads `superseded` and its signing link answers 410.
A signature records the version and the gross total that were signed.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta
from typing import Any

from dversum_sandbox.billing.documents import buyer_party, seller_party
from dversum_sandbox.billing.invoice_store import (
    client_ref,
    format_date,
    insert_invoice,
    invoice_json,
    next_number,
    org_row,
    recipient,
    require_client,
    require_project,
    today,
)
from dversum_sandbox.billing.money import compute_totals, format_cents, parse_line_items
from dversum_sandbox.db import Row, dumps, loads
from dversum_sandbox.errors import SandboxError, bad_request, conflict, not_found, validation
from dversum_sandbox.framework import MISSING, Ctx, Endpoint, new_id

__all__ = ["ENDPOINTS", "SCHEMA", "quote_json", "sweep"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS quotes (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, client_id TEXT NOT NULL, project_id TEXT, number TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'draft', title TEXT, issue_date TEXT NOT NULL, valid_until TEXT NOT NULL,
  line_items TEXT NOT NULL, tax_groups TEXT NOT NULL, total_net_cents INTEGER NOT NULL,
  total_tax_cents INTEGER NOT NULL, total_gross_cents INTEGER NOT NULL, notes TEXT, signing_token TEXT,
  sent_at TEXT, signed_at TEXT, signer_name TEXT, signer_email TEXT, rejected_at TEXT, rejection_reason TEXT,
  invoice_id TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, version INTEGER NOT NULL DEFAULT 1,
  revision_of TEXT, superseded_by TEXT, document TEXT, document_sha256 TEXT, signed_version INTEGER,
  signed_gross_cents INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS quotes_org_number_version ON quotes(org_id, number, version);
CREATE UNIQUE INDEX IF NOT EXISTS quotes_signing_token ON quotes(signing_token) WHERE signing_token IS NOT NULL;
CREATE INDEX IF NOT EXISTS quotes_org_status ON quotes(org_id, status, valid_until);
"""

STATUSES = ("draft", "sent", "signed", "rejected", "expired", "converted", "superseded")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MONEY_KEYS = ("line_items", "tax_groups", "total_net_cents", "total_tax_cents", "total_gross_cents")


def _signing_url(ctx: Ctx, token: str | None) -> str | None:
    return f"{ctx.base_url}/public/quotes/{token}" if token else None


def quote_json(ctx: Ctx, row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "number": row["number"],
        "version": row["version"],
        "status": row["status"],
        "title": row["title"],
        "client": _client(ctx, row),
        "client_id": row["client_id"],
        "project_id": row["project_id"],
        "issue_date": row["issue_date"],
        "valid_until": row["valid_until"],
        "currency": "EUR",
        **{k: loads(row[k]) if k in ("line_items", "tax_groups") else row[k] for k in _MONEY_KEYS},
        "notes": row["notes"],
        "signing_token": row["signing_token"],
        "signing_url": _signing_url(ctx, row["signing_token"]),
        "sent_at": row["sent_at"],
        "signed_at": row["signed_at"],
        "signer_name": row["signer_name"],
        "signer_email": row["signer_email"],
        "signed_version": row["signed_version"],
        "signed_gross_cents": row["signed_gross_cents"],
        "rejected_at": row["rejected_at"],
        "rejection_reason": row["rejection_reason"],
        "invoice_id": row["invoice_id"],
        "revision_of": row["revision_of"],
        "superseded_by": row["superseded_by"],
        "document_sha256": row["document_sha256"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _client(ctx: Ctx, row: Row) -> dict[str, Any]:
    document = loads(row["document"])
    if isinstance(document, dict):
        return {"id": row["client_id"], "name": document["buyer"]["name"]}
    return client_ref(ctx, row["client_id"])


def _public_json(ctx: Ctx, row: Row) -> dict[str, Any]:
    """What the signer sees: the offer as it was sent, no internal ids or tokens."""
    document = loads(row["document"]) or {}
    seller = (document.get("seller") or {}).get("name") or org_row(ctx).get("name")
    return {
        "number": row["number"],
        "version": row["version"],
        "title": row["title"],
        "status": row["status"],
        "seller": {"name": seller},
        "client": {"name": _client(ctx, row)["name"]},
        "valid_until": row["valid_until"],
        "currency": "EUR",
        **{k: loads(row[k]) if k in ("line_items", "tax_groups") else row[k] for k in _MONEY_KEYS},
        "notes": row["notes"],
        "signed_at": row["signed_at"],
        "signer_name": row["signer_name"],
        "signed_version": row["signed_version"],
        "signed_gross_cents": row["signed_gross_cents"],
        "can_sign": row["status"] == "sent",
    }


def sweep(ctx: Ctx) -> None:
    """Expire sent quotes whose `valid_until` has passed, emitting `quote.expired` once each."""
    rows = ctx.db.all(
        "SELECT * FROM quotes WHERE org_id = ? AND status = 'sent' AND valid_until < ? ORDER BY valid_until, id",
        (ctx.org_id, today(ctx).isoformat()),
    )
    for row in rows:
        ctx.db.update("quotes", row["id"], {"status": "expired", "updated_at": ctx.timestamp()})
        ctx.emit("quote.expired", quote_json(ctx, ctx.fetch("quotes", "quote", row["id"])))


def _load(ctx: Ctx) -> Row:
    sweep(ctx)
    return ctx.fetch("quotes", "quote")


def _locked(row: Row, action: str) -> Exception:
    path = f"/quotes/{row['id']}"
    reasons = {
        "sent": f"was sent and is locked as the client received it; make a new version with POST {path}/revise",
        "signed": f"was signed on {row['signed_at']}; turn it into an invoice with POST {path}/convert-to-invoice",
        "converted": f"was converted into invoice {row['invoice_id']}",
        "rejected": f"was rejected by the client; make a new version with POST /quotes/{row['id']}/revise",
        "expired": f"expired on {row['valid_until']}; make a new version with POST /quotes/{row['id']}/revise",
        "superseded": f"was replaced by a newer version ({row['superseded_by']})",
    }
    return conflict(f"Quote {row['number']} {reasons[row['status']]}; it cannot be {action}", error="quote_locked")


def _valid_until(ctx: Ctx) -> Any:
    value = ctx.date_field("valid_until")
    if value is not MISSING and value < today(ctx):
        raise validation("valid_until", f"valid_until {value} lies in the past")
    return value


def _nullable(ctx: Ctx, name: str, reader: Any) -> Any:
    return None if name in ctx.body and ctx.body[name] is None else reader()


def list_quotes(ctx: Ctx) -> dict[str, Any]:
    sweep(ctx)
    where, params = "FROM quotes WHERE org_id = ?", [ctx.org_id]
    status = ctx.q_choice("status", STATUSES)
    if status is not None:
        where += " AND status = ?"
        params.append(status)
    client_id = ctx.q_id("client_id")
    if client_id:
        where += " AND client_id = ?"
        params.append(client_id)
    return ctx.paginate("quotes", where, params, "created_at DESC, number DESC", lambda r: quote_json(ctx, r))


def create_quote(ctx: Ctx) -> dict[str, Any]:
    sweep(ctx)
    client_id = ctx.id_field("client_id", required=True)
    if ctx.body.get("line_items") is None:
        raise bad_request("line_items is required: at least one line", "line_items")
    totals = parse_line_items(ctx.body["line_items"])
    require_client(ctx, client_id)
    project_id = ctx.id_field("project_id")
    if project_id is not MISSING:
        require_project(ctx, project_id)
    title = ctx.string("title", max_length=300)
    notes = ctx.string("notes", max_length=5000, allow_empty=True)
    valid_until = _valid_until(ctx)
    day, now = today(ctx), ctx.timestamp()
    row: Row = {
        "id": new_id(),
        "org_id": ctx.org_id,
        "client_id": client_id,
        "project_id": None if project_id is MISSING else project_id,
        "number": next_number(ctx, "AN", day.year),
        "status": "draft",
        "title": None if title is MISSING else title,
        "issue_date": day.isoformat(),
        "valid_until": (day + timedelta(days=30) if valid_until is MISSING else valid_until).isoformat(),
        **totals.columns(),
        "notes": None if notes is MISSING else notes,
        "created_at": now,
        "updated_at": now,
    }
    ctx.db.insert("quotes", row)
    data = quote_json(ctx, ctx.fetch("quotes", "quote", row["id"]))
    ctx.emit("quote.created", data)
    return data


def get_quote(ctx: Ctx) -> dict[str, Any]:
    return quote_json(ctx, _load(ctx))


def update_quote(ctx: Ctx) -> dict[str, Any]:
    row = _load(ctx)
    if row["status"] != "draft":
        raise _locked(row, "changed")
    changes: dict[str, Any] = {}
    client_id = ctx.id_field("client_id")
    if client_id is not MISSING:
        require_client(ctx, client_id)
        changes["client_id"] = client_id
    project_id = _nullable(ctx, "project_id", lambda: ctx.id_field("project_id"))
    if project_id not in (MISSING, None):
        require_project(ctx, project_id)
    if ctx.has("line_items"):
        changes.update(parse_line_items(ctx.body["line_items"]).columns())
    valid_until = _valid_until(ctx)
    fields = {
        "project_id": project_id,
        "title": _nullable(ctx, "title", lambda: ctx.string("title", max_length=300)),
        "notes": _nullable(ctx, "notes", lambda: ctx.string("notes", max_length=5000, allow_empty=True)),
        "valid_until": valid_until if valid_until is MISSING else valid_until.isoformat(),
    }
    changes.update({k: v for k, v in fields.items() if v is not MISSING})
    if not changes:
        return quote_json(ctx, row)
    changes["updated_at"] = ctx.timestamp()
    return ctx.update_and_emit("quotes", row, changes, quote_json, "quote.updated")


def delete_quote(ctx: Ctx) -> None:
    row = _load(ctx)
    if row["status"] in ("signed", "converted"):
        raise _locked(row, "deleted")
    if row["status"] == "superseded":
        raise _locked(row, "deleted")
    data = quote_json(ctx, row)
    ctx.db.execute("DELETE FROM quotes WHERE id = ?", (row["id"],))
    if row["revision_of"]:  # the previous version may be revised again
        ctx.db.execute(
            "UPDATE quotes SET superseded_by = NULL WHERE id = ? AND status != 'superseded'", (row["revision_of"],)
        )
    ctx.emit("quote.deleted", data)


def _quote_mail(ctx: Ctx, row: Row, client: Row) -> None:
    seller = org_row(ctx).get("name") or "dVersum"
    name = client.get("contact_person") or client["name"]
    amount, valid = format_cents(int(row["total_gross_cents"]), ctx.lang), format_date(row["valid_until"], ctx.lang)
    about = f" „{row['title']}“" if row["title"] else ""
    url = _signing_url(ctx, row["signing_token"])
    if ctx.lang == "de":
        subject = f"Angebot {row['number']} von {seller}"
        body = (
            f"Guten Tag {name},\n\nanbei erhalten Sie unser Angebot {row['number']}{about} über {amount}, "
            f"gültig bis {valid}.\nSie können es hier ansehen und online verbindlich annehmen:\n{url}\n\n"
            f"Mit freundlichen Grüßen\n{seller}"
        )
    else:
        subject = f"Quote {row['number']} from {seller}"
        body = (
            f"Hello {name},\n\nplease find our quote {row['number']}{about} for {amount}, valid until {valid}.\n"
            f"You can review and accept it online here:\n{url}\n\nKind regards\n{seller}"
        )
    ctx.email(client["email"], subject, body, "quote", row["id"])


def _freeze(ctx: Ctx, row: Row, client: Row) -> dict[str, Any]:
    """The quote as sent (seller, buyer, lines, totals, texts), kept for good with its SHA-256."""
    document = {
        "kind": "quote",
        "number": row["number"],
        "version": row["version"],
        "title": row["title"],
        "issue_date": row["issue_date"],
        "valid_until": row["valid_until"],
        **{k: loads(row[k]) if k in ("line_items", "tax_groups") else row[k] for k in _MONEY_KEYS},
        "notes": row["notes"],
        "seller": seller_party(org_row(ctx)),
        "buyer": buyer_party(client),
    }
    content = dumps(document).encode()
    digest = hashlib.sha256(content).hexdigest()
    ctx.db.insert(
        "issued_documents",
        {
            "id": row["id"],
            "org_id": ctx.org_id,
            "kind": "quote",
            "number": f"{row['number']} v{row['version']}",
            "media_type": "application/json",
            "content": content,
            "sha256": digest,
            "created_at": ctx.timestamp(),
        },
    )
    return {"document": content.decode(), "document_sha256": digest}


def _supersede(ctx: Ctx, row: Row) -> None:
    """Sending a new version retires the older ones of the same number: their signing links stop working."""
    older = ctx.db.all(
        "SELECT * FROM quotes WHERE org_id = ? AND number = ? AND version < ? AND status NOT IN ('superseded')",
        (ctx.org_id, row["number"], row["version"]),
    )
    for old in older:
        if old["status"] in ("signed", "converted"):
            raise conflict(
                f"Quote {old['number']} version {old['version']} was already signed; version {row['version']} "
                f"can no longer be sent (delete it with DELETE /quotes/{row['id']})",
                error="already_signed",
            )
    for old in older:
        ctx.db.update(
            "quotes", old["id"], {"status": "superseded", "superseded_by": row["id"], "updated_at": ctx.timestamp()}
        )
        ctx.emit("quote.updated", quote_json(ctx, ctx.fetch("quotes", "quote", old["id"])))


def send_quote(ctx: Ctx) -> dict[str, Any]:
    row = _load(ctx)
    if row["status"] not in ("draft", "sent"):
        raise _locked(row, "sent")
    if row["valid_until"] < today(ctx).isoformat():
        raise conflict(
            f"Quote {row['number']} was only valid until {row['valid_until']}; set a new valid_until "
            f"with PUT /quotes/{row['id']}",
            field="valid_until",
            error="quote_expired",
        )
    client = recipient(ctx, row["client_id"])
    now = ctx.timestamp()
    token = row["signing_token"] or secrets.token_urlsafe(24)
    changes = {"status": "sent", "signing_token": token, "sent_at": now, "updated_at": now}
    if row["status"] == "draft":  # a resent quote keeps the document it was first sent with
        _supersede(ctx, row)
        changes.update(_freeze(ctx, row, client))
    ctx.db.update("quotes", row["id"], changes)
    sent = ctx.fetch("quotes", "quote", row["id"])
    _quote_mail(ctx, sent, client)
    data = quote_json(ctx, sent)
    ctx.emit("quote.sent", data)
    return data


def revise_quote(ctx: Ctx) -> dict[str, Any]:
    row = _load(ctx)
    if row["status"] == "draft":
        raise conflict(
            f"Quote {row['number']} is still a draft; change it with PUT /quotes/{row['id']}", error="quote_not_sent"
        )
    if row["status"] in ("signed", "converted", "superseded"):
        raise _locked(row, "revised")
    if row["superseded_by"]:
        raise conflict(
            f"Quote {row['number']} already has a newer version ({row['superseded_by']}); change or send that one",
            error="revision_exists",
        )
    day, now = today(ctx), ctx.timestamp()
    valid = row["valid_until"] if row["valid_until"] >= day.isoformat() else (day + timedelta(days=30)).isoformat()
    revision: Row = {
        "id": new_id(),
        "org_id": ctx.org_id,
        "client_id": row["client_id"],
        "project_id": row["project_id"],
        "number": row["number"],
        "version": int(row["version"]) + 1,
        "revision_of": row["id"],
        "status": "draft",
        "title": row["title"],
        "issue_date": day.isoformat(),
        "valid_until": valid,
        **{k: row[k] for k in _MONEY_KEYS},
        "notes": row["notes"],
        "created_at": now,
        "updated_at": now,
    }
    ctx.db.insert("quotes", revision)
    ctx.db.update("quotes", row["id"], {"superseded_by": revision["id"], "updated_at": now})
    data = quote_json(ctx, ctx.fetch("quotes", "quote", revision["id"]))
    ctx.emit("quote.created", data)
    return data


def reject_quote(ctx: Ctx) -> dict[str, Any]:
    row = _load(ctx)
    reason = ctx.string("reason", max_length=2000, allow_empty=True)
    if row["status"] != "sent":
        if row["status"] == "draft":
            raise conflict(
                f"Quote {row['number']} is a draft; only sent quotes can be rejected", error="quote_not_sent"
            )
        raise _locked(row, "rejected")
    now = ctx.timestamp()
    ctx.db.update(
        "quotes",
        row["id"],
        {
            "status": "rejected",
            "rejected_at": now,
            "rejection_reason": None if reason is MISSING else reason,
            "updated_at": now,
        },
    )
    data = quote_json(ctx, ctx.fetch("quotes", "quote", row["id"]))
    ctx.emit("quote.rejected", data)
    return data


def _by_token(ctx: Ctx) -> Row:
    """The quote behind a signing link; from here on the request acts for the quote's organization."""
    token = ctx.path.get("token", "")
    row = ctx.db.one("SELECT * FROM quotes WHERE signing_token = ?", (token,)) if _TOKEN.match(token) else None
    if row is None:
        raise not_found("quote", None)
    ctx.org_id = row["org_id"]
    sweep(ctx)
    current = ctx.fetch("quotes", "quote", row["id"])
    if current["status"] == "superseded":
        newer = ctx.db.one("SELECT version FROM quotes WHERE id = ?", (current["superseded_by"],)) or {}
        raise SandboxError(
            410,
            "gone",
            f"Quote {current['number']} version {current['version']} was replaced by version "
            f"{newer.get('version')}; this signing link no longer works, use the link sent with the new version",
        )
    return current


def public_quote(ctx: Ctx) -> dict[str, Any]:
    return _public_json(ctx, _by_token(ctx))


def sign_quote(ctx: Ctx) -> dict[str, Any]:
    row = _by_token(ctx)
    signer = ctx.string("signer_name", required=True, max_length=200)
    email = ctx.string("signer_email", max_length=320)
    if email is not MISSING and not _EMAIL.match(email):
        raise validation("signer_email", "signer_email must be an e-mail address")
    if row["status"] == "expired":
        raise conflict(
            f"Quote {row['number']} expired on {row['valid_until']}; ask for a new quote", error="quote_expired"
        )
    if row["status"] in ("signed", "converted"):
        raise conflict(f"Quote {row['number']} was already signed on {row['signed_at']}", error="already_signed")
    if row["status"] != "sent":
        raise conflict(f"Quote {row['number']} was rejected and can no longer be signed", error="quote_rejected")
    now = ctx.timestamp()
    ctx.db.update(
        "quotes",
        row["id"],
        {
            "status": "signed",
            "signed_at": now,
            "signer_name": signer.strip(),
            "signer_email": None if email is MISSING else email,
            "signed_version": row["version"],
            "signed_gross_cents": row["total_gross_cents"],
            "updated_at": now,
        },
    )
    signed = ctx.fetch("quotes", "quote", row["id"])
    ctx.emit("quote.signed", quote_json(ctx, signed))
    return _public_json(ctx, signed)


def convert_quote(ctx: Ctx) -> dict[str, Any]:
    row = _load(ctx)
    if row["status"] == "converted":
        raise conflict(
            f"Quote {row['number']} was already converted into invoice {row['invoice_id']}",
            error="already_converted",
        )
    if row["status"] != "signed":
        raise conflict(
            f"Quote {row['number']} is {row['status']}, not signed; only signed quotes become invoices "
            "(the client signs through the signing link sent with the quote)",
            error="quote_not_signed",
        )
    require_client(ctx, row["client_id"])
    project = row["project_id"]
    if project and ctx.db.scalar("SELECT 1 FROM projects WHERE id = ? AND org_id = ?", (project, ctx.org_id)) is None:
        project = None
    invoice = insert_invoice(
        ctx,
        client_id=row["client_id"],
        totals=compute_totals(loads(row["line_items"])),
        project_id=project,
        notes=row["notes"],
        quote_id=row["id"],
    )
    ctx.db.update(
        "quotes", row["id"], {"status": "converted", "invoice_id": invoice["id"], "updated_at": ctx.timestamp()}
    )
    quote = quote_json(ctx, ctx.fetch("quotes", "quote", row["id"]))
    ctx.emit("quote.converted", quote)
    return {"quote": quote, "invoice": invoice_json(ctx, invoice)}


ENDPOINTS = [
    Endpoint("GET", "/quotes", list_quotes),
    Endpoint("POST", "/quotes", create_quote, status=201),
    Endpoint("GET", "/quotes/{id}", get_quote),
    Endpoint("PUT", "/quotes/{id}", update_quote),
    Endpoint("DELETE", "/quotes/{id}", delete_quote),
    Endpoint("POST", "/quotes/{id}/send", send_quote),
    Endpoint("POST", "/quotes/{id}/reject", reject_quote),
    Endpoint("POST", "/quotes/{id}/revise", revise_quote, status=201),
    Endpoint("POST", "/quotes/{id}/convert-to-invoice", convert_quote, status=201),
    Endpoint("GET", "/public/quotes/{token}", public_quote, public=True),
    Endpoint("POST", "/public/quotes/{token}/sign", sign_quote, public=True),
]
