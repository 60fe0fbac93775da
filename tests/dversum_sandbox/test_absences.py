"""Absences: CRUD, weekday counting, user defaults and checks, list filters, events."""

from __future__ import annotations

from datetime import date, timedelta

import httpx2
import pytest

from dversum_sandbox.app import SandboxApp
from dversum_sandbox.resources.absences import weekdays
from tests.dversum_sandbox._core_support import add_user, capture_events, error, names, ok
from tests.dversum_sandbox.conftest import Workspace

pytestmark = pytest.mark.anyio


def test_weekdays_matches_a_day_by_day_count() -> None:
    start = date(2026, 1, 1)
    for offset in range(10):
        for length in range(20):
            first = start + timedelta(days=offset)
            last = first + timedelta(days=length)
            expected = sum(1 for i in range(length + 1) if (first + timedelta(days=i)).weekday() < 5)
            assert weekdays(first, last) == expected
    assert weekdays(date(1, 1, 1), date(9999, 12, 31)) > 2_000_000
    assert weekdays(date(2026, 6, 5), date(2026, 6, 4)) == 0


async def test_crud_and_events(
    api: httpx2.AsyncClient, sandbox: SandboxApp, org_a: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = capture_events(sandbox, monkeypatch)
    body = {"type": "vacation", "start_date": "2026-06-01", "end_date": "2026-06-12", "note": "Sommer"}
    created = ok(await api.post("/absences", json=body), 201)
    assert created["user_id"] == org_a.user_id and created["user"]["name"] == "Anna Admin"
    assert created["days"] == 10 and created["half_day"] is False
    url = f"/absences/{created['id']}"
    assert ok(await api.get(url)) == created
    half = ok(await api.put(url, json={"end_date": "2026-06-01", "half_day": True, "type": "sick"}))
    assert half["days"] == 0.5 and half["type"] == "sick" and half["note"] == "Sommer"
    weekend = ok(await api.put(url, json={"start_date": "2026-06-06", "end_date": "2026-06-07"}))
    assert weekend["days"] == 0
    assert (await api.delete(url)).status_code == 204
    error(await api.get(url), 404)
    assert names(events) == ["absence.created", "absence.updated", "absence.updated", "absence.deleted"]
    assert events[0][1]["days"] == 10


async def test_validation(api: httpx2.AsyncClient, api_b: httpx2.AsyncClient) -> None:
    base = {"type": "vacation", "start_date": "2026-06-01", "end_date": "2026-06-02"}
    error(await api.post("/absences", json={**base, "type": None}), 400, field="type")
    error(await api.post("/absences", json={**base, "end_date": None}), 400, field="end_date")
    error(await api.post("/absences", json={**base, "type": "holiday"}), 422, field="type")
    error(await api.post("/absences", json={**base, "start_date": "2026-02-30"}), 422, field="start_date")
    error(await api.post("/absences", json={**base, "end_date": "2026-05-31"}), 422, "validation_failed", "end_date")
    error(await api.post("/absences", json={**base, "half_day": 1}), 422, field="half_day")
    other_user = ok(await api_b.get("/me"))["id"]
    error(await api.post("/absences", json={**base, "user_id": other_user}), 422, field="user_id")
    created = ok(await api.post("/absences", json=base), 201)
    error(await api.put(f"/absences/{created['id']}", json={"start_date": "2026-06-05"}), 422, field="end_date")
    error(await api.put("/absences/nope", json={"note": "x"}), 404)
    error(await api.delete("/absences/nope"), 404)


async def test_list_filters(api: httpx2.AsyncClient, sandbox: SandboxApp, org_a: Workspace) -> None:
    bob = add_user(sandbox, org_a.org_id, "Bob", "bob")

    async def add(kind: str, start: str, end: str, user: str | None = None) -> str:
        body = {"type": kind, "start_date": start, "end_date": end, **({"user_id": user} if user else {})}
        return str(ok(await api.post("/absences", json=body), 201)["id"])

    june = await add("vacation", "2026-06-01", "2026-06-10")
    may = await add("sick", "2026-05-28", "2026-06-01", bob)
    july = await add("training", "2026-07-01", "2026-07-01")

    async def ids(**params: str) -> list[str]:
        return [a["id"] for a in ok(await api.get("/absences", params=params))["absences"]]

    assert await ids() == [may, june, july]
    assert await ids(**{"from": "2026-06-01", "to": "2026-06-30"}) == [may, june]
    assert await ids(**{"from": "2026-06-02"}) == [june, july]
    assert await ids(to="2026-05-31") == [may]
    assert await ids(user_id=bob) == [may]
    assert await ids(type="training") == [july]
    error(await api.get("/absences", params={"type": "holiday"}), 422, field="type")
    error(await api.get("/absences", params={"from": "2026-06-10", "to": "2026-06-01"}), 422, field="to")
    error(await api.get("/absences", params={"from": "June"}), 422, field="from")


async def test_other_org_is_404(api: httpx2.AsyncClient, api_b: httpx2.AsyncClient) -> None:
    body = {"type": "vacation", "start_date": "2026-06-01", "end_date": "2026-06-02"}
    created = ok(await api.post("/absences", json=body), 201)
    url = f"/absences/{created['id']}"
    for response in (await api_b.get(url), await api_b.put(url, json={"note": "x"}), await api_b.delete(url)):
        error(response, 404, "not_found")
    assert ok(await api_b.get("/absences"))["total"] == 0
