"""Notion-style pages in a tree: CRUD, content as ProseMirror JSON, the tree, moves and deletes.

Content is stored as Tiptap/ProseMirror JSON; writes accept Markdown (converted server-side)
or a ProseMirror doc (validated), see `content.py`. Positions are dense among siblings
(top-level pages are siblings of each other). `GET /pages?parent_id=root` lists top-level pages.
"""

from __future__ import annotations

from typing import Any

from dversum_sandbox.content import EMPTY_DOC, to_doc
from dversum_sandbox.db import Row, dumps, loads
from dversum_sandbox.errors import bad_request, conflict, validation
from dversum_sandbox.framework import MISSING, Ctx, Endpoint, new_id
from dversum_sandbox.positions import compact, ordered_ids, place, write_order
from dversum_sandbox.util import optional_text, ref, search_clause

__all__ = ["ENDPOINTS", "SCHEMA", "page_json"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS pages (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL, parent_id TEXT, project_id TEXT, title TEXT NOT NULL, icon TEXT,
  position INTEGER NOT NULL, content TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
  created_by TEXT
);
CREATE INDEX IF NOT EXISTS pages_org_parent ON pages(org_id, parent_id, position);
"""

_SIBLINGS = "org_id = ? AND parent_id IS ?"
_TOP_LEVEL = ("root", "null")


def page_summary(row: Row) -> dict[str, Any]:
    return {
        k: row[k]
        for k in (
            "id",
            "title",
            "icon",
            "parent_id",
            "project_id",
            "position",
            "created_by",
            "created_at",
            "updated_at",
        )
    }


def _path(ctx: Ctx, row: Row) -> list[str]:
    """Ancestor titles, root first."""
    titles: list[str] = []
    seen = {row["id"]}
    parent_id = row["parent_id"]
    while parent_id is not None and parent_id not in seen:
        seen.add(parent_id)
        parent = ctx.db.one(
            "SELECT id, title, parent_id FROM pages WHERE id = ? AND org_id = ?", (parent_id, ctx.org_id)
        )
        if parent is None:
            break
        titles.append(parent["title"])
        parent_id = parent["parent_id"]
    return titles[::-1]


def page_json(ctx: Ctx, row: Row) -> dict[str, Any]:
    children = ctx.db.all(
        f"SELECT id, title FROM pages WHERE {_SIBLINGS} ORDER BY position, rowid",  # noqa: S608
        (ctx.org_id, row["id"]),
    )
    return {**page_summary(row), "content": loads(row["content"]), "children": children, "path": _path(ctx, row)}


def _parent(ctx: Ctx, parent_id: Any) -> str | None:
    if parent_id in (MISSING, None):
        return None
    return str(ref(ctx, "pages", "parent_id", parent_id, "page")["id"])


def list_pages(ctx: Ctx) -> dict[str, Any]:
    where = "FROM pages WHERE org_id = ?"
    params: list[Any] = [ctx.org_id]
    parent = ctx.q_id("parent_id")
    if parent is not None:
        where += " AND parent_id IS ?"
        params.append(None if parent in _TOP_LEVEL else parent)
    project_id = ctx.q_id("project_id")
    if project_id is not None:
        where += " AND project_id = ?"
        params.append(project_id)
    search = ctx.q("search")
    if search:
        clause, extra = search_clause(ctx, ["title"], search)
        where += clause
        params += extra
    return ctx.paginate("pages", where, params, "COALESCE(parent_id, ''), position, rowid", page_summary)


def page_tree(ctx: Ctx) -> dict[str, Any]:
    rows = ctx.db.all(
        "SELECT id, title, icon, parent_id FROM pages WHERE org_id = ? ORDER BY position, rowid", (ctx.org_id,)
    )
    nodes = {r["id"]: {"id": r["id"], "title": r["title"], "icon": r["icon"], "children": []} for r in rows}
    top: list[dict[str, Any]] = []
    for r in rows:
        parent = nodes.get(r["parent_id"]) if r["parent_id"] is not None else None
        (parent["children"] if parent is not None else top).append(nodes[r["id"]])
    return {"pages": top}


def create_page(ctx: Ctx) -> dict[str, Any]:
    title = ctx.string("title", required=True, max_length=300).strip()
    icon = optional_text(ctx, "icon", max_length=50)
    parent_id = _parent(ctx, ctx.id_field("parent_id"))
    project_id = ctx.id_field("project_id")
    if project_id is not MISSING:
        ref(ctx, "projects", "project_id", project_id, "project")
    content = to_doc(ctx.body["content"]) if ctx.has("content") else EMPTY_DOC
    now = ctx.timestamp()
    row: Row = {
        "id": new_id(),
        "org_id": ctx.org_id,
        "parent_id": parent_id,
        "project_id": None if project_id is MISSING else project_id,
        "title": title,
        "icon": None if icon is MISSING else icon,
        "position": 1_000_000_000,
        "content": dumps(content),
        "created_at": now,
        "updated_at": now,
        "created_by": ctx.user_id,
    }
    ctx.db.insert("pages", row)
    row["position"] = place(ctx.db, "pages", _SIBLINGS, (ctx.org_id, parent_id), row["id"], None)
    out = page_json(ctx, row)
    ctx.emit("page.created", out)
    return out


def get_page(ctx: Ctx) -> dict[str, Any]:
    return page_json(ctx, ctx.fetch("pages", "page"))


def _save(ctx: Ctx, row: Row, values: dict[str, Any]) -> dict[str, Any]:
    values["updated_at"] = ctx.timestamp()
    return ctx.update_and_emit("pages", row, values, page_json, "page.updated")


def update_page(ctx: Ctx) -> dict[str, Any]:
    row = ctx.fetch("pages", "page")
    values: dict[str, Any] = {}
    title = ctx.string("title", max_length=300)
    if title is not MISSING:
        values["title"] = title.strip()
    icon = optional_text(ctx, "icon", max_length=50)
    if icon is not MISSING:
        values["icon"] = icon
    return _save(ctx, row, values)


def replace_content(ctx: Ctx) -> dict[str, Any]:
    row = ctx.fetch("pages", "page")
    if not ctx.has("content"):
        raise bad_request("content is required (Markdown text or a ProseMirror JSON object)", "content")
    return _save(ctx, row, {"content": dumps(to_doc(ctx.body["content"]))})


def move_page(ctx: Ctx) -> dict[str, Any]:
    row = ctx.fetch("pages", "page")
    parent_id = _parent(ctx, ctx.id_field("parent_id"))
    position = ctx.integer("position", minimum=0)
    ancestor, seen = parent_id, set()
    while ancestor is not None and ancestor not in seen:
        seen.add(ancestor)
        if ancestor == row["id"]:
            raise validation("parent_id", "a page cannot be moved under itself or one of its descendants")
        ancestor = ctx.db.scalar("SELECT parent_id FROM pages WHERE id = ? AND org_id = ?", (ancestor, ctx.org_id))
    values: dict[str, Any] = {"parent_id": parent_id, "updated_at": ctx.timestamp()}
    ctx.db.update("pages", row["id"], values)
    if row["parent_id"] != parent_id:
        compact(ctx.db, "pages", _SIBLINGS, (ctx.org_id, row["parent_id"]))
    values["position"] = place(
        ctx.db, "pages", _SIBLINGS, (ctx.org_id, parent_id), row["id"], None if position is MISSING else position
    )
    out = page_json(ctx, {**row, **values})
    ctx.emit("page.updated", out)
    return out


def delete_page(ctx: Ctx) -> None:
    row = ctx.fetch("pages", "page")
    mode = ctx.q("children") or "refuse"
    if mode not in ("refuse", "move_up"):
        raise validation("children", "children must be refuse or move_up")
    children = ordered_ids(ctx.db, "pages", _SIBLINGS, (ctx.org_id, row["id"]))
    if children and mode == "refuse":
        raise conflict(
            f"Page {row['title']!r} has {len(children)} child page(s); delete or move them first, "
            "or pass children=move_up to move them up to this page's parent",
            error="page_has_children",
        )
    out = page_json(ctx, row)
    siblings = ordered_ids(ctx.db, "pages", _SIBLINGS, (ctx.org_id, row["parent_id"]))
    index = siblings.index(row["id"]) if row["id"] in siblings else len(siblings)
    now = ctx.timestamp()
    for child in children:
        ctx.db.update("pages", child, {"parent_id": row["parent_id"], "updated_at": now})
    ctx.db.execute("DELETE FROM pages WHERE id = ?", (row["id"],))
    write_order(ctx.db, "pages", [*siblings[:index], *children, *siblings[index + 1 :]])
    ctx.emit("page.deleted", out)
    for child in children:
        ctx.emit("page.updated", page_json(ctx, ctx.fetch("pages", "page", child)))


ENDPOINTS = [
    Endpoint("GET", "/pages", list_pages),
    Endpoint("POST", "/pages", create_page, status=201),
    Endpoint("GET", "/pages/tree", page_tree),
    Endpoint("GET", "/pages/{id}", get_page),
    Endpoint("PUT", "/pages/{id}", update_page),
    Endpoint("DELETE", "/pages/{id}", delete_page),
    Endpoint("PUT", "/pages/{id}/content", replace_content),
    Endpoint("PATCH", "/pages/{id}/move", move_page),
]
