"""Tasks: create/list/update/move/toggle/assign/delete, subtasks, comments with @vero, concurrency."""

from __future__ import annotations

import asyncio
import random
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
from tests.dversum_sandbox.conftest import Workspace

pytestmark = pytest.mark.anyio


async def board(api: httpx2.AsyncClient, project_id: str) -> dict[str, list[tuple[str, int]]]:
    """column id → [(title, position)] in board order."""
    out: dict[str, list[tuple[str, int]]] = {}
    for t in ok(await api.get(f"/projects/{project_id}/tasks", params={"per_page": 100}))["tasks"]:
        out.setdefault(t["column_id"], []).append((t["title"], t["position"]))
    return out


async def test_create_and_get(
    api: httpx2.AsyncClient, sandbox: SandboxApp, org_a: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    proj = await project(api)
    bob = add_user(sandbox, org_a.org_id, "Bob Builder", "bob")
    events = capture_events(sandbox, monkeypatch)
    created = await task(
        api,
        proj["id"],
        "Mockup für Landing Page",
        due_date="2026-06-30",
        assignee_ids=[bob, org_a.user_id, bob],
        tags=["design", " web ", "design"],
        priority="high",
        estimate_minutes=90,
        description="**Markdown**",
    )
    todo = proj["columns"][0]
    assert created["column"] == {"id": todo["id"], "name": "To do"} and created["column_id"] == todo["id"]
    assert created["position"] == 0 and created["done"] is False and created["completed_at"] is None
    assert created["assignee_ids"] == [bob, org_a.user_id]
    assert created["assignees"][0] == {"id": bob, "name": "Bob Builder", "email": "bob@muster.de"}
    assert created["tags"] == ["design", "web"] and created["priority"] == "high"
    assert (created["subtask_count"], created["subtasks_done"], created["comment_count"]) == (0, 0, 0)
    assert names(events) == ["task.created", "task.assigned"]
    plain = await task(api, proj["id"], "Second")
    assert plain["position"] == 1 and plain["priority"] == "medium" and plain["tags"] == []
    in_done = await task(api, proj["id"], "Done already", column_id=proj["columns"][2]["id"])
    assert in_done["done"] is True and in_done["completed_at"] == "2026-06-03T08:00:00Z"
    got = ok(await api.get(f"/tasks/{created['id']}"))
    assert got["subtasks"] == [] and got["title"] == "Mockup für Landing Page"


async def test_create_errors(api: httpx2.AsyncClient, api_b: httpx2.AsyncClient) -> None:
    proj = await project(api)
    other = await project(api, "Other")
    error(await api.post("/tasks", json={"title": "X"}), 400, field="project_id")
    error(await api.post("/tasks", json={"project_id": proj["id"]}), 400, field="title")
    error(await api.post("/tasks", json={"title": "X", "project_id": "nope"}), 422, field="project_id")
    body = {"title": "X", "project_id": proj["id"], "column_id": other["columns"][0]["id"]}
    error(await api.post("/tasks", json=body), 422, field="column_id")
    error(await api.post("/tasks", json={"title": "X", "project_id": proj["id"], "column_id": "nope"}), 422)
    error(await api.post("/tasks", json={"title": "X", "project_id": proj["id"], "assignee_ids": ["nobody"]}), 422)
    error(await api.post("/tasks", json={"title": "X", "project_id": proj["id"], "priority": "asap"}), 422)
    error(await api.post("/tasks", json={"title": "X", "project_id": proj["id"], "tags": [1]}), 422, field="tags")
    error(await api.post("/tasks", json={"title": "X", "project_id": proj["id"], "due_date": "soon"}), 422)
    me_b = ok(await api_b.get("/me"))["id"]
    body = {"title": "X", "project_id": proj["id"], "assignee_ids": [me_b]}
    error(await api.post("/tasks", json=body), 422, "validation_failed", "assignee_ids")
    error(await api_b.post("/tasks", json={"title": "X", "project_id": proj["id"]}), 422, field="project_id")


async def test_lists_and_filters(api: httpx2.AsyncClient, sandbox: SandboxApp, org_a: Workspace) -> None:
    proj = await project(api)
    other = await project(api, "Other")
    bob = add_user(sandbox, org_a.org_id, "Bob", "bob")
    todo, doing, done = (c["id"] for c in proj["columns"])
    await task(api, proj["id"], "Later", column_id=doing, due_date="2026-07-01")
    await task(api, proj["id"], "First", assignee_ids=[bob], due_date="2026-06-10")
    await task(api, proj["id"], "Finished", column_id=done)
    await task(api, other["id"], "Elsewhere", assignee_ids=[bob])
    assert await board(api, proj["id"]) == {todo: [("First", 0)], doing: [("Later", 0)], done: [("Finished", 0)]}

    def titles(response: httpx2.Response) -> list[str]:
        return [t["title"] for t in ok(response)["tasks"]]

    base = f"/projects/{proj['id']}/tasks"
    assert titles(await api.get(base, params={"done": "true"})) == ["Finished"]
    assert titles(await api.get(base, params={"assignee_id": bob})) == ["First"]
    assert titles(await api.get(base, params={"column_id": doing})) == ["Later"]
    assert ok(await api.get(base, params={"per_page": 1, "page": 2}))["total"] == 3
    error(await api.get("/projects/nope/tasks"), 404)
    assert titles(await api.get("/tasks", params={"assignee_id": bob})) == ["First", "Elsewhere"]
    assert titles(await api.get("/tasks", params={"due_before": "2026-06-30"})) == ["First"]
    assert titles(await api.get("/tasks", params={"project_id": other["id"]})) == ["Elsewhere"]
    assert titles(await api.get("/tasks", params={"done": "false", "search": "LAT"})) == ["Later"]
    assert ok(await api.get("/tasks"))["total"] == 4
    error(await api.get("/tasks", params={"due_before": "tomorrow"}), 422, field="due_before")


async def test_update_partial(
    api: httpx2.AsyncClient, sandbox: SandboxApp, org_a: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    proj = await project(api)
    t = await task(api, proj["id"], "Draft", due_date="2026-06-30", tags=["a"])
    events = capture_events(sandbox, monkeypatch)
    updated = ok(await api.put(f"/tasks/{t['id']}", json={"title": "Final", "due_date": None}))
    assert updated["title"] == "Final" and updated["due_date"] is None and updated["tags"] == ["a"]
    assert names(events) == ["task.updated"]
    assigned = ok(await api.put(f"/tasks/{t['id']}", json={"assignee_ids": [org_a.user_id]}))
    assert assigned["assignee_ids"] == [org_a.user_id]
    assert names(events) == ["task.updated", "task.updated", "task.assigned"]
    error(await api.put(f"/tasks/{t['id']}", json={"estimate_minutes": -5}), 422, field="estimate_minutes")
    error(await api.put("/tasks/nope", json={"title": "X"}), 404)


async def test_move_within_and_across_columns(
    api: httpx2.AsyncClient, sandbox: SandboxApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    proj = await project(api)
    todo, doing, done = (c["id"] for c in proj["columns"])
    a, b, c = [await task(api, proj["id"], name) for name in "ABC"]
    ok(await api.patch(f"/tasks/{c['id']}/move", json={"column_id": todo, "position": 0}))
    assert await board(api, proj["id"]) == {todo: [("C", 0), ("A", 1), ("B", 2)]}
    events = capture_events(sandbox, monkeypatch)
    moved = ok(await api.patch(f"/tasks/{a['id']}/move", json={"column_id": done}))
    assert moved["done"] is True and moved["completed_at"] and moved["column"]["name"] == "Done"
    assert names(events) == ["task.moved", "task.completed"]
    reopened = ok(await api.patch(f"/tasks/{a['id']}/move", json={"column_id": doing, "position": 7}))
    assert reopened["done"] is False and reopened["completed_at"] is None and reopened["position"] == 0
    assert names(events)[2:] == ["task.moved"]
    assert await board(api, proj["id"]) == {todo: [("C", 0), ("B", 1)], doing: [("A", 0)]}
    assert b["id"]


async def test_move_to_other_project(api: httpx2.AsyncClient) -> None:
    proj = await project(api)
    other = await project(api, "Other")
    t = await task(api, proj["id"])
    entry = ok(await api.post("/time-entries/start", json={"task_id": t["id"]}), 201)
    target = other["columns"][1]["id"]
    error(await api.patch(f"/tasks/{t['id']}/move", json={"column_id": target}), 422, field="column_id")
    body = {"column_id": target, "project_id": other["id"]}
    moved = ok(await api.patch(f"/tasks/{t['id']}/move", json=body))
    assert moved["project_id"] == other["id"] and moved["column_id"] == target
    assert ok(await api.get(f"/time-entries/{entry['id']}"))["project_id"] == other["id"]
    error(await api.patch(f"/tasks/{t['id']}/move", json={}), 400, field="column_id")
    bad_project = {"column_id": target, "project_id": "nope"}
    error(await api.patch(f"/tasks/{t['id']}/move", json=bad_project), 422, field="project_id")
    error(await api.patch(f"/tasks/{t['id']}/move", json={"column_id": target, "position": -1}), 422)
    error(await api.patch("/tasks/nope/move", json={"column_id": target}), 404)


async def test_concurrent_moves_keep_positions_dense(api: httpx2.AsyncClient) -> None:
    proj = await project(api)
    columns = [c["id"] for c in proj["columns"]]
    tasks = [await task(api, proj["id"], f"T{i:02}") for i in range(20)]
    rng = random.Random(7)
    moves = [
        api.patch(
            f"/tasks/{rng.choice(tasks)['id']}/move",
            json={"column_id": rng.choice(columns), **({"position": rng.randint(0, 12)} if rng.random() < 0.7 else {})},
        )
        for _ in range(50)
    ]
    responses = await asyncio.gather(*moves)
    assert all(r.status_code == 200 for r in responses)
    listing = ok(await api.get(f"/projects/{proj['id']}/tasks", params={"per_page": 100}))
    assert listing["total"] == 20
    assert sorted(t["id"] for t in listing["tasks"]) == sorted(t["id"] for t in tasks)
    by_column: dict[str, list[int]] = {}
    for t in listing["tasks"]:
        by_column.setdefault(t["column_id"], []).append(t["position"])
    for positions in by_column.values():
        assert positions == list(range(len(positions)))
    done_column = columns[2]
    assert all(t["done"] == (t["column_id"] == done_column) for t in listing["tasks"])


async def test_toggle_assign_delete(
    api: httpx2.AsyncClient, sandbox: SandboxApp, org_a: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    proj = await project(api)
    first = await task(api, proj["id"], "First")
    t = await task(api, proj["id"], "Second")
    events = capture_events(sandbox, monkeypatch)
    toggled = ok(await api.patch(f"/tasks/{t['id']}/toggle-done"))
    assert toggled["done"] is True and toggled["completed_at"] == "2026-06-03T08:00:00Z"
    reopened = ok(await api.patch(f"/tasks/{t['id']}/toggle-done"))
    assert reopened["done"] is False and reopened["completed_at"] is None
    assigned = ok(await api.put(f"/tasks/{t['id']}/assignees", json={"assignee_ids": [org_a.user_id]}))
    assert assigned["assignee_ids"] == [org_a.user_id]
    assert ok(await api.put(f"/tasks/{t['id']}/assignees", json={"assignee_ids": []}))["assignees"] == []
    error(await api.put(f"/tasks/{t['id']}/assignees", json={}), 400, field="assignee_ids")
    error(await api.put(f"/tasks/{t['id']}/assignees", json={"assignee_ids": ["x"]}), 422, field="assignee_ids")
    error(await api.put(f"/tasks/{t['id']}/assignees", json={"assignee_ids": "x"}), 422, field="assignee_ids")
    error(await api.patch("/tasks/nope/toggle-done"), 404)
    assert (await api.delete(f"/tasks/{first['id']}")).status_code == 204
    error(await api.delete(f"/tasks/{first['id']}"), 404)
    assert ok(await api.get(f"/tasks/{t['id']}"))["position"] == 0
    assert names(events) == ["task.completed", "task.updated", "task.assigned", "task.assigned", "task.deleted"]


async def test_subtasks(
    api: httpx2.AsyncClient, sandbox: SandboxApp, org_a: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    proj = await project(api)
    t = await task(api, proj["id"])
    other = await task(api, proj["id"], "Other")
    events = capture_events(sandbox, monkeypatch)
    base = f"/tasks/{t['id']}/subtasks"
    one = ok(await api.post(base, json={"title": "One", "assignee_id": org_a.user_id}), 201)
    two = ok(await api.post(base, json={"title": "Two"}), 201)
    assert (one["position"], two["position"]) == (0, 1)
    assert one["assignee"] == {"id": org_a.user_id, "name": "Anna Admin"} and two["assignee"] is None
    done = ok(await api.put(f"{base}/{two['id']}", json={"done": True, "title": "Zwei"}))
    assert done["done"] is True and done["title"] == "Zwei" and done["completed_at"]
    ok(await api.put(f"{base}/{two['id']}", json={"done": True}))  # already done: no second event
    cleared = ok(await api.put(f"{base}/{one['id']}", json={"assignee_id": None}))
    assert cleared["assignee_id"] is None
    listing = ok(await api.get(base))
    assert [s["title"] for s in listing["subtasks"]] == ["One", "Zwei"] and listing["total"] == 2
    got = ok(await api.get(f"/tasks/{t['id']}"))
    assert (got["subtask_count"], got["subtasks_done"]) == (2, 1) and len(got["subtasks"]) == 2
    assert (await api.delete(f"{base}/{one['id']}")).status_code == 204
    assert ok(await api.get(base))["subtasks"][0]["position"] == 0
    assert names(events) == ["subtask.created", "subtask.created", "subtask.completed", "subtask.deleted"]
    error(await api.post(base, json={}), 400, field="title")
    error(await api.post(base, json={"title": "X", "assignee_id": "nobody"}), 422, field="assignee_id")
    error(await api.put(f"{base}/{two['id']}", json={"done": "yes"}), 422, field="done")
    error(await api.put(f"/tasks/{other['id']}/subtasks/{two['id']}", json={"title": "X"}), 404)
    error(await api.delete(f"{base}/nope"), 404)
    error(await api.get("/tasks/nope/subtasks"), 404)


async def test_comments_and_vero(
    api: httpx2.AsyncClient, sandbox: SandboxApp, org_a: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    proj = await project(api)
    t = await task(api, proj["id"], "Landing <Page>")
    events = capture_events(sandbox, monkeypatch)
    base = f"/tasks/{t['id']}/comments"
    first = ok(await api.post(base, json={"content": "<p>Looks good</p>"}), 201)
    assert first["author"] == {"id": org_a.user_id, "name": "Anna Admin"} and first["content"] == "<p>Looks good</p>"
    asked = ok(await api.post(base, json={"content": "<p>@Vero summarise the thread</p>"}), 201)
    reply = asked["vero_reply"]
    assert reply["author"] == {"id": "vero", "name": "Vero (AI)"}
    assert (
        reply["content"].startswith("<p>Zusammenfassung: 2 Kommentare") and "Landing &lt;Page&gt;" in reply["content"]
    )
    english = ok(await api.post(base, json={"content": "@vero?"}, headers={"Accept-Language": "en"}), 201)
    assert english["vero_reply"]["content"].startswith("<p>Summary: 3 comments")
    assert "vero_reply" not in ok(await api.post(base, json={"content": "mail@vero.de"}), 201)
    listing = ok(await api.get(base))
    assert listing["total"] == 6 and listing["comments"][0]["id"] == first["id"]
    assert listing["comments"][2]["author"]["id"] == "vero"
    assert ok(await api.get(f"/tasks/{t['id']}"))["comment_count"] == 6
    assert names(events) == ["comment.created"] * 6
    error(await api.post(base, json={}), 400, field="content")
    error(await api.post(base, json={"content": "x" * 20_001}), 422, field="content")
    error(await api.get("/tasks/nope/comments"), 404)
    # Only the author deletes a comment; Vero's replies may be removed by anyone.
    bob = add_user(sandbox, org_a.org_id, "Bob", "bob")
    async with client_as(sandbox, token_for(sandbox, org_a.org_id, bob, "bob-token")) as as_bob:
        error(await as_bob.delete(f"{base}/{first['id']}"), 403, "forbidden")
        assert (await as_bob.delete(f"{base}/{reply['id']}")).status_code == 204
    assert (await api.delete(f"{base}/{first['id']}")).status_code == 204
    error(await api.delete(f"{base}/{first['id']}"), 404)
    other = await task(api, proj["id"], "Other")
    error(await api.delete(f"/tasks/{other['id']}/comments/{asked['id']}"), 404)


async def test_other_org_is_404(api: httpx2.AsyncClient, api_b: httpx2.AsyncClient) -> None:
    proj = await project(api)
    t = await task(api, proj["id"])
    sub = ok(await api.post(f"/tasks/{t['id']}/subtasks", json={"title": "S"}), 201)
    comment = ok(await api.post(f"/tasks/{t['id']}/comments", json={"content": "c"}), 201)
    tid = t["id"]
    calls: list[Any] = [
        api_b.get(f"/tasks/{tid}"),
        api_b.put(f"/tasks/{tid}", json={"title": "X"}),
        api_b.delete(f"/tasks/{tid}"),
        api_b.patch(f"/tasks/{tid}/move", json={"column_id": proj["columns"][1]["id"]}),
        api_b.patch(f"/tasks/{tid}/toggle-done"),
        api_b.put(f"/tasks/{tid}/assignees", json={"assignee_ids": []}),
        api_b.get(f"/tasks/{tid}/subtasks"),
        api_b.put(f"/tasks/{tid}/subtasks/{sub['id']}", json={"done": True}),
        api_b.delete(f"/tasks/{tid}/subtasks/{sub['id']}"),
        api_b.get(f"/tasks/{tid}/comments"),
        api_b.post(f"/tasks/{tid}/comments", json={"content": "x"}),
        api_b.delete(f"/tasks/{tid}/comments/{comment['id']}"),
        api_b.get(f"/projects/{proj['id']}/tasks"),
    ]
    for call in calls:
        error(await call, 404, "not_found")
    assert ok(await api_b.get("/tasks"))["total"] == 0
