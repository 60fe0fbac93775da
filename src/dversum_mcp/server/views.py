"""MCP Apps views (`io.modelcontextprotocol/ui`): the kanban board, the invoice/quote preview and
the timesheet as `ui://dversum/{view}.html` documents.

A tool shows its result in a view when its table entry says `view = "…"` (the registry puts
`_meta.ui.resourceUri` on the tool). The documents live in `dversum_mcp/views/` as plain
HTML/CSS/JS; `_app.js` and `_app.css` (the host bridge, helpers and theme) are inlined into each
one here, so every served document is self-contained. Each gets a Content-Security-Policy of its
own that allows exactly its inline script and style (by hash) and nothing from any network.

Clients that did not negotiate the extension see no `ui://` resources in `resources/list`; tool
results are the same for every client (the views read the ordinary `structuredContent`).
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib import resources as package_files
from typing import Any

import mcp_types as types
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID, client_supports_apps
from mcp.server.context import ServerRequestContext

from dversum_mcp.tools.manifest import VIEWS, view_uri

__all__ = [
    "APP_MIME_TYPE",
    "EXTENSION_ID",
    "MAX_VIEW_BYTES",
    "read_view",
    "view_document",
    "view_resources",
]

MAX_VIEW_BYTES = 60_000
_URI = re.compile(r"^ui://dversum/([a-z]+)\.html$")
_TITLES = {"board": "Kanban board", "invoice": "Invoice and quote preview", "timesheet": "Timesheet"}
_BLOCK = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


def _read(name: str) -> str:
    return (package_files.files("dversum_mcp") / "views" / name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


@cache
def view_document(view: str) -> str:
    """The self-contained document of one view, with its own CSP (hashes of its inline blocks)."""
    if view not in VIEWS:
        raise KeyError(view)
    html = _read(f"{view}.html").replace("/*APP_CSS*/", _read("_app.css")).replace("/*APP_JS*/", _read("_app.js"))
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for match in _BLOCK.finditer(html):
        hashes[match.group(1)].append(_sha256(match.group(2)))
    policy = "; ".join(
        [
            "default-src 'none'",
            "script-src " + " ".join(hashes["script"]),
            "style-src " + " ".join(hashes["style"]),
            "img-src data:",
            "font-src data:",
            "connect-src 'none'",
            "frame-src 'none'",
            "form-action 'none'",
            "base-uri 'none'",
        ]
    )
    meta = f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
    return html.replace("<!--CSP-->", meta, 1)


def _ui_meta() -> dict[str, Any]:
    # No connect/resource/frame domains: the view reaches nothing but its host.
    return {"ui": {"csp": {}, "prefersBorder": True}}


def view_resources(ctx: ServerRequestContext[Any, Any]) -> list[types.Resource]:
    """The views for resources/list, only for clients that render them."""
    if not client_supports_apps(ctx):
        return []
    return [
        types.Resource(
            uri=view_uri(view),
            name=f"view-{view}",
            title=_TITLES[view],
            mime_type=APP_MIME_TYPE,
            _meta=_ui_meta(),
        )
        for view in VIEWS
    ]


def read_view(uri: str) -> list[types.TextResourceContents | types.BlobResourceContents] | None:
    """A view document for resources/read, or None when `uri` names no view."""
    match = _URI.match(uri)
    if match is None or match.group(1) not in VIEWS:
        return None
    text = view_document(match.group(1))
    return [types.TextResourceContents(uri=uri, mime_type=APP_MIME_TYPE, text=text, _meta=_ui_meta())]
