"""MCP resources: pages as Markdown, the page tree, invoice PDFs, clients, received webhooks.

    dversum://pages/tree                 the page tree (JSON)
    dversum://pages/{page_id}            one page as Markdown
    dversum://invoices/{invoice_id}/pdf  the ZUGFeRD PDF (blob, application/pdf)
    dversum://clients/{client_id}        a client with its linked resources (JSON)
    dversum://webhooks/events            webhooks received by `webhook listen` in this process (JSON)

Reads go through the same API client as the tools; ids are checked like tool arguments.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

import mcp_types as types
from mcp.shared.exceptions import MCPError

from dversum_mcp.api.client import ApiClient
from dversum_mcp.api.errors import ApiError
from dversum_mcp.server.outside import VIEW_KEY, OutsideText
from dversum_mcp.tools.endpoints import Endpoints
from dversum_mcp.tools.schema import ID_PATTERN

__all__ = ["RESOURCE_NOT_FOUND", "ResourceCatalog", "page_uri"]

RESOURCE_NOT_FOUND = -32002
_ID = ID_PATTERN.pattern.strip("^$")
_ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^dversum://pages/tree$"), "tree"),
    (re.compile(rf"^dversum://pages/({_ID})$"), "page"),
    (re.compile(rf"^dversum://invoices/({_ID})/pdf$"), "pdf"),
    (re.compile(rf"^dversum://clients/({_ID})$"), "client"),
    (re.compile(r"^dversum://webhooks/events$"), "webhooks"),
]


def page_uri(page_id: str) -> str:
    return f"dversum://pages/{page_id}"


class ResourceCatalog:
    def __init__(
        self,
        client: ApiClient,
        endpoint: Endpoints,
        webhook_events: Callable[[], list[dict[str, Any]]] | None = None,
        outside: OutsideText | None = None,
    ) -> None:
        self.client = client
        self.endpoint = endpoint
        self.webhook_events = webhook_events
        self.outside = outside or OutsideText()

    def templates(self) -> list[types.ResourceTemplate]:
        return [
            types.ResourceTemplate(
                uri_template="dversum://pages/{page_id}",
                name="page",
                title="Page (Markdown)",
                description="A page's content as Markdown",
                mime_type="text/markdown",
            ),
            types.ResourceTemplate(
                uri_template="dversum://invoices/{invoice_id}/pdf",
                name="invoice-pdf",
                title="Invoice PDF",
                description="The invoice as ZUGFeRD PDF/A-3",
                mime_type="application/pdf",
            ),
            types.ResourceTemplate(
                uri_template="dversum://clients/{client_id}",
                name="client",
                title="Client",
                description="A client with its linked projects, invoices, quotes and contracts",
                mime_type="application/json",
            ),
        ]

    async def listing(self) -> list[types.Resource]:
        out = [
            types.Resource(
                uri="dversum://pages/tree", name="page-tree", title="Page tree", mime_type="application/json"
            )
        ]
        if self.webhook_events is not None:
            out.append(
                types.Resource(
                    uri="dversum://webhooks/events",
                    name="webhook-events",
                    title="Received webhooks",
                    mime_type="application/json",
                )
            )
        try:
            response = await self.client.request(*self.endpoint("list_pages"), query={"per_page": 100})
        except ApiError:
            return out
        pages = response.data.get("pages", []) if isinstance(response.data, dict) else []
        for page in pages:
            if isinstance(page, dict) and isinstance(page.get("id"), str):
                out.append(
                    types.Resource(
                        uri=page_uri(page["id"]),
                        name=f"page-{page['id']}",
                        title=str(page.get("title") or "Untitled"),
                        mime_type="text/markdown",
                    )
                )
        return out

    async def read(self, uri: str) -> list[types.TextResourceContents | types.BlobResourceContents]:
        for pattern, kind in _ROUTES:
            match = pattern.match(uri)
            if match:
                try:
                    return await self._read(kind, uri, match.groups())
                except ApiError as exc:
                    if exc.status == 404:
                        raise MCPError(RESOURCE_NOT_FOUND, f"Resource not found: {uri}") from None
                    raise MCPError(-32603, f"Could not read {uri}: {exc.message}") from None
        raise MCPError(RESOURCE_NOT_FOUND, f"Unknown resource {uri}; see resources/templates/list")

    async def _read(
        self, kind: str, uri: str, groups: tuple[str, ...]
    ) -> list[types.TextResourceContents | types.BlobResourceContents]:
        if kind == "tree":
            data = (await self.client.request(*self.endpoint("get_page_tree"))).data
            return [types.TextResourceContents(uri=uri, mime_type="application/json", text=_json(data))]
        if kind == "page":
            from dversum_prosemirror import doc_to_markdown

            page = (await self.client.request(*self.endpoint("get_page", id=groups[0]))).data or {}
            content = page.get("content") if isinstance(page, dict) else None
            body = doc_to_markdown(content) if isinstance(content, dict) else str(content or "")
            title = page.get("title") if isinstance(page, dict) else None
            text = f"# {title}\n\n{body}" if title and not body.lstrip().startswith("# ") else body
            return [types.TextResourceContents(uri=uri, mime_type="text/markdown", text=text)]
        if kind == "pdf":
            response = await self.client.request(*self.endpoint("download_invoice_pdf", id=groups[0]))
            blob = base64.b64encode(response.content).decode("ascii")
            return [types.BlobResourceContents(uri=uri, mime_type="application/pdf", blob=blob)]
        if kind == "client":
            data = (await self.client.request(*self.endpoint("get_client", id=groups[0]))).data
            return [types.TextResourceContents(uri=uri, mime_type="application/json", text=_json(data))]
        events = self.webhook_events() if self.webhook_events is not None else []
        listing: dict[str, Any] = {"events": events}
        if any(e.get("verified") is not True for e in events):
            listing["note"] = (
                "Events with verified: false were received without a signature check (--webhook-unverified): "
                "anyone on this machine could have sent them."
            )
        guarded, marks = self.outside.guard(listing)  # payloads are written by whoever posted them
        meta = self.outside.meta(marks) if marks else None
        if meta is not None:  # for the model too: hosts pass a resource's text, not its _meta
            guarded = {VIEW_KEY: self.outside.notice(meta), **guarded}
        await self.outside.save()
        return [types.TextResourceContents(uri=uri, mime_type="application/json", text=_json(guarded), _meta=meta)]


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=1)
