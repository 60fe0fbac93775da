"""Contracts: drafting, locking on signature, cancellation with notice period, events."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from dversum_sandbox.app import SandboxApp
from tests.dversum_sandbox._billing_support import capture_events, error, make_client, names, ok
from tests.dversum_sandbox.conftest import Clock

pytestmark = pytest.mark.anyio


async def make_contract(api: httpx2.AsyncClient, client_id: str, **fields: Any) -> dict[str, Any]:
    body = {"client_id": client_id, "title": "Wartungsvertrag", "value_cents": 50000, **fields}
    return ok(await api.post("/contracts", json=body), 201)  # type: ignore[no-any-return]


async def test_create_get_list(api: httpx2.AsyncClient, sandbox: SandboxApp, monkeypatch: pytest.MonkeyPatch) -> None:
    client = await make_client(api)
    other = await make_client(api, name="Beta AG", email="b@beta.de")
    events = capture_events(sandbox, monkeypatch)
    contract = await make_contract(api, client["id"], content="# Vertrag\n\nText")
    assert contract["status"] == "draft" and contract["start_date"] == "2026-06-03" and contract["end_date"] is None
    assert (contract["billing_interval"], contract["notice_period_days"], contract["active"]) == ("monthly", 30, False)
    assert contract["client"] == {"id": client["id"], "name": "ATAS Vertriebs GmbH"}
    assert names(events) == ["contract.created"] and events[0][2] == contract
    second = await make_contract(
        api, other["id"], billing_interval="yearly", start_date="2026-07-01", end_date="2027-06-30"
    )
    assert ok(await api.get(f"/contracts/{contract['id']}")) == contract
    assert ok(await api.get("/contracts"))["total"] == 2
    assert [c["id"] for c in ok(await api.get("/contracts", params={"client_id": other["id"]}))["contracts"]] == [
        second["id"]
    ]
    assert ok(await api.get("/contracts", params={"status": "signed"}))["total"] == 0
    error(await api.get("/contracts", params={"status": "active"}), 422, "status")


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"title": "T"}, 400, "client_id"),
        ({"client_id": "CLIENT"}, 400, "title"),
        ({"client_id": "unknown-client", "title": "T"}, 422, "client_id"),
        ({"client_id": "CLIENT", "title": "x" * 301}, 422, "title"),
        ({"client_id": "CLIENT", "title": "T", "start_date": "2026-06-10", "end_date": "2026-06-09"}, 422, "end_date"),
        ({"client_id": "CLIENT", "title": "T", "billing_interval": "weekly"}, 422, "billing_interval"),
        ({"client_id": "CLIENT", "title": "T", "value_cents": -1}, 422, "value_cents"),
        ({"client_id": "CLIENT", "title": "T", "value_cents": 9.5}, 422, "value_cents"),
        ({"client_id": "CLIENT", "title": "T", "notice_period_days": -3}, 422, "notice_period_days"),
        ({"client_id": "CLIENT", "title": ["T"]}, 422, "title"),
    ],
)
async def test_create_validation(api: httpx2.AsyncClient, body: dict[str, Any], status: int, field: str) -> None:
    client = await make_client(api)
    if body.get("client_id") == "CLIENT":
        body = {**body, "client_id": client["id"]}
    error(await api.post("/contracts", json=body), status, field)


async def test_other_org_sees_nothing(api: httpx2.AsyncClient, api_b: httpx2.AsyncClient) -> None:
    contract = await make_contract(api, (await make_client(api))["id"])
    for method, suffix in [("GET", ""), ("PUT", ""), ("POST", "/sign"), ("POST", "/cancel")]:
        error(await api_b.request(method, f"/contracts/{contract['id']}{suffix}", json={"signer_name": "X"}), 404)
    theirs = await make_client(api_b)
    error(await api_b.post("/contracts", json={"client_id": contract["client_id"], "title": "T"}), 422, "client_id")
    error(await api.put(f"/contracts/{contract['id']}", json={"client_id": theirs["id"]}), 422, "client_id")
    assert ok(await api_b.get("/contracts"))["total"] == 0


async def test_update_draft(api: httpx2.AsyncClient, sandbox: SandboxApp, monkeypatch: pytest.MonkeyPatch) -> None:
    contract = await make_contract(api, (await make_client(api))["id"], end_date="2026-12-31")
    events = capture_events(sandbox, monkeypatch)
    updated = ok(
        await api.put(f"/contracts/{contract['id']}", json={"title": "Neu", "end_date": None, "value_cents": None})
    )
    assert (updated["title"], updated["end_date"], updated["value_cents"]) == ("Neu", None, None)
    assert updated["billing_interval"] == "monthly"
    error(
        await api.put(f"/contracts/{contract['id']}", json={"start_date": "2026-06-10", "end_date": "2026-06-01"}), 422
    )
    ok(await api.put(f"/contracts/{contract['id']}", json={"end_date": "2026-12-31"}))
    error(await api.put(f"/contracts/{contract['id']}", json={"start_date": "2027-01-01"}), 422, "end_date")
    assert events == []  # the API has no contract.updated event


async def test_sign_locks_and_cancel_with_notice(
    api: httpx2.AsyncClient, sandbox: SandboxApp, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    contract = await make_contract(api, (await make_client(api))["id"], notice_period_days=90)
    events = capture_events(sandbox, monkeypatch)
    error(await api.post(f"/contracts/{contract['id']}/cancel", json={}), 409, token="contract_not_signed")
    error(await api.post(f"/contracts/{contract['id']}/sign", json={}), 400, "signer_name")
    future = {"signer_name": "K", "signed_at": "2026-06-04T00:00:00Z"}
    error(await api.post(f"/contracts/{contract['id']}/sign", json=future), 422, "signed_at")
    signed = ok(await api.post(f"/contracts/{contract['id']}/sign", json={"signer_name": "Klara Kunde"}))
    assert signed["status"] == "signed" and signed["signed_at"] == "2026-06-03T08:00:00Z" and signed["active"]
    assert names(events) == ["contract.signed"] and events[0][2] == signed
    locked = error(await api.put(f"/contracts/{contract['id']}", json={"title": "x"}), 409, token="contract_locked")
    assert "cancel" in locked["message"]
    error(await api.post(f"/contracts/{contract['id']}/sign", json={"signer_name": "K"}), 409, token="contract_locked")
    early = {"effective_date": "2026-06-01"}
    error(await api.post(f"/contracts/{contract['id']}/cancel", json=early), 422, "effective_date")
    cancelled = ok(await api.post(f"/contracts/{contract['id']}/cancel", json={"reason": "Budget"}))
    assert cancelled["status"] == "cancelled" and cancelled["effective_date"] == "2026-09-01"
    assert cancelled["cancel_reason"] == "Budget" and cancelled["active"]
    assert names(events) == ["contract.signed", "contract.cancelled"]
    error(await api.post(f"/contracts/{contract['id']}/cancel", json={}), 409, token="contract_locked")
    clock.advance(days=91)
    assert not ok(await api.get(f"/contracts/{contract['id']}"))["active"]


async def test_sign_with_past_date_and_cancel_on_date(api: httpx2.AsyncClient) -> None:
    contract = await make_contract(api, (await make_client(api))["id"], start_date="2026-01-01")
    body = {"signer_name": "K", "signed_at": "2025-12-20T10:00:00+01:00"}
    signed = ok(await api.post(f"/contracts/{contract['id']}/sign", json=body))
    assert signed["signed_at"] == "2025-12-20T09:00:00Z"
    cancelled = ok(await api.post(f"/contracts/{contract['id']}/cancel", json={"effective_date": "2026-06-30"}))
    assert cancelled["effective_date"] == "2026-06-30"
