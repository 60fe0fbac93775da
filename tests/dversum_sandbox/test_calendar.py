"""Calendar events: CRUD, window query with overlap semantics, Meet links, booking-owned events."""

from __future__ import annotations

import re

import httpx2
import pytest

from dversum_sandbox.app import SandboxApp
from dversum_sandbox.resources.calendar import meet_url
from tests.dversum_sandbox._core_support import capture_events, error, ok

pytestmark = pytest.mark.anyio

KICKOFF = {
    "title": "Kickoff",
    "start_time": "2026-06-12T10:00:00Z",
    "end_time": "2026-06-12T11:00:00Z",
    "attach_meet": True,
    "attendee_emails": ["client@example.com", "client@example.com", "pm@example.com"],
}


async def test_crud_without_webhook_events(
    api: httpx2.AsyncClient, sandbox: SandboxApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = capture_events(sandbox, monkeypatch)
    created = ok(await api.post("/calendar/events", json=KICKOFF), 201)
    assert re.fullmatch(r"https://meet\.google\.com/[a-z]{3}-[a-z]{4}-[a-z]{3}", created["meet_url"])
    assert created["meet_url"] == meet_url(created["id"])
    assert created["attendee_emails"] == ["client@example.com", "pm@example.com"]
    assert created["all_day"] is False and created["booking_id"] is None and created["user_id"]
    assert ok(await api.get(f"/calendar/events/{created['id']}")) == created
    url = f"/calendar/events/{created['id']}"
    moved = ok(await api.put(url, json={"start_time": "2026-06-12T12:00:00+02:00", "end_time": "2026-06-12T13:30:00Z"}))
    assert (moved["start_time"], moved["end_time"]) == ("2026-06-12T10:00:00Z", "2026-06-12T13:30:00Z")
    assert moved["title"] == "Kickoff" and moved["meet_url"] == created["meet_url"]
    no_meet = ok(await api.put(url, json={"attach_meet": False, "location": "Büro", "attendee_emails": None}))
    assert no_meet["meet_url"] is None and no_meet["location"] == "Büro" and no_meet["attendee_emails"] == []
    assert ok(await api.put(url, json={"attach_meet": True}))["meet_url"] == created["meet_url"]
    assert (await api.delete(url)).status_code == 204
    error(await api.get(url), 404)
    assert events == []


async def test_validation(api: httpx2.AsyncClient) -> None:
    base = {"title": "X", "start_time": "2026-06-12T10:00:00Z", "end_time": "2026-06-12T11:00:00Z"}
    error(await api.post("/calendar/events", json={**base, "title": None}), 400, field="title")
    error(
        await api.post("/calendar/events", json={"title": "X", "end_time": base["end_time"]}), 400, field="start_time"
    )
    error(await api.post("/calendar/events", json={**base, "end_time": base["start_time"]}), 422, field="end_time")
    error(await api.post("/calendar/events", json={**base, "start_time": "12.06.2026"}), 422, field="start_time")
    error(await api.post("/calendar/events", json={**base, "attendee_emails": ["nope"]}), 422, field="attendee_emails")
    error(await api.post("/calendar/events", json={**base, "attendee_emails": "a@b.de"}), 422, field="attendee_emails")
    error(await api.post("/calendar/events", json={**base, "attach_meet": "yes"}), 422, field="attach_meet")
    created = ok(await api.post("/calendar/events", json=base), 201)
    assert created["meet_url"] is None
    url = f"/calendar/events/{created['id']}"
    error(await api.put(url, json={"end_time": "2026-06-12T09:00:00Z"}), 422, "validation_failed", "end_time")
    error(await api.put("/calendar/events/nope", json={"title": "Y"}), 404)
    error(await api.delete("/calendar/events/nope"), 404)


async def test_window_query(api: httpx2.AsyncClient) -> None:
    async def add(title: str, start: str, end: str) -> None:
        ok(await api.post("/calendar/events", json={"title": title, "start_time": start, "end_time": end}), 201)

    await add("Before", "2026-06-01T08:00:00Z", "2026-06-01T09:00:00Z")
    await add("Straddles", "2026-06-01T09:30:00Z", "2026-06-01T10:30:00Z")
    await add("Inside", "2026-06-01T11:00:00Z", "2026-06-01T11:30:00Z")
    await add("Touches end", "2026-06-01T12:00:00Z", "2026-06-01T13:00:00Z")
    await add("Early inside", "2026-06-01T10:00:00Z", "2026-06-01T10:15:00Z")
    window = {"from": "2026-06-01T10:00:00Z", "to": "2026-06-01T12:00:00Z"}
    listing = ok(await api.get("/calendar/events", params=window))
    assert [e["title"] for e in listing["events"]] == ["Straddles", "Early inside", "Inside"]
    assert listing["total"] == 3
    offset = {"from": "2026-06-01T11:00:00+01:00", "to": "2026-06-01T11:15:00+01:00"}
    overlapping = ok(await api.get("/calendar/events", params=offset))["events"]
    assert [e["title"] for e in overlapping] == ["Straddles", "Early inside"]
    error(await api.get("/calendar/events"), 422, "validation_failed", "from")
    error(await api.get("/calendar/events", params={"from": window["from"]}), 422, field="to")
    error(await api.get("/calendar/events", params={"from": "soon", "to": window["to"]}), 422, field="from")
    reversed_window = {"from": window["to"], "to": window["from"]}
    error(await api.get("/calendar/events", params=reversed_window), 422, field="to")
    same = {"from": window["from"], "to": window["from"]}
    error(await api.get("/calendar/events", params=same), 422, field="to")


async def test_booking_events_are_owned_by_the_booking(api: httpx2.AsyncClient, sandbox: SandboxApp) -> None:
    created = ok(await api.post("/calendar/events", json=KICKOFF), 201)
    with sandbox.db.transaction():
        sandbox.db.execute("UPDATE calendar_events SET booking_id = 'bk-1' WHERE id = ?", (created["id"],))
    url = f"/calendar/events/{created['id']}"
    error(await api.put(url, json={"start_time": "2026-06-12T09:00:00Z"}), 409, "event_from_booking")
    error(await api.delete(url), 409, "event_from_booking")
    assert ok(await api.put(url, json={"description": "Agenda"}))["description"] == "Agenda"


async def test_other_org_is_404(api: httpx2.AsyncClient, api_b: httpx2.AsyncClient) -> None:
    created = ok(await api.post("/calendar/events", json=KICKOFF), 201)
    url = f"/calendar/events/{created['id']}"
    for response in (await api_b.get(url), await api_b.put(url, json={"title": "X"}), await api_b.delete(url)):
        error(response, 404, "not_found")
    window = {"from": "2026-06-01T00:00:00Z", "to": "2026-07-01T00:00:00Z"}
    assert ok(await api_b.get("/calendar/events", params=window))["total"] == 0
