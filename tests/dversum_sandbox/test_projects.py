"""Projects: CRUD, filters, status, default and custom kanban columns, cascading delete, events."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from dversum_sandbox.app import SandboxApp
from tests.dversum_sandbox._core_support import capture_events, error, names, ok, project, task

pytestmark = pytest.mark.anyio


def positions(columns: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(c["name"], c["position"]) for c in columns]


async def test_create_with_default_columns_and_get(
    api: httpx2.AsyncClient, sandbox: SandboxApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = capture_events(sandbox, monkeypatch)
    client = ok(await api.post("/clients", json={"name": "ATAS"}), 201)
    created = await project(api, "Q2 Relaunch", client_id=client["id"], color="#45e59f", budget_cents=500000)
    assert created["status"] == "active" and created["archived"] is False
    assert created["client"] == {"id": client["id"], "name": "ATAS"}
    assert positions(created["columns"]) == [("To do", 0), ("In progress", 1), ("Done", 2)]
    assert [c["is_done_column"] for c in created["columns"]] == [False, False, True]
    assert created["task_counts"] == {"open": 0, "done": 0}
    await task(api, created["id"])
    await task(api, created["id"], column_id=created["columns"][2]["id"])
    got = ok(await api.get(f"/projects/{created['id']}"))
    assert got["task_counts"] == {"open": 1, "done": 1}
    assert names(events)[:2] == ["client.created", "project.created"]
    assert events[1][1]["columns"][0]["name"] == "To do"


async def test_validation(api: httpx2.AsyncClient) -> None:
    error(await api.post("/projects", json={}), 400, "bad_request", "name")
    error(await api.post("/projects", json={"name": "X", "client_id": "nope"}), 422, "validation_failed", "client_id")
    error(await api.post("/projects", json={"name": "X", "client_id": 3}), 422, field="client_id")
    error(await api.post("/projects", json={"name": "X", "budget_cents": -1}), 422, field="budget_cents")
    error(await api.post("/projects", json={"name": "X", "start_date": "2026-13-01"}), 422, field="start_date")
    body = {"name": "X", "start_date": "2026-06-10", "end_date": "2026-06-01"}
    error(await api.post("/projects", json=body), 422, field="end_date")
    proj = await project(api, "X", start_date="2026-06-10")
    error(await api.put(f"/projects/{proj['id']}", json={"end_date": "2026-06-01"}), 422, field="end_date")
    error(await api.put(f"/projects/{proj['id']}", json={"client_id": "nope"}), 422, field="client_id")


async def test_update_and_list_filters(
    api: httpx2.AsyncClient, sandbox: SandboxApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = ok(await api.post("/clients", json={"name": "ATAS"}), 201)
    a = await project(api, "Alpha", client_id=client["id"])
    b = await project(api, "Beta")
    events = capture_events(sandbox, monkeypatch)
    updated = ok(await api.put(f"/projects/{b['id']}", json={"description": "Neu", "client_id": client["id"]}))
    assert updated["description"] == "Neu" and updated["name"] == "Beta" and updated["client_id"] == client["id"]
    unlinked = ok(await api.put(f"/projects/{b['id']}", json={"client_id": None}))
    assert unlinked["client_id"] is None
    archived = ok(await api.patch(f"/projects/{a['id']}/status", json={"status": "archived"}))
    assert archived["status"] == "archived" and archived["archived"] is True
    assert names(events) == ["project.updated", "project.updated", "project.updated", "project.archived"]

    def listed(response: httpx2.Response) -> list[str]:
        return [p["name"] for p in ok(response)["projects"]]

    assert listed(await api.get("/projects")) == ["Alpha", "Beta"]
    assert listed(await api.get("/projects", params={"archived": "false"})) == ["Beta"]
    assert listed(await api.get("/projects", params={"archived": "true"})) == ["Alpha"]
    assert listed(await api.get("/projects", params={"client_id": client["id"]})) == ["Alpha"]
    assert listed(await api.get("/projects", params={"search": "ALP"})) == ["Alpha"]
    error(await api.get("/projects", params={"archived": "maybe"}), 422, field="archived")


async def test_status(api: httpx2.AsyncClient, sandbox: SandboxApp, monkeypatch: pytest.MonkeyPatch) -> None:
    proj = await project(api)
    events = capture_events(sandbox, monkeypatch)
    assert ok(await api.patch(f"/projects/{proj['id']}/status", json={"status": "on_hold"}))["status"] == "on_hold"
    assert names(events) == ["project.updated"]
    ok(await api.patch(f"/projects/{proj['id']}/status", json={"status": "on_hold"}))
    assert names(events) == ["project.updated"]  # no change, no event
    error(await api.patch(f"/projects/{proj['id']}/status", json={"status": "done"}), 422, field="status")
    error(await api.patch(f"/projects/{proj['id']}/status", json={}), 400, field="status")
    error(await api.patch("/projects/nope/status", json={"status": "active"}), 404)


async def test_columns_crud_keeps_positions_dense(api: httpx2.AsyncClient) -> None:
    proj = await project(api)
    pid = proj["id"]
    review = ok(await api.post(f"/projects/{pid}/columns", json={"name": "Review", "position": 2}), 201)
    assert review["position"] == 2 and review["is_done_column"] is False and review["task_count"] == 0
    backlog = ok(await api.post(f"/projects/{pid}/columns", json={"name": "Backlog", "position": 0}), 201)
    end = ok(await api.post(f"/projects/{pid}/columns", json={"name": "Archive", "position": 99}), 201)
    assert end["position"] == 5
    columns = ok(await api.get(f"/projects/{pid}/columns"))
    assert columns["total"] == 6 and columns["page"] == 1
    assert positions(columns["columns"]) == [
        ("Backlog", 0),
        ("To do", 1),
        ("In progress", 2),
        ("Review", 3),
        ("Done", 4),
        ("Archive", 5),
    ]
    moved = ok(await api.put(f"/projects/{pid}/columns/{backlog['id']}", json={"position": 4, "name": "Later"}))
    assert moved["position"] == 4 and moved["name"] == "Later"
    flagged = ok(await api.put(f"/projects/{pid}/columns/{end['id']}", json={"is_done_column": True}))
    assert flagged["is_done_column"] is True
    assert (await api.delete(f"/projects/{pid}/columns/{review['id']}")).status_code == 204
    after = ok(await api.get(f"/projects/{pid}"))["columns"]
    assert [c["position"] for c in after] == [0, 1, 2, 3, 4]
    assert [c["name"] for c in after] == ["To do", "In progress", "Done", "Later", "Archive"]


async def test_column_errors(api: httpx2.AsyncClient, api_b: httpx2.AsyncClient) -> None:
    proj = await project(api)
    other = await project(api, "Other")
    pid, todo = proj["id"], proj["columns"][0]["id"]
    error(await api.post(f"/projects/{pid}/columns", json={}), 400, field="name")
    error(await api.post(f"/projects/{pid}/columns", json={"name": "X", "position": -1}), 422, field="position")
    error(await api.put(f"/projects/{pid}/columns/{todo}", json={"is_done_column": "yes"}), 422, field="is_done_column")
    error(await api.put(f"/projects/{other['id']}/columns/{todo}", json={"name": "X"}), 404)
    error(await api.delete(f"/projects/{pid}/columns/nope"), 404)
    error(await api_b.get(f"/projects/{pid}/columns"), 404)
    error(await api_b.post(f"/projects/{pid}/columns", json={"name": "X"}), 404)


async def test_delete_column_with_tasks(
    api: httpx2.AsyncClient, sandbox: SandboxApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    proj = await project(api)
    pid = proj["id"]
    todo, doing, done = (c["id"] for c in proj["columns"])
    other = await project(api, "Other")
    first = await task(api, pid, "First", column_id=doing)
    second = await task(api, pid, "Second", column_id=doing)
    existing = await task(api, pid, "Existing", column_id=done)
    error(await api.delete(f"/projects/{pid}/columns/{doing}"), 409, "column_not_empty")
    error(
        await api.delete(f"/projects/{pid}/columns/{doing}", params={"move_tasks_to": doing}),
        422,
        field="move_tasks_to",
    )
    bad = {"move_tasks_to": other["columns"][0]["id"]}
    error(await api.delete(f"/projects/{pid}/columns/{doing}", params=bad), 422, field="move_tasks_to")
    events = capture_events(sandbox, monkeypatch)
    assert (await api.delete(f"/projects/{pid}/columns/{doing}", params={"move_tasks_to": done})).status_code == 204
    tasks = ok(await api.get(f"/projects/{pid}/tasks", params={"column_id": done}))["tasks"]
    assert [(t["title"], t["position"], t["done"]) for t in tasks] == [
        ("Existing", 0, True),
        ("First", 1, True),
        ("Second", 2, True),
    ]
    assert names(events) == ["task.moved", "task.completed", "task.moved", "task.completed", "project.updated"]
    assert {first["id"], second["id"]} == {e[1]["id"] for e in events[:4]} and existing["id"]
    assert [c["id"] for c in ok(await api.get(f"/projects/{pid}/columns"))["columns"]] == [todo, done]


async def test_delete_cascades(api: httpx2.AsyncClient, sandbox: SandboxApp, monkeypatch: pytest.MonkeyPatch) -> None:
    proj = await project(api)
    keep = await project(api, "Keep")
    t = await task(api, proj["id"])
    kept_task = await task(api, keep["id"])
    ok(await api.post(f"/tasks/{t['id']}/subtasks", json={"title": "Sub"}), 201)
    ok(await api.post(f"/tasks/{t['id']}/comments", json={"content": "<p>Hi</p>"}), 201)
    entry = ok(await api.post("/time-entries/start", json={"task_id": t["id"]}), 201)
    page = ok(await api.post("/pages", json={"title": "Notes", "project_id": proj["id"]}), 201)
    events = capture_events(sandbox, monkeypatch)
    error(await api.delete("/projects/nope"), 404)
    assert (await api.delete(f"/projects/{proj['id']}")).status_code == 204
    assert names(events) == ["project.deleted"] and events[0][1]["id"] == proj["id"]
    error(await api.get(f"/projects/{proj['id']}"), 404)
    error(await api.get(f"/tasks/{t['id']}"), 404)
    error(await api.get(f"/time-entries/{entry['id']}"), 404)
    assert ok(await api.get(f"/pages/{page['id']}"))["project_id"] is None
    with sandbox.db.transaction():
        for table in ("subtasks", "task_comments", "task_assignees"):
            assert sandbox.db.scalar(f"SELECT COUNT(*) FROM {table} WHERE task_id = ?", (t["id"],)) == 0, table
        assert sandbox.db.scalar("SELECT COUNT(*) FROM project_columns WHERE project_id = ?", (proj["id"],)) == 0
    ok(await api.get(f"/tasks/{kept_task['id']}"))


async def test_other_org_is_404(api: httpx2.AsyncClient, api_b: httpx2.AsyncClient) -> None:
    proj = await project(api)
    pid = proj["id"]
    for response in (
        await api_b.get(f"/projects/{pid}"),
        await api_b.put(f"/projects/{pid}", json={"name": "X"}),
        await api_b.patch(f"/projects/{pid}/status", json={"status": "archived"}),
        await api_b.delete(f"/projects/{pid}"),
        await api_b.delete(f"/projects/{pid}/columns/{proj['columns'][0]['id']}"),
    ):
        error(response, 404, "not_found")
    client = ok(await api.post("/clients", json={"name": "Mine"}), 201)
    error(await api_b.post("/projects", json={"name": "X", "client_id": client["id"]}), 422, field="client_id")
    assert ok(await api_b.get("/projects"))["total"] == 0
