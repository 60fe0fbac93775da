"""Page hooks: read pages as Markdown, write Markdown or validated Tiptap JSON, and add to a
page without a lossy round trip of what is already there.

`append_to_page`/`insert_into_page` convert only the new Markdown and send the combined
ProseMirror JSON; the existing nodes are passed through unchanged. Such an edit is a GET and
a PUT (the API has no ETag to make it conditional), so edits of one page through one API
client are serialized: concurrent appends each land instead of overwriting one another.
Writers elsewhere (the web app, another server) can still race with it.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

from dversum_mcp.api.calls import Call, Outcome
from dversum_mcp.api.client import ApiClient
from dversum_mcp.api.errors import ApiError, ArgumentError

_EDIT_LOCKS: weakref.WeakKeyDictionary[ApiClient, dict[str, anyio.Lock]] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def _editing(call: Call) -> AsyncIterator[None]:
    """Hold the page's edit lock (per API client and page id); dropped when nobody else waits."""
    page_id = next(iter(call.path_args.values()), "")
    locks = _EDIT_LOCKS.setdefault(call.client, {})
    lock = locks.setdefault(page_id, anyio.Lock())
    try:
        async with lock:
            yield
    finally:
        if not lock.locked() and lock.statistics().tasks_waiting == 0:
            locks.pop(page_id, None)


__all__ = ["append_to_page", "delete_page", "get_page", "insert_into_page", "write_page"]


def _page_view(page: dict[str, Any], fmt: str) -> dict[str, Any]:
    from dversum_prosemirror import doc_to_markdown

    content = page.get("content")
    if fmt == "markdown" and isinstance(content, dict):
        return {**page, "content": doc_to_markdown(content), "content_format": "markdown"}
    return {**page, "content_format": "prosemirror" if isinstance(content, dict) else "markdown"}


async def _fetch(call: Call) -> dict[str, Any]:
    response = await call.send(*call.endpoint("get_page", id=call.path_args["id"]), query={})
    if not isinstance(response.data, dict):
        raise ApiError(response.status, "invalid_response", "The API returned no page")
    return response.data


async def get_page(call: Call) -> Outcome:
    page = await _fetch(call)
    return Outcome(_page_view(page, str(call.local.get("format") or "markdown")))


async def write_page(call: Call) -> Outcome:
    """`create_page` / `replace_page_content`: Markdown passes through; JSON is validated first."""
    from dversum_prosemirror import ProseMirrorError, normalize_doc

    body = dict(call.body)
    doc = call.local.get("content_json")
    if doc is not None:
        if "content" in body:
            raise ArgumentError("give content (Markdown) or content_json, not both", field="content_json")
        try:
            body["content"] = normalize_doc(doc)
        except ProseMirrorError as exc:
            raise ArgumentError(f"content_json is not a valid Tiptap document: {exc}", field="content_json") from None
    elif "content" not in body and call.method == "PUT":
        raise ArgumentError("content (Markdown) or content_json is required", field="content")
    if call.method != "PUT":  # create_page: a new page, nothing to race with
        response = await call.send(body=body)
    else:
        async with _editing(call):
            response = await call.send(body=body)
    page = response.data if isinstance(response.data, dict) else {}
    return Outcome(_page_view(page, "markdown"))


async def _rewrite(call: Call, edit: str) -> Outcome:
    async with _editing(call):
        return await _rewrite_now(call, edit)


async def _rewrite_now(call: Call, edit: str) -> Outcome:
    from dversum_prosemirror import ProseMirrorError, append_markdown, insert_markdown_after_heading

    page = await _fetch(call)
    current = page.get("content")
    if not isinstance(current, dict):
        current = {"type": "doc", "content": [{"type": "paragraph"}]}
    markdown = str(call.body.get("content", ""))
    try:
        if edit == "append":
            new_doc = append_markdown(current, markdown)
        else:
            new_doc = insert_markdown_after_heading(current, str(call.local.get("heading", "")), markdown)
    except ProseMirrorError as exc:
        raise ArgumentError(str(exc), field="heading") from None
    endpoint = call.endpoint("replace_page_content", id=call.path_args["id"])
    response = await call.send(*endpoint, query={}, body={"content": new_doc})
    updated = response.data if isinstance(response.data, dict) else page
    return Outcome(_page_view(updated, "markdown"))


async def delete_page(call: Call) -> Outcome:
    """Delete a page and say what happened to its children (refused, or moved up to where)."""
    page = await _fetch(call)
    await call.send()
    children = [c for c in page.get("children") or [] if isinstance(c, dict)]
    title = page.get("title") or page.get("id")
    data: dict[str, Any] = {"deleted": {"id": page.get("id"), "title": page.get("title")}}
    if children:
        parent = page.get("parent_id")
        data["children_moved_up"] = [{"id": c.get("id"), "title": c.get("title")} for c in children]
        data["new_parent_id"] = parent
        where = f"under page {parent}" if parent else "to the top level"
        data["message"] = f"Deleted page “{title}”; its {len(children)} child page(s) moved up {where}."
    else:
        data["message"] = f"Deleted page “{title}”; it had no child pages."
    return Outcome(data)


async def append_to_page(call: Call) -> Outcome:
    return await _rewrite(call, "append")


async def insert_into_page(call: Call) -> Outcome:
    return await _rewrite(call, "insert")
