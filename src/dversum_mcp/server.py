"""The MCP server: generated tools behind the SDK's low-level `Server` handlers.

`build_server(state)` registers handlers at construction (no decorators, no module-level
registry). `_call_tool` is the one place where failures become results: a `DversumError`
becomes `isError` with the documented payload, a timeout a retryable error, anything else
a generic message with the traceback in the log. The server never crashes on a call.
"""

from __future__ import annotations

import contextvars
import logging
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.models import InitializationOptions

from dversum_mcp import __version__
from dversum_mcp.api.calls import Outcome
from dversum_mcp.api.client import ApiClient, RequestLog
from dversum_mcp.api.errors import ApiError, DversumError
from dversum_mcp.config import Settings
from dversum_mcp.confirm import Confirmer, NeedsInput
from dversum_mcp.discovery import DYNAMIC_ONLY, META_TOOLS, SearchIndex
from dversum_mcp.meta import MetaCall, run_meta, unknown_tool
from dversum_mcp.prompts import PromptBook
from dversum_mcp.registry import CallEnv, GeneratedTool, Registry, Selection
from dversum_mcp.render import ToolResult, render_error, render_outcome, render_unexpected
from dversum_mcp.resources import ResourceCatalog, page_uri

__all__ = ["WEBHOOK_EVENTS_URI", "ServerState", "announce_webhook_event", "build_server", "instructions"]

log = logging.getLogger("dversum_mcp")
_REQUESTS: contextvars.ContextVar[list[RequestLog] | None] = contextvars.ContextVar("dversum_requests", default=None)
_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")


def _collect(entry: RequestLog) -> None:
    bucket = _REQUESTS.get()
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
- Lists are paged: page, per_page (max 100) and total; all_pages=true fetches everything (up to 2,000).
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


def _request_selection(state: ServerState, ctx: ServerRequestContext[Any, Any]) -> Selection:
    headers = _headers(ctx)
    if headers is None:
        return state.selection
    toolsets = tuple(t.strip() for t in (headers.get("x-dversum-toolsets") or "").split(",") if t.strip())
    read_only = (headers.get("x-dversum-read-only") or "").strip().lower() in ("1", "true", "yes")
    return state.selection.narrowed(toolsets or None, read_only or None)


def _session_key(ctx: ServerRequestContext[Any, Any]) -> str:
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


def _listed(state: ServerState, ctx: ServerRequestContext[Any, Any]) -> list[types.Tool]:
    selection = _request_selection(state, ctx)
    metas = [m for name, m in META_TOOLS.items() if state.dynamic or name not in DYNAMIC_ONLY]
    if selection.read_only:
        metas = [m for m in metas if m.read_only]
    out = [m.definition for m in metas]
    if state.dynamic:
        enabled = state.enabled.get(_session_key(ctx), set())
        tools = [t for t in state.registry.tools.values() if t.spec.toolset in enabled and selection.allows(t.spec)]
        tools += [t for t in state.registry.listed(selection) if t.spec.toolset == "sandbox"]
    else:
        tools = state.registry.listed(selection)
    return out + [t.definition for t in tools]


async def _roots(ctx: ServerRequestContext[Any, Any]) -> list[Path]:
    """The client's MCP roots (file:// URIs) when it offers them; [] otherwise."""
    try:
        if not ctx.session.check_client_capability(types.ClientCapabilities(roots=types.RootsCapability())):
            return []
        with anyio.fail_after(3):
            result = await ctx.session.list_roots()
    except Exception:
        return []
    out = []
    for root in result.roots:
        parsed = urlparse(str(root.uri))
        if parsed.scheme == "file":
            out.append(Path(unquote(parsed.path)))
    return out


class _Handlers:
    def __init__(self, state: ServerState) -> None:
        self.state = state

    async def list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        self.state.sessions[_session_key(ctx)] = ctx.session
        return types.ListToolsResult(tools=_listed(self.state, ctx))

    async def call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> ToolResult | types.InputRequiredResult:
        bucket: list[RequestLog] = []
        token = _REQUESTS.set(bucket)
        try:
            result = await self._call_tool(ctx, params)
        finally:
            _REQUESTS.reset(token)
        await self._log_requests(ctx, params.name, bucket, result)
        return result

    async def _log_requests(
        self,
        ctx: ServerRequestContext[Any, Any],
        name: str,
        bucket: list[RequestLog],
        result: ToolResult | types.InputRequiredResult,
    ) -> None:
        level = self.state.log_level
        if level is None or _LEVELS.index(level) > 0 or not bucket:
            return
        for entry in bucket:
            data = {
                "tool": name,
                "request": f"{entry.method} {entry.path}",
                "status": entry.status,
                "duration_ms": round(entry.duration_ms, 1),
                "attempts": entry.attempts,
                "rate_limit_remaining": entry.rate_remaining,
                "is_error": isinstance(result, dict) and bool(result.get("isError")),
            }
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    await ctx.session.send_log_message("debug", data, logger="dversum_mcp.api")
            except Exception:
                log.debug("log notification not delivered", exc_info=True)

    # ---- resources ---------------------------------------------------------------------------
    async def list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        self.state.sessions[_session_key(ctx)] = ctx.session
        return types.ListResourcesResult(resources=await self.state.resources.listing())

    async def list_resource_templates(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=self.state.resources.templates())

    async def read_resource(
        self, ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        return types.ReadResourceResult(contents=await self.state.resources.read(str(params.uri)))

    async def subscribe(
        self, ctx: ServerRequestContext[Any, Any], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        self.state.subscriptions.setdefault(_session_key(ctx), set()).add(str(params.uri))
        self.state.sessions[_session_key(ctx)] = ctx.session
        return types.EmptyResult()

    async def unsubscribe(
        self, ctx: ServerRequestContext[Any, Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        self.state.subscriptions.get(_session_key(ctx), set()).discard(str(params.uri))
        return types.EmptyResult()

    # ---- prompts -----------------------------------------------------------------------------
    async def list_prompts(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=self.state.prompts.listing())

    async def get_prompt(
        self, ctx: ServerRequestContext[Any, Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        return await self.state.prompts.get(params.name, params.arguments)

    async def complete(
        self, ctx: ServerRequestContext[Any, Any], params: types.CompleteRequestParams
    ) -> types.CompleteResult:
        values = await self.state.prompts.complete(params.argument.name, params.argument.value)
        return types.CompleteResult(completion=types.Completion(values=values, total=len(values), has_more=False))

    async def set_logging_level(
        self, ctx: ServerRequestContext[Any, Any], params: types.SetLevelRequestParams
    ) -> types.EmptyResult:
        self.state.log_level = str(params.level)
        logging.getLogger("dversum_mcp").debug("client log level set to %s", params.level)
        return types.EmptyResult()

    async def _call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> ToolResult | types.InputRequiredResult:
        state = self.state
        name = params.name
        timeout = state.settings.call_timeout_s
        started = time.monotonic()
        try:
            with anyio.fail_after(timeout):
                outcome = await self._dispatch(ctx, params, started + timeout - 1.0)
            return render_outcome(name, outcome, sandbox=state.sandbox)
        except NeedsInput as needs:
            return needs.result
        except DversumError as exc:
            log.info("tool %s failed: %s", name, exc.code)
            return render_error(exc, sandbox=state.sandbox)
        except TimeoutError:
            return render_error(
                ApiError(
                    0,
                    "timeout",
                    f"{name} did not finish within {timeout:g} s",
                    retryable=True,
                    hint="For a write, check with a list/get call whether it took effect before retrying.",
                ),
                sandbox=state.sandbox,
            )
        except Exception:
            log.exception("tool %s crashed", name)
            return render_unexpected(name, sandbox=state.sandbox)

    async def _dispatch(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams, deadline: float
    ) -> Outcome:
        state = self.state
        name = params.name
        selection = _request_selection(state, ctx)
        if name in META_TOOLS:
            return await run_meta(name, params.arguments, self._meta_call(ctx, selection, deadline, params))
        tool = state.registry.callable(name, selection)
        if tool is None:
            raise unknown_tool(name, self._meta_call(ctx, selection, deadline, params))
        return await self._run(ctx, tool, params.arguments, deadline, params)

    async def _notify_page(self, ctx: ServerRequestContext[Any, Any], tool: GeneratedTool, outcome: Outcome) -> None:
        """Tell subscribers of dversum://pages/{id} that the page changed."""
        if tool.spec.toolset != "pages" or tool.spec.read_only:
            return
        page_id = outcome.data.get("id")
        subscribed = self.state.subscriptions.get(_session_key(ctx), set())
        if isinstance(page_id, str) and page_uri(page_id) in subscribed:
            try:
                await ctx.session.send_resource_updated(page_uri(page_id))
            except Exception:
                log.debug("resources/updated not delivered", exc_info=True)

    async def _run(
        self,
        ctx: ServerRequestContext[Any, Any],
        tool: GeneratedTool,
        arguments: Any,
        deadline: float,
        params: types.CallToolRequestParams,
    ) -> Outcome:
        outcome = await self._execute(ctx, tool, arguments, deadline, params)
        await self._notify_page(ctx, tool, outcome)
        return outcome

    async def _execute(
        self,
        ctx: ServerRequestContext[Any, Any],
        tool: GeneratedTool,
        arguments: Any,
        deadline: float,
        params: types.CallToolRequestParams,
    ) -> Outcome:
        if self.state.settings.confirm:
            await self.state.confirmer.confirm(ctx, tool, arguments, params)

        async def progress(done: float, total: float | None, message: str | None) -> None:
            await ctx.session.report_progress(done, total, message)

        async def roots() -> list[Path]:
            return await _roots(ctx)

        env = CallEnv(
            client=self.state.client,
            deadline=deadline,
            progress=progress,
            roots=roots,
            file_roots=self.state.settings.file_roots,
        )
        return await self.state.registry.execute(tool, arguments, env)

    def _meta_call(
        self,
        ctx: ServerRequestContext[Any, Any],
        selection: Selection,
        deadline: float,
        params: types.CallToolRequestParams,
    ) -> MetaCall:
        state = self.state

        async def run(tool: GeneratedTool, arguments: Any) -> Outcome:
            return await self._run(ctx, tool, arguments, deadline, params)

        async def tools_changed() -> None:
            try:
                await ctx.session.send_tool_list_changed()
            except Exception:  # clients without list_changed support still have call_*_tool
                log.debug("tools/list_changed not delivered", exc_info=True)

        return MetaCall(
            registry=state.registry,
            index=state.index,
            selection=selection,
            dynamic=state.dynamic,
            enabled=state.enabled.setdefault(_session_key(ctx), set()),
            run=run,
            tools_changed=tools_changed,
        )


class _Server(Server[Any]):
    """The SDK's server, advertising tools/list_changed when the tool list can change."""

    def __init__(self, state: ServerState, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tools_changed = state.dynamic
        self._resources_changed = state.webhook_events is not None

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        options = notification_options or NotificationOptions(
            tools_changed=self._tools_changed, resources_changed=self._resources_changed
        )
        return super().create_initialization_options(options, experimental_capabilities, extensions)


def build_server(state: ServerState) -> Server[Any]:
    handlers = _Handlers(state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = _Server(
            state,
            name="dversum-mcp",
            version=__version__,
            title="dVersum",
            description="dVersum business platform: clients, projects, tasks, time, invoices, pages, files",
            instructions=instructions(state.sandbox),
            website_url="https://dversum.com",
            on_list_tools=handlers.list_tools,
            on_call_tool=handlers.call_tool,
            on_set_logging_level=handlers.set_logging_level,
            on_list_resources=handlers.list_resources,
            on_list_resource_templates=handlers.list_resource_templates,
            on_read_resource=handlers.read_resource,
            on_subscribe_resource=handlers.subscribe,
            on_unsubscribe_resource=handlers.unsubscribe,
            on_list_prompts=handlers.list_prompts,
            on_get_prompt=handlers.get_prompt,
            on_completion=handlers.complete,
        )
    if not _tracing_installed():
        server.middleware = [m for m in server.middleware if type(m).__name__ != "OpenTelemetryMiddleware"]
    return server


def _tracing_installed() -> bool:
    """Whether an OpenTelemetry tracer provider is installed (e.g. by `opentelemetry-instrument`).
    Without one the SDK's span middleware records nothing but still costs every request its
    bookkeeping, so it is dropped; with one, every request gets its span as the SDK intends."""
    from opentelemetry import trace

    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
