"""Clients: the business contacts invoices, quotes, projects and contracts reference.

E-mail addresses are unique per organization (case-insensitive). The postal address is structured
(`street`, `postal_code`, `city`, `country`) as §14 UStG invoices and EN 16931 XML need it; `address`
is the older name of the street line and is still accepted. `GET /clients/{id}` shows the
linked resources read from the other modules' tables; those tables may not exist yet in a
partial build, so every such read checks the schema first.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from dversum_sandbox.billing.invoice_store import status_of
from dversum_sandbox.clock import today_berlin
from dversum_sandbox.db import Row
from dversum_sandbox.errors import conflict, validation
from dversum_sandbox.framework import MISSING, Ctx, Endpoint, new_id
from dversum_sandbox.util import (
    color_field,
    email_field,
    fold,
    optional_text,
    search_clause,
    table_exists,
)

__all__ = ["ENDPOINTS", "SCHEMA", "client_json"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS clients (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, name TEXT NOT NULL, email TEXT, vat_id TEXT, country TEXT,
  color TEXT, phone TEXT, street TEXT, address TEXT, postal_code TEXT, city TEXT, contact_person TEXT, notes TEXT,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS clients_org_name ON clients(org_id, name);
"""

FIELDS = (
    "name",
    "email",
    "vat_id",
    "country",
    "color",
    "phone",
    "street",
    "address",
    "postal_code",
    "city",
    "contact_person",
    "notes",
)
_VAT_ID = re.compile(r"^[A-Z]{2}[0-9A-Z+*.]{2,13}$")
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")


def client_json(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        **{f: row[f] for f in FIELDS},
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _linked(ctx: Ctx, client_id: str) -> dict[str, list[dict[str, Any]]]:
    params = (ctx.org_id, client_id)
    where = "WHERE org_id = ? AND client_id = ? ORDER BY created_at, rowid"
    linked: dict[str, list[dict[str, Any]]] = {
        "projects": ctx.db.all(f"SELECT id, name, status FROM projects {where}", params),  # noqa: S608
        "invoices": [],
        "quotes": [],
        "contracts": [],
    }
    if table_exists(ctx.db, "invoices"):
        today = today_berlin(ctx.now)
        for inv in ctx.db.all(
            f"SELECT id, number, kind, status, due_date, total_gross_cents FROM invoices {where}",  # noqa: S608
            params,
        ):
            linked["invoices"].append(
                {
                    "id": inv["id"],
                    "number": inv["number"],
                    "status": status_of(inv, today),
                    "total_gross_cents": inv["total_gross_cents"],
                }
            )
    if table_exists(ctx.db, "quotes"):
        linked["quotes"] = ctx.db.all(f"SELECT id, number, status FROM quotes {where}", params)  # noqa: S608
    if table_exists(ctx.db, "contracts"):
        linked["contracts"] = ctx.db.all(f"SELECT id, title, status FROM contracts {where}", params)  # noqa: S608
    return linked


def client_detail(ctx: Ctx, row: Row) -> dict[str, Any]:
    return {**client_json(row), "linked": _linked(ctx, row["id"])}


def _read_fields(ctx: Ctx, *, create: bool) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": ctx.string("name", required=create, max_length=200),
        "email": email_field(ctx, "email"),
        "vat_id": optional_text(ctx, "vat_id", max_length=30),
        "country": optional_text(ctx, "country", max_length=2),
        "color": color_field(ctx),
        "notes": optional_text(ctx, "notes"),
    }
    for name in ("phone", "street", "address", "postal_code", "city", "contact_person"):
        values[name] = optional_text(ctx, name, max_length=300)
    if values["street"] is MISSING and values["address"] is not MISSING:
        values["street"] = values["address"]  # `address` is the older name of the street line
    if isinstance(values["name"], str):
        values["name"] = values["name"].strip()
    if isinstance(values["vat_id"], str):
        values["vat_id"] = re.sub(r"[\s.-]", "", values["vat_id"]).upper()
        if not _VAT_ID.match(values["vat_id"]):
            raise validation("vat_id", "vat_id must be a VAT id with country prefix, e.g. DE123456789")
    if isinstance(values["country"], str):
        if not _COUNTRY.match(values["country"]):
            raise validation("country", "country must be an ISO 3166-1 alpha-2 code, e.g. DE")
        values["country"] = values["country"].upper()
    return {k: v for k, v in values.items() if v is not MISSING}


def _check_email_free(ctx: Ctx, email: str | None, own_id: str | None) -> None:
    if email is None:
        return
    where, params = search_clause(ctx, ["email"], email)
    for row in ctx.db.all(f"SELECT id, email FROM clients WHERE org_id = ?{where}", [ctx.org_id, *params]):  # noqa: S608
        if row["id"] != own_id and fold(row["email"]) == fold(email):
            raise conflict(
                f"A client with email {row['email']} already exists (id {row['id']}); "
                "update that client or use another email",
                "email",
                "duplicate_email",
            )


def list_clients(ctx: Ctx) -> dict[str, Any]:
    where, params = "FROM clients WHERE org_id = ?", [ctx.org_id]
    search = ctx.q("search")
    if search:
        clause, extra = search_clause(ctx, ["name", "email"], search)
        where += clause
        params += extra
    return ctx.paginate("clients", where, params, "name COLLATE NOCASE, rowid", client_json)


def create_client(ctx: Ctx) -> dict[str, Any]:
    values = _read_fields(ctx, create=True)
    _check_email_free(ctx, values.get("email"), None)
    now = ctx.timestamp()
    row: Row = {"id": new_id(), "org_id": ctx.org_id, **dict.fromkeys(FIELDS), **values}
    row.update(created_at=now, updated_at=now)
    ctx.db.insert("clients", row)
    out = client_detail(ctx, row)
    ctx.emit("client.created", out)
    return out


def get_client(ctx: Ctx) -> dict[str, Any]:
    return client_detail(ctx, ctx.fetch("clients", "client"))


def update_client(ctx: Ctx) -> dict[str, Any]:
    row = ctx.fetch("clients", "client")
    values = _read_fields(ctx, create=False)
    if "email" in values:
        _check_email_free(ctx, values["email"], row["id"])
    values["updated_at"] = ctx.timestamp()
    return ctx.update_and_emit("clients", row, values, client_detail, "client.updated")


def delete_client(ctx: Ctx) -> None:
    row = ctx.fetch("clients", "client")
    if table_exists(ctx.db, "invoices"):
        count = ctx.db.scalar(
            "SELECT COUNT(*) FROM invoices WHERE org_id = ? AND client_id = ?", (ctx.org_id, row["id"])
        )
        if count:
            raise conflict(
                f"Client {row['id']} is referenced by {count} invoice(s) and cannot be deleted; "
                "invoices are kept for bookkeeping, so keep the client (or edit its details instead)",
                error="client_has_invoices",
            )
    out = client_detail(ctx, row)
    ctx.db.execute(
        "UPDATE projects SET client_id = NULL, updated_at = ? WHERE org_id = ? AND client_id = ?",
        (ctx.timestamp(), ctx.org_id, row["id"]),
    )
    try:
        ctx.db.execute("DELETE FROM clients WHERE id = ?", (row["id"],))
    except sqlite3.IntegrityError:
        raise conflict(
            f"Client {row['id']} is still referenced by quotes or contracts; delete those first",
            error="client_in_use",
        ) from None
    ctx.emit("client.deleted", out)


ENDPOINTS = [
    Endpoint("GET", "/clients", list_clients),
    Endpoint("POST", "/clients", create_client, status=201),
    Endpoint("GET", "/clients/{id}", get_client),
    Endpoint("PUT", "/clients/{id}", update_client),
    Endpoint("DELETE", "/clients/{id}", delete_client),
]
