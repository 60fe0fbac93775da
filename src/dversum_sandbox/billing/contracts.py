"""Client contracts (retainers, service agreements): drafting, signing, cancelling.

A draft is freely editable; a signature locks it (`contract_locked`); a signed contract can
only be cancelled, effective at the end of its notice period unless a date is given. The
contract runs through `end_date` or the cancellation's `effective_date`, whichever comes
first (both inclusive); `active` in the JSON says whether it runs today.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from dversum_sandbox.billing.invoice_store import client_ref, require_client, today
from dversum_sandbox.db import Row
from dversum_sandbox.errors import conflict, validation
from dversum_sandbox.framework import MISSING, Ctx, Endpoint, new_id

__all__ = ["ENDPOINTS", "SCHEMA", "contract_json"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS contracts (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, client_id TEXT NOT NULL, title TEXT NOT NULL, content TEXT,
  status TEXT NOT NULL DEFAULT 'draft', start_date TEXT NOT NULL, end_date TEXT, value_cents INTEGER,
  billing_interval TEXT NOT NULL DEFAULT 'monthly', notice_period_days INTEGER NOT NULL DEFAULT 30,
  signer_name TEXT, signed_at TEXT, cancelled_at TEXT, effective_date TEXT, cancel_reason TEXT,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS contracts_org_status ON contracts(org_id, status);
CREATE INDEX IF NOT EXISTS contracts_org_client ON contracts(org_id, client_id);
"""

STATUSES = ("draft", "signed", "cancelled")
INTERVALS = ("once", "monthly", "quarterly", "yearly")
DEFAULT_NOTICE_DAYS = 30


def contract_json(ctx: Ctx, row: Row) -> dict[str, Any]:
    day = today(ctx).isoformat()
    ends = [d for d in (row["end_date"], row["effective_date"]) if d]
    active = row["status"] != "draft" and row["start_date"] <= day and all(day <= d for d in ends)
    keys = (
        "id",
        "title",
        "status",
        "client_id",
        "content",
        "start_date",
        "end_date",
        "value_cents",
        "billing_interval",
        "notice_period_days",
        "signer_name",
        "signed_at",
        "cancelled_at",
        "effective_date",
        "cancel_reason",
        "created_at",
        "updated_at",
    )
    return {**{k: row[k] for k in keys}, "client": client_ref(ctx, row["client_id"]), "active": active}


def _read(ctx: Ctx, row: Row | None) -> dict[str, Any]:
    """The contract fields present in the body, checked; `row` is the draft being changed (None on create)."""
    values: dict[str, Any] = {}
    client_id = ctx.id_field("client_id", required=row is None)
    if client_id is not MISSING:
        require_client(ctx, client_id)
        values["client_id"] = client_id
    readers: dict[str, Callable[[], Any]] = {
        "title": lambda: ctx.string("title", required=row is None, max_length=300),
        "content": lambda: ctx.string("content", max_length=200_000, allow_empty=True),
        "start_date": lambda: ctx.date_field("start_date"),
        "end_date": lambda: ctx.date_field("end_date"),
        "value_cents": lambda: ctx.integer("value_cents", minimum=0, maximum=10**12),
        "billing_interval": lambda: ctx.choice("billing_interval", INTERVALS),
        "notice_period_days": lambda: ctx.integer("notice_period_days", minimum=0, maximum=3650),
    }
    for name, reader in readers.items():
        clearable = row is not None and name in ("content", "end_date", "value_cents")
        if clearable and name in ctx.body and ctx.body[name] is None:
            values[name] = None
            continue
        value = reader()
        if value is not MISSING:
            values[name] = value.isoformat() if name.endswith("_date") else value
    start = values.get("start_date", row["start_date"] if row else today(ctx).isoformat())
    end = values["end_date"] if "end_date" in values else (row["end_date"] if row else None)
    if end is not None and end < start:
        raise validation("end_date", f"end_date {end} lies before start_date {start}")
    return values


def _load(ctx: Ctx) -> Row:
    return ctx.fetch("contracts", "contract")


def list_contracts(ctx: Ctx) -> dict[str, Any]:
    where, params = "FROM contracts WHERE org_id = ?", [ctx.org_id]
    status = ctx.q_choice("status", STATUSES)
    if status is not None:
        where += " AND status = ?"
        params.append(status)
    client_id = ctx.q_id("client_id")
    if client_id:
        where += " AND client_id = ?"
        params.append(client_id)
    return ctx.paginate("contracts", where, params, "created_at DESC, id", lambda r: contract_json(ctx, r))


def create_contract(ctx: Ctx) -> dict[str, Any]:
    values = _read(ctx, None)
    now = ctx.timestamp()
    row: Row = {
        "id": new_id(),
        "org_id": ctx.org_id,
        "status": "draft",
        "start_date": today(ctx).isoformat(),
        "billing_interval": "monthly",
        "notice_period_days": DEFAULT_NOTICE_DAYS,
        **values,
        "created_at": now,
        "updated_at": now,
    }
    ctx.db.insert("contracts", row)
    data = contract_json(ctx, _load_id(ctx, row["id"]))
    ctx.emit("contract.created", data)
    return data


def _load_id(ctx: Ctx, contract_id: str) -> Row:
    return ctx.fetch("contracts", "contract", contract_id)


def get_contract(ctx: Ctx) -> dict[str, Any]:
    return contract_json(ctx, _load(ctx))


def _locked(row: Row) -> Exception:
    if row["status"] == "signed":
        message = f"Contract is signed ({row['signed_at']}) and locked; cancel it and draft a new one to change terms"
    else:
        message = f"Contract was cancelled effective {row['effective_date']} and is locked; draft a new one"
    return conflict(message, error="contract_locked")


def update_contract(ctx: Ctx) -> dict[str, Any]:
    row = _load(ctx)
    if row["status"] != "draft":
        raise _locked(row)
    values = _read(ctx, row)
    if values:
        ctx.db.update("contracts", row["id"], {**values, "updated_at": ctx.timestamp()})
    return contract_json(ctx, _load_id(ctx, row["id"]))


def sign_contract(ctx: Ctx) -> dict[str, Any]:
    row = _load(ctx)
    signer = ctx.string("signer_name", required=True, max_length=200)
    signed_at = ctx.datetime_field("signed_at")
    if row["status"] != "draft":
        raise _locked(row)
    if signed_at is not MISSING and signed_at > ctx.now:
        raise validation("signed_at", "signed_at lies in the future")
    stamp = ctx.timestamp() if signed_at is MISSING else signed_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    ctx.db.update(
        "contracts",
        row["id"],
        {"status": "signed", "signer_name": signer.strip(), "signed_at": stamp, "updated_at": ctx.timestamp()},
    )
    data = contract_json(ctx, _load_id(ctx, row["id"]))
    ctx.emit("contract.signed", data)
    return data


def cancel_contract(ctx: Ctx) -> dict[str, Any]:
    row = _load(ctx)
    effective = ctx.date_field("effective_date")
    reason = ctx.string("reason", max_length=2000, allow_empty=True)
    if row["status"] == "draft":
        raise conflict(
            "Contract is a draft and was never signed; there is nothing to cancel", error="contract_not_signed"
        )
    if row["status"] == "cancelled":
        raise _locked(row)
    day = today(ctx) + timedelta(days=int(row["notice_period_days"])) if effective is MISSING else effective
    if day.isoformat() < row["start_date"]:
        raise validation("effective_date", f"effective_date {day} lies before the start_date {row['start_date']}")
    now = ctx.timestamp()
    ctx.db.update(
        "contracts",
        row["id"],
        {
            "status": "cancelled",
            "cancelled_at": now,
            "effective_date": day.isoformat(),
            "cancel_reason": None if reason is MISSING else reason,
            "updated_at": now,
        },
    )
    data = contract_json(ctx, _load_id(ctx, row["id"]))
    ctx.emit("contract.cancelled", data)
    return data


ENDPOINTS = [
    Endpoint("GET", "/contracts", list_contracts),
    Endpoint("POST", "/contracts", create_contract, status=201),
    Endpoint("GET", "/contracts/{id}", get_contract),
    Endpoint("PUT", "/contracts/{id}", update_contract),
    Endpoint("POST", "/contracts/{id}/sign", sign_contract),
    Endpoint("POST", "/contracts/{id}/cancel", cancel_contract),
]
