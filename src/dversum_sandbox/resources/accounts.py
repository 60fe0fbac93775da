"""Organizations, users and API tokens; `/me`, `/organization`, `/users`, `/users/{id}`.

Tokens are stored as SHA-256 hashes. `create_workspace` is how the seed (and tests) make an
organization with its first user and token; the API has no endpoint for that. `/organization`
holds the seller's own data every invoice prints (§14 Abs. 4 UStG: name, address, tax number or
VAT id), the bank account, the §19 small-business flag and the dunning intervals and fees. A
change applies to documents sent afterwards; sent ones keep the copy frozen at sending.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

from dversum_sandbox.db import Database, Row, dumps, loads
from dversum_sandbox.errors import validation
from dversum_sandbox.framework import Ctx, Endpoint, new_id
from dversum_sandbox.util import email_field, optional_text

__all__ = [
    "DUNNING_DAYS",
    "DUNNING_FEES_CENTS",
    "ENDPOINTS",
    "SCHEMA",
    "add_user",
    "create_workspace",
    "hash_token",
    "lookup_token",
    "organization_json",
    "user_json",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS orgs (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, vat_id TEXT, tax_number TEXT, street TEXT, postal_code TEXT, city TEXT,
  country TEXT NOT NULL DEFAULT 'DE', iban TEXT, bic TEXT, bank_name TEXT, email TEXT, phone TEXT,
  register_court TEXT, register_number TEXT, managing_directors TEXT, small_business INTEGER NOT NULL DEFAULT 0,
  dunning_days TEXT, dunning_fees_cents TEXT, created_at TEXT NOT NULL, updated_at TEXT
);
CREATE TABLE IF NOT EXISTS users (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL REFERENCES orgs(id), name TEXT NOT NULL, email TEXT NOT NULL,
  slug TEXT NOT NULL UNIQUE, role TEXT NOT NULL DEFAULT 'member', working_hours TEXT, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_tokens (
  token_hash TEXT PRIMARY KEY, org_id TEXT NOT NULL, user_id TEXT NOT NULL, label TEXT, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, to_addr TEXT NOT NULL, subject TEXT NOT NULL, body TEXT NOT NULL,
  kind TEXT NOT NULL, related_id TEXT, created_at TEXT NOT NULL
);
"""

DUNNING_DAYS = (7, 14, 14)
"""Days after the due date before the first reminder, then days after each reminder before the next level."""
DUNNING_FEES_CENTS = (0, 500, 1000)
"""The fee of each dunning level (Zahlungserinnerung, 1. Mahnung, 2. Mahnung) unless a reminder names its own."""
ORG_TEXT_FIELDS = {
    "street": 300,
    "postal_code": 20,
    "city": 200,
    "bank_name": 200,
    "phone": 50,
    "register_court": 200,
    "register_number": 50,
    "managing_directors": 500,
}
_VAT_ID = re.compile(r"^[A-Z]{2}[0-9A-Z+*.]{2,13}$")
_TAX_NUMBER = re.compile(r"^[0-9][0-9/ ]{8,18}[0-9]$")
_IBAN = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")
_BIC = re.compile(r"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")

DEFAULT_HOURS = [{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(1, 6)]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def lookup_token(db: Database, token: str) -> tuple[str, str] | None:
    row = db.one("SELECT org_id, user_id FROM api_tokens WHERE token_hash = ?", (hash_token(token),))
    return None if row is None else (row["org_id"], row["user_id"])


def add_user(db: Database, org_id: str, name: str, email: str, slug: str, role: str, now: str) -> str:
    user_id = new_id()
    db.insert(
        "users",
        {
            "id": user_id,
            "org_id": org_id,
            "name": name,
            "email": email,
            "slug": slug,
            "role": role,
            "working_hours": dumps(DEFAULT_HOURS),
            "created_at": now,
        },
    )
    return user_id


def create_workspace(
    db: Database, org_name: str, user_name: str, email: str, slug: str, now: str, token: str | None = None
) -> tuple[str, str, str]:
    """A new organization with an owner and an API token: `(org_id, user_id, token)`. Call inside a transaction."""
    org_id = new_id()
    db.insert("orgs", {"id": org_id, "name": org_name, "created_at": now})
    user_id = add_user(db, org_id, user_name, email, slug, "owner", now)
    token = token or "dvk_sandbox_" + secrets.token_urlsafe(24)
    db.insert(
        "api_tokens",
        {"token_hash": hash_token(token), "org_id": org_id, "user_id": user_id, "label": "sandbox", "created_at": now},
    )
    return org_id, user_id, token


def user_json(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "email": row["email"],
        "slug": row["slug"],
        "role": row["role"],
        "working_hours": loads(row["working_hours"]),
        "created_at": row["created_at"],
    }


def organization_json(row: Row) -> dict[str, Any]:
    """The organization's settings as the API shows them (dunning settings with their defaults)."""
    keys = ("id", "name", "street", "postal_code", "city", "country", "vat_id", "tax_number", "iban", "bic")
    more = ("bank_name", "email", "phone", "register_court", "register_number", "managing_directors")
    return {
        **{k: row.get(k) for k in (*keys, *more)},
        "small_business": bool(row.get("small_business")),
        "dunning_days": loads(row.get("dunning_days")) or list(DUNNING_DAYS),
        "dunning_fees_cents": loads(row.get("dunning_fees_cents")) or list(DUNNING_FEES_CENTS),
        "created_at": row.get("created_at"),
        "updated_at": row.get("updated_at") or row.get("created_at"),
    }


def iban_valid(iban: str) -> bool:
    """ISO 13616 check digits (mod 97 = 1)."""
    if not _IBAN.match(iban):
        return False
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def _compact(ctx: Ctx, name: str, max_length: int) -> Any:
    value = optional_text(ctx, name, max_length=max_length)
    return re.sub(r"[\s.-]", "", value).upper() if isinstance(value, str) else value


def _three(ctx: Ctx, name: str, maximum: int) -> list[int] | None:
    if name not in ctx.body:
        return None
    value = ctx.body[name]
    ok = isinstance(value, list) and len(value) == 3
    ok = ok and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= maximum for v in value)
    if not ok:
        raise validation(name, f"{name} must be a list of 3 whole numbers between 0 and {maximum}, one per level")
    return list(value)


def _organization_changes(ctx: Ctx) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    name = ctx.string("name", max_length=200)
    if isinstance(name, str):
        changes["name"] = name.strip()
    for field_name, limit in ORG_TEXT_FIELDS.items():
        value = optional_text(ctx, field_name, max_length=limit)
        if value is None or isinstance(value, str):
            changes[field_name] = value.strip() if isinstance(value, str) else None
    email = email_field(ctx, "email")
    if email is None or isinstance(email, str):
        changes["email"] = email
    country = _compact(ctx, "country", 2)
    if isinstance(country, str):
        if not _COUNTRY.match(country):
            raise validation("country", "country must be an ISO 3166-1 alpha-2 code, e.g. DE")
        changes["country"] = country
    elif "country" in ctx.body:
        raise validation("country", "country cannot be empty; give an ISO 3166-1 alpha-2 code, e.g. DE")
    vat_id = _compact(ctx, "vat_id", 30)
    if isinstance(vat_id, str) and not _VAT_ID.match(vat_id):
        raise validation("vat_id", "vat_id must be a VAT id with country prefix, e.g. DE123456789")
    if vat_id is None or isinstance(vat_id, str):
        changes["vat_id"] = vat_id
    tax_number = optional_text(ctx, "tax_number", max_length=30)
    if isinstance(tax_number, str):
        tax_number = tax_number.strip()
        if not _TAX_NUMBER.match(tax_number) or not 10 <= sum(ch.isdigit() for ch in tax_number) <= 13:
            raise validation("tax_number", "tax_number must be a Steuernummer of 10 to 13 digits, e.g. 22/815/08154")
    if tax_number is None or isinstance(tax_number, str):
        changes["tax_number"] = tax_number
    iban = _compact(ctx, "iban", 42)
    if isinstance(iban, str) and not iban_valid(iban):
        raise validation("iban", "iban is not a valid IBAN (check the digits), e.g. DE89370400440532013000")
    if iban is None or isinstance(iban, str):
        changes["iban"] = iban
    bic = _compact(ctx, "bic", 11)
    if isinstance(bic, str) and not _BIC.match(bic):
        raise validation("bic", "bic must be a BIC of 8 or 11 characters, e.g. COBADEFFXXX")
    if bic is None or isinstance(bic, str):
        changes["bic"] = bic
    small = ctx.boolean("small_business")
    if isinstance(small, bool):
        changes["small_business"] = int(small)
    days = _three(ctx, "dunning_days", 365)
    if days is not None:
        changes["dunning_days"] = dumps(days)
    fees = _three(ctx, "dunning_fees_cents", 1_000_000)
    if fees is not None:
        changes["dunning_fees_cents"] = dumps(fees)
    return changes


def get_organization(ctx: Ctx) -> dict[str, Any]:
    return organization_json(_org(ctx))


def _org(ctx: Ctx) -> Row:
    row = ctx.db.one("SELECT * FROM orgs WHERE id = ?", (ctx.org_id,))
    if row is None:  # pragma: no cover - a token always belongs to an organization
        raise validation(None, "organization not found")
    return row


def update_organization(ctx: Ctx) -> dict[str, Any]:
    row = _org(ctx)
    changes = _organization_changes(ctx)
    if not changes:
        return organization_json(row)
    changes["updated_at"] = ctx.timestamp()
    ctx.db.update("orgs", row["id"], changes)
    return organization_json(_org(ctx))


def get_me(ctx: Ctx) -> dict[str, Any]:
    user = ctx.fetch("users", "user", ctx.user_id)
    org = ctx.db.one("SELECT * FROM orgs WHERE id = ?", (ctx.org_id,)) or {}
    return {**user_json(user), "organization": {"id": org.get("id"), "name": org.get("name")}}


def list_users(ctx: Ctx) -> dict[str, Any]:
    where, params = "FROM users WHERE org_id = ?", [ctx.org_id]
    search = ctx.q("search")
    if search:
        where += " AND (name LIKE ? OR email LIKE ?)"
        params += [f"%{search}%", f"%{search}%"]
    return ctx.paginate("users", where, params, "name, id", user_json)


def get_user(ctx: Ctx) -> dict[str, Any]:
    return user_json(ctx.fetch("users", "user"))


ENDPOINTS = [
    Endpoint("GET", "/me", get_me),
    Endpoint("GET", "/organization", get_organization),
    Endpoint("PUT", "/organization", update_organization),
    Endpoint("GET", "/users", list_users),
    Endpoint("GET", "/users/{id}", get_user),
]
