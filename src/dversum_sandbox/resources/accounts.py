"""Organizations, users and API tokens; `/me`, `/users`, `/users/{id}`.

Tokens are stored as SHA-256 hashes. `create_workspace` is how the seed (and tests) make an
organization with its first user and token; the API has no endpoint for that.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from dversum_sandbox.db import Database, Row, dumps, loads
from dversum_sandbox.framework import Ctx, Endpoint, new_id

__all__ = ["ENDPOINTS", "SCHEMA", "add_user", "create_workspace", "hash_token", "lookup_token", "user_json"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS orgs (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, vat_id TEXT, address TEXT, iban TEXT, created_at TEXT NOT NULL
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
    Endpoint("GET", "/users", list_users),
    Endpoint("GET", "/users/{id}", get_user),
]
