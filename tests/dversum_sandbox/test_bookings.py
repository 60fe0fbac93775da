"""Bookings: booking types, public page, DST-correct slots, booking/cancel/reschedule with calendar and mail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest

from dversum_sandbox.app import SandboxApp
from dversum_sandbox.db import dumps

pytestmark = pytest.mark.anyio

PAGE = "/public/booking/anna/erstgespraech"
TYPE = {"name": "Erstgespräch", "slug": "erstgespraech", "duration_minutes": 30, "description": "Kennenlernen"}
GUEST = {"name": "Max Mustermann", "email": "max@example.com"}


def capture(sandbox: SandboxApp, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    original = sandbox.sink.record

    def record(db: Any, org_id: str, batch: list[tuple[str, dict[str, Any]]], now: datetime) -> None:
        events.extend((name, {**data, "_org": org_id}) for name, data in batch)
        original(db, org_id, batch, now)

    monkeypatch.setattr(sandbox.sink, "record", record)
    return events


async def make_type(api: httpx2.AsyncClient, **extra: Any) -> dict[str, Any]:
    response = await api.post("/booking-types", json={**TYPE, **extra})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def slots(public: httpx2.AsyncClient, start: str, end: str, page: str = PAGE) -> list[str]:
    response = await public.get(f"{page}/slots", params={"from": start, "to": end})
    assert response.status_code == 200, response.text
    assert response.json()["timezone"] == "Europe/Berlin"
    return [s["start"] for s in response.json()["slots"]]


def busy(sandbox: SandboxApp, org_id: str, user_id: str, start: str, end: str) -> None:
    """A calendar event of the host, written as calendar.py stores it."""
    with sandbox.db.transaction():
        sandbox.db.insert(
            "calendar_events",
            {
                "id": f"ev-{start}",
                "org_id": org_id,
                "user_id": user_id,
                "title": "Kundentermin",
                "start_time": start,
                "end_time": end,
                "all_day": 0,
                "attendee_emails": dumps([]),
                "created_at": start,
                "updated_at": start,
            },
        )


async def test_booking_type_crud(api: httpx2.AsyncClient, api_b: httpx2.AsyncClient) -> None:
    created = await make_type(api, buffer_minutes=10, attach_meet=True)
    assert created["working_hours"] == [{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(1, 6)]
    assert created["public_url"] == "http://127.0.0.1/api/v1/public/booking/anna/erstgespraech"
    assert created["active"] is True and created["attach_meet"] is True and created["buffer_minutes"] == 10
    duplicate = await api.post("/booking-types", json=TYPE)
    assert duplicate.status_code == 409
    assert duplicate.json()["error"] == "duplicate_slug" and duplicate.json()["field"] == "slug"
    for body, status, field in (
        ({**TYPE, "slug": "Mit Leerzeichen"}, 422, "slug"),
        ({**TYPE, "slug": "x", "duration_minutes": 4}, 422, "duration_minutes"),
        ({**TYPE, "slug": "x", "duration_minutes": "30"}, 422, "duration_minutes"),
        ({**TYPE, "slug": "x", "buffer_minutes": 241}, 422, "buffer_minutes"),
        ({"slug": "x", "duration_minutes": 30}, 400, "name"),
        ({**TYPE, "slug": "x", "working_hours": [{"weekday": 8, "start": "09:00", "end": "10:00"}]}, 422,
         "working_hours[0].weekday"),
        ({**TYPE, "slug": "x", "working_hours": [{"weekday": 1, "start": "9", "end": "10:00"}]}, 422,
         "working_hours[0].start"),
        ({**TYPE, "slug": "x", "working_hours": [{"weekday": 1, "start": "10:00", "end": "09:00"}]}, 422,
         "working_hours[0].end"),
        ({**TYPE, "slug": "x", "working_hours": "Mo-Fr"}, 422, "working_hours"),
    ):  # fmt: skip
        response = await api.post("/booking-types", json=body)
        assert (response.status_code, response.json().get("field")) == (status, field), body

    second = await make_type(api, slug="beratung-60", duration_minutes=60)
    clash = await api.put(f"/booking-types/{second['id']}", json={"slug": "erstgespraech"})
    assert clash.status_code == 409 and clash.json()["error"] == "duplicate_slug"
    same = await api.put(f"/booking-types/{created['id']}", json={"slug": "erstgespraech", "active": False})
    assert same.status_code == 200 and same.json()["active"] is False and same.json()["name"] == "Erstgespräch"
    listed = (await api.get("/booking-types")).json()
    assert listed["total"] == 2 and {t["slug"] for t in listed["booking_types"]} == {"erstgespraech", "beratung-60"}

    assert (await api_b.get("/booking-types")).json()["total"] == 0
    assert (await api_b.put(f"/booking-types/{created['id']}", json={"name": "x"})).status_code == 404
    assert (await api_b.delete(f"/booking-types/{created['id']}")).status_code == 404
    # Slugs are unique per user, not globally.
    assert (await api_b.post("/booking-types", json=TYPE)).status_code == 201
    assert (await api.delete(f"/booking-types/{second['id']}")).status_code == 204
    assert (await api.delete(f"/booking-types/{second['id']}")).status_code == 404


async def test_public_page_info_and_404s(api: httpx2.AsyncClient, public: httpx2.AsyncClient) -> None:
    created = await make_type(api)
    info = await public.get(PAGE)
    assert info.status_code == 200
    body = info.json()
    assert body["name"] == "Erstgespräch" and body["duration_minutes"] == 30
    assert body["description"] == "Kennenlernen" and body["host"] == {"name": "Anna Admin"}
    assert (await public.get("/public/booking/nobody/erstgespraech")).status_code == 404
    assert (await public.get("/public/booking/anna/nothing")).status_code == 404
    await api.put(f"/booking-types/{created['id']}", json={"active": False})
    assert (await public.get(PAGE)).status_code == 404
    assert (await public.get(f"{PAGE}/slots", params={"from": "x", "to": "y"})).status_code == 404
    assert (await public.post(f"{PAGE}/book", json={"start": "2026-06-04T07:00:00Z", **GUEST})).status_code == 404


async def test_slots_in_summer_skip_the_past(api: httpx2.AsyncClient, public: httpx2.AsyncClient) -> None:
    await make_type(api)
    # Now is Wed 2026-06-03 08:00Z (10:00 Berlin): Wednesday's slots start at 08:00Z, Thursday's at 07:00Z.
    found = await slots(public, "2026-06-03T00:00:00Z", "2026-06-05T00:00:00Z")
    wednesday = [s for s in found if s.startswith("2026-06-03")]
    thursday = [s for s in found if s.startswith("2026-06-04")]
    assert wednesday[0] == "2026-06-03T08:00:00Z" and wednesday[-1] == "2026-06-03T14:30:00Z"
    assert len(wednesday) == 27
    assert thursday[0] == "2026-06-04T07:00:00Z" and thursday[-1] == "2026-06-04T14:30:00Z"
    assert len(thursday) == 31
    # Weekend: nothing.
    assert await slots(public, "2026-06-06T00:00:00Z", "2026-06-08T00:00:00Z") == []
    # The window bounds slots on both sides.
    assert await slots(public, "2026-06-04T07:10:00Z", "2026-06-04T08:00:00Z") == [
        "2026-06-04T07:15:00Z",
        "2026-06-04T07:30:00Z",
    ]


async def test_slots_across_the_dst_switch(api: httpx2.AsyncClient, public: httpx2.AsyncClient, clock: Any) -> None:
    clock.set(datetime(2026, 3, 20, 12, 0, tzinfo=UTC))
    every_day = [{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(1, 8)]
    await make_type(api, working_hours=every_day, duration_minutes=60)
    found = await slots(public, "2026-03-27T00:00:00Z", "2026-03-31T00:00:00Z")
    by_day: dict[str, list[str]] = {}
    for start in found:
        by_day.setdefault(start[:10], []).append(start[11:16])
    # 09:00-17:00 local: 08:00-16:00Z before the switch (CET), 07:00-15:00Z from Sunday 29 March (CEST).
    for day in ("2026-03-27", "2026-03-28"):
        assert by_day[day][0] == "08:00" and by_day[day][-1] == "15:00", day
    for day in ("2026-03-29", "2026-03-30"):
        assert by_day[day][0] == "07:00" and by_day[day][-1] == "14:00", day
    assert all(len(v) == 29 for v in by_day.values())


async def test_slot_window_validation(api: httpx2.AsyncClient, public: httpx2.AsyncClient) -> None:
    await make_type(api)
    url = f"{PAGE}/slots"
    missing = await public.get(url, params={"to": "2026-06-10T00:00:00Z"})
    assert missing.status_code == 400 and missing.json()["field"] == "from"
    backwards = await public.get(url, params={"from": "2026-06-10T00:00:00Z", "to": "2026-06-01T00:00:00Z"})
    assert backwards.status_code == 422 and backwards.json()["field"] == "to"
    too_long = await public.get(url, params={"from": "2026-06-01T00:00:00Z", "to": "2026-08-30T00:00:01Z"})
    assert too_long.status_code == 422 and too_long.json()["field"] == "to"
    for far in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00"):
        overflow = await public.get(url, params={"from": far, "to": "2026-06-02T00:00:00Z"})
        assert overflow.status_code == 422 and overflow.json()["field"] == "from"
    naive = await public.get(url, params={"from": "2026-06-01T00:00:00", "to": "2026-06-02T00:00:00Z"})
    assert naive.status_code == 422 and naive.json()["field"] == "from"
    ninety = await public.get(url, params={"from": "2026-06-01T00:00:00Z", "to": "2026-08-30T00:00:00Z"})
    assert ninety.status_code == 200 and len(ninety.json()["slots"]) > 1500


async def test_busy_time_and_buffer_block_slots(
    api: httpx2.AsyncClient, public: httpx2.AsyncClient, sandbox: SandboxApp, org_a: Any
) -> None:
    await make_type(api, buffer_minutes=15)
    busy(sandbox, org_a.org_id, org_a.user_id, "2026-06-04T08:00:00Z", "2026-06-04T09:00:00Z")
    found = await slots(public, "2026-06-04T07:00:00Z", "2026-06-04T10:00:00Z")
    # Busy 08:00-09:00 widened by 15 min: slots must end by 07:45 or start at 09:15.
    assert found == ["2026-06-04T07:00:00Z", "2026-06-04T07:15:00Z", "2026-06-04T09:15:00Z", "2026-06-04T09:30:00Z"]
    taken = await public.post(f"{PAGE}/book", json={"start": "2026-06-04T08:30:00Z", **GUEST})
    assert taken.status_code == 409 and taken.json()["error"] == "slot_taken"


async def test_book_creates_event_mail_and_webhook(
    api: httpx2.AsyncClient,
    public: httpx2.AsyncClient,
    sandbox: SandboxApp,
    org_a: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events = capture(sandbox, monkeypatch)
    await make_type(api, attach_meet=True, buffer_minutes=15)
    response = await public.post(
        f"{PAGE}/book",
        json={"start": "2026-06-04T07:00:00Z", **GUEST, "agenda": "Kurzes Intro", "timezone": "America/New_York"},
    )
    assert response.status_code == 201, response.text
    booking = response.json()
    assert booking["start_time"] == "2026-06-04T07:00:00Z" and booking["end_time"] == "2026-06-04T07:30:00Z"
    assert booking["status"] == "confirmed" and booking["timezone"] == "America/New_York"
    assert booking["meet_url"].startswith("https://meet.google.com/")
    event = booking["calendar_event"]
    assert event["title"] == "Erstgespräch: Max Mustermann" and event["meet_url"] == booking["meet_url"]
    with sandbox.db.transaction():
        row = sandbox.db.one("SELECT * FROM calendar_events WHERE id = ?", (event["id"],))
    assert row is not None
    assert row["user_id"] == org_a.user_id and row["org_id"] == org_a.org_id and row["booking_id"] == booking["id"]
    assert row["attendee_emails"] == '["max@example.com"]'

    mails = (await api.get("/sandbox/outbox", params={"kind": "booking"})).json()["emails"]
    assert {m["to_addr"] for m in mails} == {"max@example.com", "anna@muster.de"}
    assert any("03:00 (America/New_York)" in m["subject"] for m in mails)
    assert [(name, data["_org"]) for name, data in events] == [("booking.created", org_a.org_id)]
    assert events[0][1]["id"] == booking["id"]

    # The slot and its buffer are gone; booking it again is a conflict.
    found = await slots(public, "2026-06-04T07:00:00Z", "2026-06-04T09:00:00Z")
    assert found[0] == "2026-06-04T07:45:00Z"
    again = await public.post(f"{PAGE}/book", json={"start": "2026-06-04T07:00:00Z", **GUEST})
    assert again.status_code == 409 and again.json()["error"] == "slot_taken"
    in_buffer = await public.post(f"{PAGE}/book", json={"start": "2026-06-04T07:30:00Z", **GUEST})
    assert in_buffer.status_code == 409


async def test_book_validation(api: httpx2.AsyncClient, public: httpx2.AsyncClient) -> None:
    await make_type(api)
    url = f"{PAGE}/book"
    for body, status, field in (
        ({**GUEST}, 400, "start"),
        ({"start": "2026-06-04T07:00:00Z", "email": "max@example.com"}, 400, "name"),
        ({"start": "2026-06-04T07:00:00Z", "name": "Max"}, 400, "email"),
        ({"start": "2026-06-04T07:00:00Z", "name": "Max", "email": "kein-at"}, 422, "email"),
        ({"start": "2026-06-04T07:00:00Z", **GUEST, "timezone": "Mars/Olympus"}, 422, "timezone"),
        ({"start": "2026-06-04T07:00:00Z", **GUEST, "timezone": "../../etc/passwd"}, 422, "timezone"),
        ({"start": "2026-06-04T07:07:00Z", **GUEST}, 422, "start"),  # not on the quarter hour
        ({"start": "2026-06-06T09:00:00Z", **GUEST}, 422, "start"),  # Saturday
        ({"start": "2026-06-03T07:00:00Z", **GUEST}, 422, "start"),  # in the past
        ({"start": "2026-06-04T14:45:00Z", **GUEST}, 422, "start"),  # would end after 17:00 local
        ({"start": 5, **GUEST}, 422, "start"),
        ({"start": "9999-12-31T23:45:00Z", **GUEST}, 422, "start"),
        ({"start": "2026-06-04T07:00:00Z", **GUEST, "agenda": ["x"]}, 422, "agenda"),
    ):
        response = await public.post(url, json=body)
        assert (response.status_code, response.json().get("field")) == (status, field), body
    assert (await public.post(url, content=b"[1]", headers={"Content-Type": "application/json"})).status_code == 400


async def test_list_get_cancel_reschedule(
    api: httpx2.AsyncClient,
    api_b: httpx2.AsyncClient,
    public: httpx2.AsyncClient,
    sandbox: SandboxApp,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    btype = await make_type(api)
    first = (await public.post(f"{PAGE}/book", json={"start": "2026-06-04T07:00:00Z", **GUEST})).json()
    second = (await public.post(f"{PAGE}/book", json={"start": "2026-06-05T07:00:00Z", **GUEST})).json()
    events = capture(sandbox, monkeypatch)

    window = {"from": "2026-06-04T00:00:00Z", "to": "2026-06-05T00:00:00Z"}
    listed = (await api.get("/bookings", params=window)).json()
    assert [b["id"] for b in listed["bookings"]] == [first["id"]]
    assert (await api.get("/bookings")).json()["total"] == 2
    assert (await api.get("/bookings", params={"status": "maybe"})).status_code == 422
    got = (await api.get(f"/bookings/{first['id']}")).json()
    assert got["calendar_event"]["id"] == first["calendar_event_id"]
    assert (await api_b.get(f"/bookings/{first['id']}")).status_code == 404
    assert (await api_b.post(f"/bookings/{first['id']}/cancel", json={})).status_code == 404
    assert (await api_b.post(f"/bookings/{first['id']}/reschedule", json={"start": "x"})).status_code == 404
    assert (await api.get("/bookings/missing")).status_code == 404

    # Reschedule: onto the other booking → 409; off-grid → 422; overlapping its own old time → fine.
    taken = await api.post(f"/bookings/{first['id']}/reschedule", json={"start": "2026-06-05T07:00:00Z"})
    assert taken.status_code == 409 and taken.json()["error"] == "slot_taken"
    off_grid = await api.post(f"/bookings/{first['id']}/reschedule", json={"start": "2026-06-04T07:05:00Z"})
    assert off_grid.status_code == 422
    assert (await api.post(f"/bookings/{first['id']}/reschedule", json={})).status_code == 400
    moved = await api.post(f"/bookings/{first['id']}/reschedule", json={"start": "2026-06-04T07:15:00Z"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["start_time"] == "2026-06-04T07:15:00Z"
    assert moved.json()["calendar_event"]["start_time"] == "2026-06-04T07:15:00Z"

    cancelled = await api.post(f"/bookings/{first['id']}/cancel", json={"reason": "Krank"})
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["cancel_reason"] == "Krank"
    assert cancelled.json()["calendar_event"] is None
    with sandbox.db.transaction():
        left = sandbox.db.scalar("SELECT COUNT(*) FROM calendar_events WHERE booking_id = ?", (first["id"],))
    assert left == 0
    again = await api.post(f"/bookings/{first['id']}/cancel", json={})
    assert again.status_code == 409
    assert (
        await api.post(f"/bookings/{first['id']}/reschedule", json={"start": "2026-06-04T08:00:00Z"})
    ).status_code == 409
    assert [name for name, _ in events] == ["booking.rescheduled", "booking.cancelled"]
    assert (await api.get("/bookings", params={"status": "cancelled"})).json()["total"] == 1
    mails = (await api.get("/sandbox/outbox", params={"kind": "booking"})).json()["emails"]
    assert any(m["to_addr"] == "max@example.com" and "abgesagt" in m["subject"] for m in mails)
    # The slot is free again.
    assert "2026-06-04T07:15:00Z" in await slots(public, "2026-06-04T07:00:00Z", "2026-06-04T08:00:00Z")

    # Deleting the type keeps the bookings; rescheduling them is then refused.
    assert (await api.delete(f"/booking-types/{btype['id']}")).status_code == 204
    assert (await api.get(f"/bookings/{second['id']}")).status_code == 200
    orphan = await api.post(f"/bookings/{second['id']}/reschedule", json={"start": "2026-06-05T08:00:00Z"})
    assert orphan.status_code == 409
