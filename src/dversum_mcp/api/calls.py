"""One tool call at the API layer: the request its arguments describe, and what it produced.

`Call` holds the arguments already sorted by where they go (path / query / body / form /
local), plus what a hook may need (progress, allowed folders, the deadline). `Call.send()`
is the plain endpoint request; `run_default` adds the table's generic behaviours: walking
all pages with progress, and binary downloads.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from dversum_mcp.api.client import ApiClient, ApiResponse
from dversum_mcp.api.cursor import ListCursor, decode_list_cursor, filter_key, id_tag
from dversum_mcp.api.errors import ApiError, ArgumentError

__all__ = [
    "MAX_ALL_PAGES_ITEMS",
    "Binary",
    "Call",
    "EndpointLookup",
    "EnoughFn",
    "ListWindow",
    "Outcome",
    "ProgressFn",
    "fill_path",
    "list_key",
    "list_page",
    "list_window",
    "run_default",
]

ProgressFn = Callable[[float, float | None, str | None], Awaitable[None]]
EnoughFn = Callable[[str, list[Any]], bool]
"""Is the answer already full with these items of this list (the result budget)?"""
MAX_ALL_PAGES_ITEMS = 2000
"""The most items `all_pages` fetches (the table's description of the argument says the same)."""


class EndpointLookup(Protocol):
    """Method and filled path of another table entry, by tool name (`dversum_mcp.tools.endpoints`)."""

    def __call__(self, tool: str, /, **path_params: str) -> tuple[str, str]: ...


def fill_path(template: str, path_args: Mapping[str, str]) -> str:
    """Fill a path template; every value is one percent-encoded segment (ids were validated)."""
    out = template
    for name, value in path_args.items():
        out = out.replace("{" + name + "}", quote(value, safe=""))
    if "{" in out:
        missing = out[out.index("{") + 1 : out.index("}")]
        raise ArgumentError(f"missing path argument for {{{missing}}}")
    return out


_RESYNC_SPAN = 1000  # at most this many positions are searched for the cursor's last item


async def _no_progress(progress: float, total: float | None, message: str | None) -> None:
    return None


async def _no_roots() -> list[Path]:
    return []


@dataclass(frozen=True)
class Binary:
    """Bytes a tool returns (a PDF, a file): embedded in the result or saved to disk."""

    data: bytes
    mime_type: str
    filename: str


@dataclass(frozen=True)
class ListWindow:
    """Which part of a list an answer holds, so the renderer can cut it and say where to go on.

    `start` is the position of the first item in the API's order; `key` the envelope key
    (`time_entries`); `filters` binds cursors to the tool and its filters."""

    key: str
    start: int
    total: int
    per_page: int
    all_pages: bool
    filters: str
    fields: tuple[str, ...] | None = None

    def cursor_after(self, shown: int, last_ids: Sequence[str]) -> str | None:
        """The cursor for the items after the first `shown` of this window, if any are left;
        `last_ids` are the ids of the last items shown, the last first (three are kept)."""
        pos = self.start + shown
        if pos >= self.total:
            return None
        tags = tuple(id_tag(i) for i in last_ids[:3])
        return ListCursor(self.filters, pos, tags, self.total, self.per_page, self.all_pages).encode()


@dataclass
class Outcome:
    """What a call produced: structured data, optional bytes, and warnings for the model.

    `window` is set for paged lists; `resume` carries a text cursor (the rest of a long page);
    `text`, when a hook sets it, replaces the generic text (structuredContent stays the data)."""

    data: dict[str, Any]
    binary: Binary | None = None
    warnings: list[str] = field(default_factory=list)
    window: ListWindow | None = None
    resume: str | None = None
    text: str | None = None
    """The text for the model where a hook says it better than the generic rendering."""


@dataclass
class Call:
    client: ApiClient
    tool: str
    method: str | None
    path: str | None
    path_args: dict[str, str]
    query: dict[str, Any]
    body: dict[str, Any]
    form: dict[str, str]
    local: dict[str, Any]
    endpoint: EndpointLookup
    """Method and path of another tool's endpoint, for hooks that make more than one request."""
    public: bool = False
    paginated: bool = False
    binary: bool = False
    deadline: float | None = None
    progress: ProgressFn = _no_progress
    roots: Callable[[], Awaitable[list[Path]]] = _no_roots
    file_roots: tuple[Path, ...] = ()
    enough: EnoughFn | None = None

    def url_path(self) -> str:
        """This tool's own path, filled from its path arguments."""
        if self.path is None:
            raise RuntimeError(f"tool {self.tool} has no path")
        return fill_path(self.path, self.path_args)

    async def send(
        self,
        method: str | None = None,
        path: str | None = None,
        *,
        query: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        public: bool | None = None,
    ) -> ApiResponse:
        """The request: by default exactly the one the table entry describes; or `*call.endpoint(tool, …)`."""
        verb = method or self.method
        if verb is None:
            raise RuntimeError(f"tool {self.tool} has no method")
        use_body = self.body if body is None else body
        response = await self.client.request(
            verb,
            self.url_path() if path is None else path,
            query=self.query if query is None else query,
            json_body=use_body if verb in ("POST", "PUT", "PATCH") and files is None else None,
            form=self.form if files is not None else None,
            files=files,
            public=self.public if public is None else public,
            deadline=self.deadline,
            download=self.binary,
        )
        if not self.binary and response.data is None and response.content.strip():
            # A JSON endpoint answered 2xx with something else (a proxy page, plain text): not a success.
            kind = response.content_type.split(";")[0].strip() or "no content type"
            raise ApiError(
                response.status,
                "invalid_response",
                f"The dVersum API answered with {kind} instead of JSON",
                retryable=verb in ("GET", "PUT", "DELETE"),
                hint="Check DVERSUM_BASE_URL (it should end in /api/v1). For a write, check with a list/get call "
                "whether it took effect before calling again.",
            )
        return response


def list_key(data: Any) -> str | None:
    """The list in a list envelope (`{"clients": [...], "total": 47}`)."""
    if not isinstance(data, dict):
        return None
    keys = [k for k, v in data.items() if isinstance(v, list)]
    return keys[0] if len(keys) == 1 else None


def list_page(response: ApiResponse, key: str, objects_only: bool = True) -> tuple[list[Any], int]:
    """The items (objects only, unless `objects_only` is false) and `total` of one page of a list
    answer, checked: the API is not trusted, so a total that is no count is an `invalid_response`,
    never a crash or an endless walk."""
    data = response.data if isinstance(response.data, dict) else {}
    raw = data.get(key)
    items = [item for item in raw if isinstance(item, dict) or not objects_only] if isinstance(raw, list) else []
    total = data.get("total", len(items))
    if isinstance(total, float) and total.is_integer():
        total = int(total)
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise ApiError(
            response.status,
            "invalid_response",
            f"The API's list answer has no usable total ({str(total)[:40]!r})",
            retryable=True,
            hint="Retry later; check DVERSUM_BASE_URL if it persists.",
        )
    return items, total


def _as_outcome(response: ApiResponse, call: Call) -> Outcome:
    data = response.data
    if data is None:
        done: dict[str, Any] = {"ok": True, "status": response.status}
        if call.method == "DELETE":
            done["deleted"] = dict(call.path_args)  # e.g. {"id": "…"}: what is gone, for the model's record
        return Outcome(done)
    if not isinstance(data, dict):
        return Outcome({"result": data})
    return Outcome(data)


async def run_default(call: Call) -> Outcome:
    """The generic endpoint call: one request, all pages when asked, or a binary download."""
    if call.binary:
        response = await call.send()
        if response.data is not None:
            return Outcome(response.data)
        filename = _filename(response.headers.get("content-disposition"), call)
        mime = response.content_type.split(";")[0].strip() or "application/octet-stream"
        return Outcome(
            {"filename": filename, "mime_type": mime, "size": len(response.content)},
            binary=Binary(response.content, mime, filename),
        )
    if call.paginated:
        return await list_window(call)
    return _as_outcome(await call.send(), call)


@dataclass
class _Walk:
    key: str = ""
    total: int = 0


async def list_window(call: Call) -> Outcome:
    """A window of a paged list: from the start (`page`) or from a cursor, one page's worth of
    items (`per_page`) or, with `all_pages`, as many as the result budget (`call.enough`) takes.

    Cursors survive concurrent changes: the walk looks for the last item already shown near
    where it was (an insert before it shifts it back by up to the growth of the total) and
    goes on right after it, so nothing is repeated and nothing present before is skipped."""
    raw_cursor = call.local.get("cursor")
    filters = filter_key(call.tool, call.query)
    cursor = decode_list_cursor(str(raw_cursor), filters) if raw_cursor else None
    if cursor is not None:
        all_pages, per_page = cursor.all_pages, cursor.per_page
    else:
        all_pages = bool(call.local.get("all_pages"))
        per_page = 100 if all_pages else int(call.query.get("per_page") or 25)
    pages: dict[int, list[Any]] = {}
    state = _Walk()

    async def fetch(page: int) -> list[Any]:
        if page not in pages:
            query = dict(call.query)
            if page != 1 or "page" in query:
                query["page"] = page
            if per_page != 25 or "per_page" in query:  # 25: the API's default page size
                query["per_page"] = per_page
            response = await call.send(query=query)
            data = response.data
            key = list_key(data)
            if key is None or not isinstance(data, dict):
                raise ApiError(response.status, "invalid_response", "Expected a list envelope with 'total'")
            pages[page], state.total = list_page(response, key, objects_only=False)
            state.key = key
        return pages[page]

    async def item_at(index: int) -> Any:
        chunk = await fetch(index // per_page + 1)
        offset = index % per_page
        return chunk[offset] if offset < len(chunk) else None

    if cursor is not None:
        start = await _resync(cursor, item_at, fetch, per_page, state)
    else:
        start = (int(call.query.get("page") or 1) - 1) * per_page
    want = MAX_ALL_PAGES_ITEMS if all_pages else per_page
    items: list[Any] = []
    index = start
    while len(items) < want:
        chunk = await fetch(index // per_page + 1)
        taken = chunk[index % per_page : index % per_page + want - len(items)]
        items.extend(taken)
        index += len(taken)
        if all_pages:
            await call.progress(index, state.total, f"{index} of {state.total} {state.key}")
        if not taken or index >= state.total or len(chunk) < per_page:
            break
        if call.enough is not None and call.enough(state.key, items):
            break
    key, total = state.key, max(state.total, start + len(items))
    fields = call.local.get("fields")
    window = ListWindow(key, start, total, per_page, all_pages, filters, tuple(fields) if fields else None)
    return Outcome({key: items, "total": total}, window=window)


async def _resync(
    cursor: ListCursor,
    item_at: Callable[[int], Awaitable[Any]],
    fetch: Callable[[int], Awaitable[list[Any]]],
    per_page: int,
    state: _Walk,
) -> int:
    """Where the walk goes on: right after the cursor's last item, wherever it is now; if that one
    is gone, right after the item shown before it (the items between are the gone ones)."""
    if not cursor.anchors or cursor.pos == 0:
        return cursor.pos
    await fetch((cursor.pos - 1) // per_page + 1)
    total = state.total
    slack = min(per_page, 25)  # inserts and deletes that cancel out in the total
    growth = max(0, total - cursor.total) + slack
    shrink = max(0, cursor.total - total) + slack
    for back, tag in enumerate(cursor.anchors):
        expected = cursor.pos - 1 - back
        # nearest first: where it was, then shifted back by inserts, then forward by deletes
        later = range(expected + 1, expected + growth + 1)
        earlier = range(expected - 1, expected - shrink - 1, -1)
        candidates = [expected, *later, *earlier]
        for index in candidates[:_RESYNC_SPAN]:
            if index < 0:
                continue
            item = await item_at(index)
            if isinstance(item, dict) and id_tag(str(item.get("id"))) == tag:
                return int(index) + 1
    # The last items are all gone (deleted, or moved by an edit): go on from the same position.
    return max(0, min(cursor.pos - max(0, cursor.total - total), total))


def _filename(disposition: str | None, call: Call) -> str:
    if disposition and "filename=" in disposition:
        name = disposition.split("filename=", 1)[1].split(";")[0].strip().strip('"')
        if name:
            return Path(name).name
    ident = next(iter(call.path_args.values()), "download")
    return f"{call.tool.removeprefix('download_')}-{ident}"
