"""What the MCP handlers share: settings, tools, the API client, the selection, sessions.

Also the request-scoped helpers every handler needs: the selection a request may see (HTTP
headers can only narrow it), its session key, and the API request log of the current call.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mcp.server.context import ServerRequestContext

from dversum_mcp.api.client import ApiClient, RequestLog
from dversum_mcp.config import Settings
from dversum_mcp.server.confirm import Confirmer
from dversum_mcp.server.discovery import SearchIndex
from dversum_mcp.server.prompts import PromptBook
from dversum_mcp.server.resources import ResourceCatalog
from dversum_mcp.tools.registry import Registry, Selection

__all__ = [
    "REQUESTS",
    "WEBHOOK_EVENTS_URI",
    "ServerState",
    "announce_webhook_event",
    "instructions",
    "request_selection",
    "session_key",
]

log = logging.getLogger("dversum_mcp")
REQUESTS: contextvars.ContextVar[list[RequestLog] | None] = contextvars.ContextVar("dversum_requests", default=None)
"""The API requests of the tool call running in this context (for debug log notifications)."""


def _collect(entry: RequestLog) -> None:
    bucket = REQUESTS.get()
    if bucket is not None:
        bucket.append(entry)


_CONVENTIONS = """dVersum workspace tools (clients, projects, kanban tasks, time tracking, invoices, quotes, \
contracts, calendar, pages, files, bookings, absences, webhooks).
Conventions, said once:
- Money is integer cents: 12500 = 125,00 €. VAT rates are percent (19, 7, 0).
- Times are ISO 8601 in UTC with Z (2026-06-04T09:00:00Z); the user's local time is Europe/Berlin, convert. \
Dates are YYYY-MM-DD.
- Ids are opaque strings from earlier results; never invent them. Find them with: list_clients(search) for \
clients, list_users / get_current_user for user and assignee ids, list_project_columns for kanban column ids, \
get_page_tree for page ids, list_projects for project ids.
- Lists answer what fits one answer, with total; pass next_cursor as cursor for the rest (fields= picks columns).
- Invoices: create_invoice makes a draft; send_invoice numbers and locks it (irreversible; corrections via \
create_credit_note). Pages are read and written as Markdown.
- More tools exist than are listed: search_tools finds them; call_read_tool / call_write_tool run them.
- Errors carry error, message, field and hint: fix what they name and call again; retryable ones may be retried."""

_SANDBOX_NOTE = """
- SANDBOX: this server runs on a local demo workspace (no DVERSUM_API_TOKEN set). Data is sample data, \
e-mails are not sent (read them with read_sandbox_outbox). Tell the user results are from the sandbox."""


def instructions(sandbox: bool) -> str:
    return _CONVENTIONS + (_SANDBOX_NOTE if sandbox else "")


@dataclass
class ServerState:
    """What the handlers share: settings, tools, the API client and the selection."""

    settings: Settings
    registry: Registry
    client: ApiClient
    selection: Selection
    dynamic: bool = False
    enabled: dict[str, set[str]] = field(default_factory=dict)
    log_level: str | None = None
    """The client's logging/setLevel choice; request summaries go out at debug when it allows."""
    webhook_events: Callable[[], list[dict[str, Any]]] | None = None
    subscriptions: dict[str, set[str]] = field(default_factory=dict)
    sessions: dict[str, Any] = field(default_factory=dict)
    """The latest ServerSession per session key, for notifications outside a request."""

    def __post_init__(self) -> None:
        self.index = SearchIndex(self.registry.tools.values())
        self.confirmer = Confirmer(self.client)
        self.resources = ResourceCatalog(self.client, self.webhook_events)
        self.prompts = PromptBook(self.client, self.registry)
        if self.client.on_request is None:
            self.client.on_request = _collect

    @property
    def sandbox(self) -> bool:
        return self.selection.sandbox


def _headers(ctx: ServerRequestContext[Any, Any]) -> Mapping[str, str] | None:
    headers = getattr(ctx.request, "headers", None)
    return headers if isinstance(headers, Mapping) or hasattr(headers, "get") else None


def request_selection(state: ServerState, ctx: ServerRequestContext[Any, Any]) -> Selection:
    headers = _headers(ctx)
    if headers is None:
        return state.selection
    toolsets = tuple(t.strip() for t in (headers.get("x-dversum-toolsets") or "").split(",") if t.strip())
    read_only = (headers.get("x-dversum-read-only") or "").strip().lower() in ("1", "true", "yes")
    return state.selection.narrowed(toolsets or None, read_only or None)


def session_key(ctx: ServerRequestContext[Any, Any]) -> str:
    headers = _headers(ctx)
    return (headers.get("mcp-session-id") if headers is not None else None) or "default"


WEBHOOK_EVENTS_URI = "dversum://webhooks/events"


async def announce_webhook_event(state: ServerState) -> None:
    """A webhook arrived: resources/list_changed to every session, resources/updated to subscribers."""
    for key, session in list(state.sessions.items()):
        try:
            await session.send_resource_list_changed()
            if WEBHOOK_EVENTS_URI in state.subscriptions.get(key, set()):
                await session.send_resource_updated(WEBHOOK_EVENTS_URI)
        except Exception:  # a gone session must not stop the others
            log.debug("webhook notification not delivered to %s", key, exc_info=True)
            state.sessions.pop(key, None)
