"""Small helpers shared by the core resource modules (clients … pages): field checks and lookups.

Kept out of `framework.py` on purpose: these encode rules of the core resources (what an e-mail
or colour looks like, how a body field references another row), not request plumbing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal, TypeVar, overload

from dversum_sandbox.clock import iso
from dversum_sandbox.db import Database, Row
from dversum_sandbox.errors import validation
from dversum_sandbox.framework import MISSING, Ctx, Missing

__all__ = [
    "check_users",
    "color_field",
    "email_field",
    "fixed_list",
    "fold",
    "instant",
    "is_email",
    "nullable",
    "optional_text",
    "q_instant",
    "ref",
    "search_clause",
    "table_exists",
    "user_ref",
]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
T = TypeVar("T")


def fold(value: object) -> str | None:
    """Unicode-aware case folding (SQLite's own LIKE/lower only fold ASCII: Müller ≠ MÜLLER)."""
    return value.casefold() if isinstance(value, str) else None


def search_clause(ctx: Ctx, columns: Sequence[str], term: str) -> tuple[str, list[Any]]:
    """` AND (…)` matching `term` as a case-insensitive substring of any column (no LIKE escaping needed)."""
    ctx.db.conn.create_function("dv_fold", 1, fold, deterministic=True)
    parts = " OR ".join(f"instr(dv_fold({c}), ?) > 0" for c in columns)
    return f" AND ({parts})", [term.casefold()] * len(columns)


def table_exists(db: Database, name: str) -> bool:
    """Whether another module's table is in the schema yet (invoices, quotes, contracts)."""
    return bool(db.scalar("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)))


def fixed_list(key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """The list envelope for small unpaginated lists (columns, subtasks)."""
    return {key: items, "total": len(items), "page": 1, "per_page": max(len(items), 1)}


def nullable(ctx: Ctx, name: str, reader: Callable[[], T | Missing]) -> T | Missing | None:
    """For updates: MISSING when absent, None when sent as null (clears the field), else `reader()`."""
    if name not in ctx.body:
        return MISSING
    if ctx.body[name] is None:
        return None
    return reader()


def optional_text(ctx: Ctx, name: str, max_length: int = 10_000) -> str | Missing | None:
    """An optional free-text field: absent → MISSING, null or "" → None."""
    value = nullable(ctx, name, lambda: ctx.string(name, max_length=max_length, allow_empty=True))
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _instant(name: str, read: Callable[[], datetime | T]) -> str | T:
    try:
        value = read()
    except OverflowError:
        raise validation(name, f"{name} is out of range") from None
    if isinstance(value, datetime):
        if not 1000 <= value.year <= 9998:
            raise validation(name, f"{name} must be between the years 1000 and 9998")
        return iso(value)
    return value


@overload
def instant(ctx: Ctx, name: str, *, required: Literal[True]) -> str: ...
@overload
def instant(ctx: Ctx, name: str, *, required: bool = ...) -> str | Missing: ...
def instant(ctx: Ctx, name: str, *, required: bool = False) -> str | Missing:
    """A body date-time as the stored ISO UTC string (MISSING when absent); out-of-range years are a 422."""
    return _instant(name, lambda: ctx.datetime_field(name, required=required))


def q_instant(ctx: Ctx, name: str, *, required: bool = False) -> str | None:
    """A query date-time as an ISO UTC string (None when absent, 422 when required and absent)."""
    if required and ctx.q(name) is None:
        raise validation(name, f"{name} is required (ISO 8601, e.g. 2026-06-01T00:00:00Z)")
    return _instant(name, lambda: ctx.q_datetime(name))


def email_field(ctx: Ctx, name: str) -> str | Missing | None:
    value = optional_text(ctx, name, max_length=254)
    if isinstance(value, str):
        value = value.strip()
        if not _EMAIL.match(value):
            raise validation(name, f"{name} must be an e-mail address like name@example.com")
    return value


def color_field(ctx: Ctx, name: str = "color") -> str | Missing | None:
    value = optional_text(ctx, name, max_length=7)
    if isinstance(value, str):
        if not _COLOR.match(value):
            raise validation(name, f"{name} must be a colour like #45e59f")
        value = value.lower()
    return value


def is_email(value: str) -> bool:
    return bool(_EMAIL.match(value))


def ref(ctx: Ctx, table: str, field: str, row_id: str, resource: str) -> Row:
    """A row a body field points at: this organization's, else 422 naming the field (not a 404: the URL exists)."""
    row = ctx.db.one(f"SELECT * FROM {table} WHERE id = ? AND org_id = ?", (row_id, ctx.org_id))  # noqa: S608
    if row is None:
        raise validation(field, f"{field}: no {resource} {row_id} in this organization")
    return row


def user_ref(ctx: Ctx, row_id: str | None) -> dict[str, Any] | None:
    """`{id, name}` of a user of this organization, or None."""
    if row_id is None:
        return None
    row = ctx.db.one("SELECT id, name FROM users WHERE id = ? AND org_id = ?", (row_id, ctx.org_id))
    return None if row is None else {"id": row["id"], "name": row["name"]}


def check_users(ctx: Ctx, ids: list[str], field: str) -> None:
    """Every id is a user of this organization, else 422 naming the unknown ones."""
    if not ids:
        return
    if len(ids) > 200:
        raise validation(field, f"{field} may list at most 200 users")
    marks = ", ".join("?" for _ in ids)
    known = {
        r["id"]
        for r in ctx.db.all(f"SELECT id FROM users WHERE org_id = ? AND id IN ({marks})", [ctx.org_id, *ids])  # noqa: S608
    }
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise validation(field, f"{field}: no user {', '.join(unknown)} in this organization (see GET /users)")
