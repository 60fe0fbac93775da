"""One tool call at the API layer: the request its arguments describe, and what it produced.

`Call` holds the arguments already sorted by where they go (path / query / body / form /
local), plus what a hook may need (progress, allowed folders, the deadline). `Call.send()`
is the plain endpoint request; `run_default` adds the table's generic behaviours: walking
all pages with progress, and binary downloads.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from dversum_mcp.api.client import ApiClient, ApiResponse
from dversum_mcp.api.errors import ApiError, ArgumentError

__all__ = [
    "MAX_ALL_PAGES_ITEMS",
    "Binary",
    "Call",
    "EndpointLookup",
    "Outcome",
    "ProgressFn",
    "fill_path",
    "list_key",
    "run_default",
]

ProgressFn = Callable[[float, float | None, str | None], Awaitable[None]]
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


@dataclass
class Outcome:
    """What a call produced: structured data, optional bytes, and warnings for the model."""

    data: dict[str, Any]
    binary: Binary | None = None
    warnings: list[str] = field(default_factory=list)


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
    if call.paginated and call.local.get("all_pages"):
        return await _all_pages(call)
    return _as_outcome(await call.send(), call)


async def _all_pages(call: Call) -> Outcome:
    per_page = 100
    page = 1
    items: list[Any] = []
    key: str | None = None
    total = 0
    while True:
        query = {**call.query, "page": page, "per_page": per_page}
        response = await call.send(query=query)
        data = response.data
        key = list_key(data)
        if key is None:
            raise ApiError(response.status, "invalid_response", "Expected a list envelope with 'total'")
        assert isinstance(data, dict)
        chunk = data[key]
        total = int(data.get("total", len(chunk)))
        items.extend(chunk)
        await call.progress(len(items), total, f"{len(items)} of {total} {key}")
        if not chunk or len(items) >= total or len(items) >= MAX_ALL_PAGES_ITEMS:
            break
        page += 1
    out: dict[str, Any] = {key: items[:MAX_ALL_PAGES_ITEMS], "total": total, "pages_fetched": page}
    warnings = []
    if total > MAX_ALL_PAGES_ITEMS:
        out["truncated"] = True
        warnings.append(f"Only the first {MAX_ALL_PAGES_ITEMS} of {total} were fetched; narrow the filters.")
    return Outcome(out, warnings=warnings)


def _filename(disposition: str | None, call: Call) -> str:
    if disposition and "filename=" in disposition:
        name = disposition.split("filename=", 1)[1].split(";")[0].strip().strip('"')
        if name:
            return Path(name).name
    ident = next(iter(call.path_args.values()), "download")
    return f"{call.tool.removeprefix('download_')}-{ident}"
