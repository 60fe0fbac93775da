"""Time entries: timers (one per user), logging after the fact with overlaps, list filters, updates."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from dversum_sandbox.app import SandboxApp
from tests.dversum_sandbox._core_support import (
    add_user,
    capture_events,
    client_as,
    error,
    names,
    ok,
    project,
    task,
    token_for,
)
from tests.dversum_sandbox.conftest import Clock, Workspace

pytestmark = pytest.mark.anyio


async def setup(api: httpx2.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    proj = await project(api)
    return proj, await task(api, proj["id"])


async def test_timer_lifecycle(
    api: httpx2.AsyncClient, sandbox: SandboxApp, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    proj, t = await setup(api)
    events = capture_events(sandbox, monkeypatch)
    error(await api.get("/time-entries/running"), 404, "no_running_timer")
    assert (await api.get("/time-entries/running")).json()["message"] == "No timer is running"
    started = ok(await api.post("/time-entries/start", json={"task_id": t["id"], "description": "Mockup"}), 201)
    assert started["running"] is True and started["ended_at"] is None and started["billable"] is True
    assert started["project_id"] == proj["id"] and started["duration_seconds"] == 0
    clock.advance(minutes=25)
    running = ok(await api.get("/time-entries/running"))
    assert running["id"] == started["id"] and running["duration_seconds"] == 1500
    second = await api.post("/time-entries/start", json={"task_id": t["id"]})
    error(second, 409, "timer_running")
    assert started["id"] in second.json()["message"]
    clock.advance(minutes=5)
    stopped = ok(await api.post(f"/time-entries/{started['id']}/stop"))
    assert stopped["running"] is False and stopped["ended_at"] == "2026-06-03T08:30:00Z"
    assert stopped["duration_seconds"] == 1800
    error(await api.post(f"/time-entries/{started['id']}/stop"), 409, "timer_not_running")
    error(await api.post("/time-entries/nope/stop"), 404)
    assert names(events) == ["time_entry.started", "time_entry.stopped"]
    again = ok(await api.post("/time-entries/start", json={"task_id": t["id"], "billable": False}), 201)
    assert again["billable"] is False


async def test_start_errors(api: httpx2.AsyncClient, api_b: httpx2.AsyncClient) -> None:
    _, t = await setup(api)
    error(await api.post("/time-entries/start", json={}), 400, field="task_id")
    error(await api.post("/time-entries/start", json={"task_id": "nope"}), 422, field="task_id")
    error(await api.post("/time-entries/start", json={"task_id": t["id"], "billable": "y"}), 422, field="billable")
    error(await api_b.post("/time-entries/start", json={"task_id": t["id"]}), 422, field="task_id")


async def test_timers_are_per_user(api: httpx2.AsyncClient, sandbox: SandboxApp, org_a: Workspace) -> None:
    _, t = await setup(api)
    mine = ok(await api.post("/time-entries/start", json={"task_id": t["id"]}), 201)
    bob = add_user(sandbox, org_a.org_id, "Bob", "bob")
    async with client_as(sandbox, token_for(sandbox, org_a.org_id, bob, "bob-token")) as as_bob:
        error(await as_bob.get("/time-entries/running"), 404, "no_running_timer")
        theirs = ok(await as_bob.post("/time-entries/start", json={"task_id": t["id"]}), 201)
        assert theirs["user_id"] == bob
    listing = ok(await api.get("/time-entries"))
    assert listing["total"] == 2
    assert [e["id"] for e in ok(await api.get("/time-entries", params={"user_id": bob}))["time_entries"]] == [
        theirs["id"]
    ]
    assert ok(await api.get("/time-entries/running"))["id"] == mine["id"]


async def test_log_after_the_fact(
    api: httpx2.AsyncClient, sandbox: SandboxApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    proj, t = await setup(api)
    events = capture_events(sandbox, monkeypatch)
    body = {"task_id": t["id"], "started_at": "2026-06-04T09:00:00Z", "ended_at": "2026-06-04T11:30:00Z"}
    first = ok(await api.post("/time-entries", json=body), 201)
    assert first["duration_seconds"] == 9000 and first["project_id"] == proj["id"] and first["overlaps"] == []
    offset = {
        "project_id": proj["id"],
        "started_at": "2026-06-04T12:00:00+02:00",
        "ended_at": "2026-06-04T12:30:00+02:00",
    }
    second = ok(await api.post("/time-entries", json=offset), 201)
    assert second["started_at"] == "2026-06-04T10:00:00Z" and second["task_id"] is None
    assert second["overlaps"] == [first["id"]]
    assert names(events) == ["time_entry.created", "time_entry.created"]
    assert "overlaps" not in events[0][1]
    adjacent = {"project_id": proj["id"], "started_at": "2026-06-04T11:30:00Z", "ended_at": "2026-06-04T12:00:00Z"}
    assert ok(await api.post("/time-entries", json=adjacent), 201)["overlaps"] == []


async def test_log_errors(api: httpx2.AsyncClient) -> None:
    proj, t = await setup(api)
    other = await project(api, "Other")
    span = {"started_at": "2026-06-04T09:00:00Z", "ended_at": "2026-06-04T10:00:00Z"}
    error(
        await api.post("/time-entries", json={"task_id": t["id"], "ended_at": span["ended_at"]}),
        400,
        field="started_at",
    )
    error(
        await api.post("/time-entries", json={"task_id": t["id"], "started_at": span["started_at"]}),
        400,
        field="ended_at",
    )
    error(await api.post("/time-entries", json=span), 400, field="task_id")
    reversed_span = {"task_id": t["id"], "started_at": span["ended_at"], "ended_at": span["started_at"]}
    error(await api.post("/time-entries", json=reversed_span), 422, "validation_failed", "ended_at")
    same = {"task_id": t["id"], "started_at": span["started_at"], "ended_at": span["started_at"]}
    error(await api.post("/time-entries", json=same), 422, field="ended_at")
    naive = {"task_id": t["id"], "started_at": "2026-06-04T09:00:00", "ended_at": span["ended_at"]}
    error(await api.post("/time-entries", json=naive), 422, field="started_at")
    error(await api.post("/time-entries", json={**span, "project_id": "nope"}), 422, field="project_id")
    mismatch = {**span, "task_id": t["id"], "project_id": other["id"]}
    error(await api.post("/time-entries", json=mismatch), 422, field="project_id")
    assert proj["id"]


async def test_list_filters(api: httpx2.AsyncClient) -> None:
    proj, t = await setup(api)
    other = await project(api, "Other")

    async def log(start: str, end: str, **extra: Any) -> str:
        body = {"started_at": start, "ended_at": end, **extra}
        return str(ok(await api.post("/time-entries", json=body), 201)["id"])

    late = await log("2026-06-05T09:00:00Z", "2026-06-05T10:00:00Z", task_id=t["id"], billable=False)
    early = await log("2026-06-01T09:00:00Z", "2026-06-01T10:00:00Z", project_id=other["id"])
    mid = await log("2026-06-03T09:00:00Z", "2026-06-03T10:00:00Z", task_id=t["id"])

    async def ids(**params: str) -> list[str]:
        return [e["id"] for e in ok(await api.get("/time-entries", params=params))["time_entries"]]

    assert await ids() == [early, mid, late]
    assert await ids(**{"from": "2026-06-03T09:00:00Z", "to": "2026-06-05T09:00:00Z"}) == [mid]
    assert await ids(project_id=proj["id"]) == [mid, late]
    assert await ids(task_id=t["id"], billable="false") == [late]
    assert await ids(billable="true") == [early, mid]
    error(await api.get("/time-entries", params={"from": "yesterday"}), 422, field="from")


async def test_update_and_delete(
    api: httpx2.AsyncClient, sandbox: SandboxApp, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    proj, t = await setup(api)
    other = await project(api, "Other")
    other_task = await task(api, other["id"])
    body = {"task_id": t["id"], "started_at": "2026-06-02T09:00:00Z", "ended_at": "2026-06-02T10:00:00Z"}
    entry = ok(await api.post("/time-entries", json=body), 201)
    events = capture_events(sandbox, monkeypatch)
    url = f"/time-entries/{entry['id']}"
    updated = ok(
        await api.put(url, json={"ended_at": "2026-06-02T11:00:00Z", "description": "Review", "billable": False})
    )
    assert updated["duration_seconds"] == 7200 and updated["description"] == "Review" and updated["billable"] is False
    error(await api.put(url, json={"started_at": "2026-06-02T12:00:00Z"}), 422, field="started_at")
    error(await api.put(url, json={"ended_at": "2026-06-02T08:00:00Z"}), 422, field="ended_at")
    moved = ok(await api.put(url, json={"task_id": other_task["id"]}))
    assert moved["project_id"] == other["id"] and moved["task_id"] == other_task["id"]
    error(await api.put(url, json={"project_id": proj["id"]}), 422, field="project_id")
    detached = ok(await api.put(url, json={"task_id": None, "project_id": proj["id"]}))
    assert detached["task_id"] is None and detached["project_id"] == proj["id"]
    error(await api.put(url, json={"task_id": "nope"}), 422, field="task_id")
    assert names(events) == ["time_entry.updated"] * 3
    running = ok(await api.post("/time-entries/start", json={"task_id": t["id"]}), 201)
    run_url = f"/time-entries/{running['id']}"
    error(await api.put(run_url, json={"ended_at": "2026-06-03T09:00:00Z"}), 409, "timer_running", "ended_at")
    earlier = ok(await api.put(run_url, json={"started_at": "2026-06-03T07:00:00Z"}))
    assert earlier["running"] is True and earlier["duration_seconds"] == 3600
    error(await api.put(run_url, json={"started_at": "2026-06-03T09:00:00Z"}), 422, field="started_at")
    assert (await api.delete(url)).status_code == 204
    error(await api.get(url), 404)
    error(await api.delete(url), 404)
    assert names(events)[-1] == "time_entry.deleted"
    assert clock.now


async def test_deleting_task_keeps_entries(api: httpx2.AsyncClient) -> None:
    proj, t = await setup(api)
    body = {"task_id": t["id"], "started_at": "2026-06-02T09:00:00Z", "ended_at": "2026-06-02T10:00:00Z"}
    entry = ok(await api.post("/time-entries", json=body), 201)
    assert (await api.delete(f"/tasks/{t['id']}")).status_code == 204
    kept = ok(await api.get(f"/time-entries/{entry['id']}"))
    assert kept["task_id"] is None and kept["project_id"] == proj["id"]


async def test_other_org_is_404(api: httpx2.AsyncClient, api_b: httpx2.AsyncClient) -> None:
    _, t = await setup(api)
    entry = ok(await api.post("/time-entries/start", json={"task_id": t["id"]}), 201)
    url = f"/time-entries/{entry['id']}"
    for response in (
        await api_b.get(url),
        await api_b.put(url, json={"description": "x"}),
        await api_b.delete(url),
        await api_b.post(f"{url}/stop"),
    ):
        error(response, 404, "not_found")
    assert ok(await api_b.get("/time-entries"))["total"] == 0
    error(await api_b.get("/time-entries/running"), 404, "no_running_timer")
