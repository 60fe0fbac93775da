"""Pages: CRUD, content (Markdown or ProseMirror JSON), tree, moves without cycles, deletes, events."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from dversum_sandbox.app import SandboxApp
from tests.dversum_sandbox._core_support import capture_events, error, names, ok, project

pytestmark = pytest.mark.anyio


async def page(api: httpx2.AsyncClient, title: str, parent_id: str | None = None, **extra: Any) -> dict[str, Any]:
    body = {"title": title, **({"parent_id": parent_id} if parent_id else {}), **extra}
    return ok(await api.post("/pages", json=body), 201)  # type: ignore[no-any-return]


async def tree(api: httpx2.AsyncClient) -> list[Any]:
    def simplify(nodes: list[dict[str, Any]]) -> list[Any]:
        return [(n["title"], simplify(n["children"])) if n["children"] else n["title"] for n in nodes]

    return simplify(ok(await api.get("/pages/tree"))["pages"])


async def test_create_get_update_and_events(
    api: httpx2.AsyncClient, sandbox: SandboxApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = capture_events(sandbox, monkeypatch)
    proj = await project(api)
    root = await page(api, "Wiki", icon="📚", project_id=proj["id"])
    assert root["content"] == {"type": "doc", "content": [{"type": "paragraph"}]}
    assert root["icon"] == "📚" and root["parent_id"] is None and root["position"] == 0
    assert root["children"] == [] and root["path"] == [] and root["project_id"] == proj["id"]
    child = await page(api, "Q2 Analyse", root["id"], content="# Q2 Analyse")
    assert child["content"]["content"][0]["type"] == "heading" and child["path"] == ["Wiki"]
    grandchild = await page(api, "Details", child["id"])
    assert ok(await api.get(f"/pages/{grandchild['id']}"))["path"] == ["Wiki", "Q2 Analyse"]
    assert ok(await api.get(f"/pages/{root['id']}"))["children"] == [{"id": child["id"], "title": "Q2 Analyse"}]
    renamed = ok(await api.put(f"/pages/{child['id']}", json={"title": "Q2", "icon": None}))
    assert renamed["title"] == "Q2" and renamed["icon"] is None and renamed["content"] == child["content"]
    replaced = ok(await api.put(f"/pages/{child['id']}/content", json={"content": "## Updated section"}))
    assert replaced["content"]["content"][0]["content"][0]["text"] == "Updated section"
    doc = {"type": "doc", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "JSON"}]}]}
    assert ok(await api.put(f"/pages/{child['id']}/content", json={"content": doc}))["content"] == doc
    assert names(events) == ["project.created", "page.created", "page.created", "page.created"] + ["page.updated"] * 3
    assert events[1][1]["id"] == root["id"]


async def test_content_validation(api: httpx2.AsyncClient) -> None:
    error(await api.post("/pages", json={}), 400, field="title")
    error(await api.post("/pages", json={"title": "X", "content": 5}), 422, "validation_failed", "content")
    error(await api.post("/pages", json={"title": "X", "content": {"type": "paragraph"}}), 422, field="content")
    invalid = await api.post("/pages", json={"title": "X", "content": {"type": "doc", "content": "text"}})
    error(invalid, 422, "validation_failed", "content")
    assert "doc: content must be a list" in invalid.json()["message"]
    error(await api.post("/pages", json={"title": "X", "parent_id": "nope"}), 422, field="parent_id")
    error(await api.post("/pages", json={"title": "X", "project_id": "nope"}), 422, field="project_id")
    created = await page(api, "X")
    error(await api.put(f"/pages/{created['id']}/content", json={}), 400, field="content")
    error(await api.put(f"/pages/{created['id']}/content", json={"content": ["a"]}), 422, field="content")
    error(await api.put("/pages/nope/content", json={"content": "x"}), 404)
    error(await api.put("/pages/nope", json={"title": "x"}), 404)
    error(await api.put(f"/pages/{created['id']}", json={"title": ""}), 422, field="title")


async def test_real_converter_round_trip(api: httpx2.AsyncClient) -> None:
    md = "# Q2 Analyse\n\n| Metrik | Wert |\n|---|---|\n| Revenue | 41.804 € |"
    created = await page(api, "Q2 Analyse", content=md)
    assert created["content"]["type"] == "doc"
    kinds = [node["type"] for node in created["content"]["content"]]
    assert kinds[0] == "heading" and "table" in kinds
    invalid = {"type": "doc", "content": [{"type": "no_such_node"}]}
    error(await api.put(f"/pages/{created['id']}/content", json={"content": invalid}), 422, field="content")


async def test_tree_list_and_search(api: httpx2.AsyncClient) -> None:
    proj = await project(api)
    wiki = await page(api, "Wiki")
    await page(api, "Onboarding", wiki["id"], project_id=proj["id"])
    await page(api, "Müller Notizen", wiki["id"])
    await page(api, "Inbox")
    assert await tree(api) == [("Wiki", ["Onboarding", "Müller Notizen"]), "Inbox"]
    listing = ok(await api.get("/pages"))
    assert listing["total"] == 4 and "content" not in listing["pages"][0]

    async def titles(**params: str) -> list[str]:
        return [p["title"] for p in ok(await api.get("/pages", params=params))["pages"]]

    assert await titles(parent_id=wiki["id"]) == ["Onboarding", "Müller Notizen"]
    assert await titles(parent_id="root") == ["Wiki", "Inbox"]
    assert await titles(project_id=proj["id"]) == ["Onboarding"]
    assert await titles(search="MÜLLER") == ["Müller Notizen"]


async def test_move_keeps_positions_dense_and_refuses_cycles(
    api: httpx2.AsyncClient, sandbox: SandboxApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, c = [await page(api, name) for name in "ABC"]
    a1 = await page(api, "A1", a["id"])
    a2 = await page(api, "A2", a["id"])
    events = capture_events(sandbox, monkeypatch)
    moved = ok(await api.patch(f"/pages/{c['id']}/move", json={"parent_id": a["id"], "position": 1}))
    assert moved["parent_id"] == a["id"] and moved["position"] == 1 and moved["path"] == ["A"]
    assert await tree(api) == [("A", ["A1", "C", "A2"]), "B"]
    ok(await api.patch(f"/pages/{a2['id']}/move", json={"position": 0}))
    assert await tree(api) == ["A2", ("A", ["A1", "C"]), "B"]
    ok(await api.patch(f"/pages/{b['id']}/move", json={"position": 0}))
    assert await tree(api) == ["B", "A2", ("A", ["A1", "C"])]
    ok(await api.patch(f"/pages/{a1['id']}/move", json={"parent_id": a["id"], "position": 50}))
    assert await tree(api) == ["B", "A2", ("A", ["C", "A1"])]
    assert names(events) == ["page.updated"] * 4
    error(await api.patch(f"/pages/{a['id']}/move", json={"parent_id": a["id"]}), 422, field="parent_id")
    error(await api.patch(f"/pages/{a['id']}/move", json={"parent_id": c["id"]}), 422, field="parent_id")
    error(await api.patch(f"/pages/{a['id']}/move", json={"parent_id": "nope"}), 422, field="parent_id")
    error(await api.patch(f"/pages/{a['id']}/move", json={"position": -1}), 422, field="position")
    error(await api.patch("/pages/nope/move", json={}), 404)
    with sandbox.db.transaction():
        rows = sandbox.db.all("SELECT parent_id, position FROM pages ORDER BY parent_id, position")
    by_parent: dict[Any, list[int]] = {}
    for row in rows:
        by_parent.setdefault(row["parent_id"], []).append(row["position"])
    assert all(p == list(range(len(p))) for p in by_parent.values())


async def test_delete_refuse_and_move_up(
    api: httpx2.AsyncClient, sandbox: SandboxApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = await page(api, "Top")
    first = await page(api, "First", top["id"])
    middle = await page(api, "Middle", top["id"])
    await page(api, "Last", top["id"])
    await page(api, "M1", middle["id"])
    await page(api, "M2", middle["id"])
    refused = await api.delete(f"/pages/{middle['id']}")
    error(refused, 409, "page_has_children")
    assert "2 child page(s)" in refused.json()["message"]
    error(await api.delete(f"/pages/{middle['id']}", params={"children": "cascade"}), 422, field="children")
    events = capture_events(sandbox, monkeypatch)
    assert (await api.delete(f"/pages/{middle['id']}", params={"children": "move_up"})).status_code == 204
    assert await tree(api) == [("Top", ["First", "M1", "M2", "Last"])]
    positions = [p["position"] for p in ok(await api.get("/pages", params={"parent_id": top["id"]}))["pages"]]
    assert positions == [0, 1, 2, 3]
    assert names(events) == ["page.deleted", "page.updated", "page.updated"]
    assert (await api.delete(f"/pages/{first['id']}")).status_code == 204
    error(await api.get(f"/pages/{first['id']}"), 404)
    error(await api.delete(f"/pages/{first['id']}"), 404)


async def test_other_org_is_404(api: httpx2.AsyncClient, api_b: httpx2.AsyncClient) -> None:
    mine = await page(api, "Mine")
    url = f"/pages/{mine['id']}"
    for response in (
        await api_b.get(url),
        await api_b.put(url, json={"title": "X"}),
        await api_b.put(f"{url}/content", json={"content": "x"}),
        await api_b.patch(f"{url}/move", json={}),
        await api_b.delete(url),
    ):
        error(response, 404, "not_found")
    error(await api_b.post("/pages", json={"title": "X", "parent_id": mine["id"]}), 422, field="parent_id")
    assert ok(await api_b.get("/pages/tree")) == {"pages": []}
    assert ok(await api_b.get("/pages"))["total"] == 0
    other = await page(api_b, "Theirs")
    assert other["position"] == 0  # top-level siblings are per organization
