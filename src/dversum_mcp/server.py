"""The MCP server: generated tools behind the SDK's low-level `Server` handlers.

`build_server(state)` registers handlers at construction (no decorators, no module-level
registry). `_call_tool` is the one place where failures become results: a `DversumError`
becomes `isError` with the documented payload, a timeout a retryable error, anything else
a generic message with the traceback in the log. The server never crashes on a call.
"""

from __future__ import annotations

import contextvars
import json
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
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from dversum_mcp import __version__
from dversum_mcp.api.calls import Outcome
from dversum_mcp.api.client import ApiClient, RequestLog
from dversum_mcp.api.errors import ApiError, ArgumentError, DversumError
from dversum_mcp.config import Settings
from dversum_mcp.confirm import Confirmer, Declined, accepted
from dversum_mcp.discovery import DYNAMIC_ONLY, META_TOOLS, SearchIndex, toolset_rows
from dversum_mcp.prompts import PromptBook
from dversum_mcp.registry import CallEnv, GeneratedTool, Registry, Selection
from dversum_mcp.render import render_error, render_outcome, render_unexpected
from dversum_mcp.resources import ResourceCatalog, page_uri
from dversum_mcp.schema import validate_arguments

__all__ = ["WEBHOOK_EVENTS_URI", "ServerState", "announce_webhook_event", "build_server", "instructions"]

log = logging.getLogger("dversum_mcp")
_REQUESTS: contextvars.ContextVar[list[RequestLog] | None] = contextvars.ContextVar("dversum_requests", default=None)
_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
_CONFIRM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"confirm": {"type": "boolean", "title": "Go ahead", "default": True}},
    "required": ["confirm"],
}


class _NeedsInput(Exception):
    """Carries an InputRequiredResult (2026-07-28 confirmation round trip) up to the handler."""

    def __init__(self, result: types.InputRequiredResult) -> None:
        super().__init__("input required")
        self.result = result


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
    ) -> types.CallToolResult | types.InputRequiredResult:
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
        result: types.CallToolResult | types.InputRequiredResult,
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
                "is_error": bool(getattr(result, "is_error", False)),
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
    ) -> types.CallToolResult | types.InputRequiredResult:
        state = self.state
        name = params.name
        timeout = state.settings.call_timeout_s
        started = time.monotonic()
        try:
            with anyio.fail_after(timeout):
                outcome = await self._dispatch(ctx, params, started + timeout - 1.0)
            return render_outcome(name, outcome, sandbox=state.sandbox)
        except _NeedsInput as needs:
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
            return await self._meta(ctx, params, selection, deadline)
        tool = state.registry.callable(name, selection)
        if tool is None:
            raise self._unknown(name, selection)
        return await self._run(ctx, tool, params.arguments, deadline, params)

    def _can_elicit(self, ctx: ServerRequestContext[Any, Any]) -> bool:
        try:
            return ctx.session.check_client_capability(
                types.ClientCapabilities(elicitation=types.ElicitationCapability())
            )
        except Exception:
            return False

    async def _confirm(
        self,
        ctx: ServerRequestContext[Any, Any],
        tool: GeneratedTool,
        arguments: Any,
        params: types.CallToolRequestParams,
    ) -> None:
        """Ask the user before a destructive call (when possible); raise Declined on a no."""
        spec = tool.spec
        if not (spec.destructive and self.state.settings.confirm and self._can_elicit(ctx)):
            return
        args = validate_arguments(spec, tool.schema, arguments)  # never ask about an invalid call
        path_args = {p.wire_name: str(args[p.name]) for p in spec.params if p.where == "path" and p.name in args}
        confirmer = self.state.confirmer
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            verdict = confirmer.answered(spec, params)
            if verdict is None:
                question = await confirmer.question(spec, path_args)
                raise _NeedsInput(confirmer.input_required(spec, params.arguments, question))
        else:
            question = await confirmer.question(spec, path_args)
            try:
                answer = await ctx.session.elicit_form(question, _CONFIRM_SCHEMA, related_request_id=ctx.request_id)
            except Exception:
                log.info("confirmation for %s could not be asked; running it", spec.name, exc_info=True)
                return
            verdict = accepted(answer)
        if not verdict:
            raise Declined(
                f"The user declined {spec.name}; nothing was changed.",
                hint="Do not retry unless the user asks for it again.",
            )

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
        await self._confirm(ctx, tool, arguments, params)

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

    def _unknown(self, name: str, selection: Selection) -> ArgumentError:
        state = self.state
        exists = name in state.registry.tools
        if exists:
            why = "is not available with this server's settings (read-only, excluded or documented-only)"
            return ArgumentError(f"tool {name!r} {why}", field="name")
        guesses = [t.spec.name for t, _ in state.index.search(name.replace("_", " "), _allowed(state, selection), 3)]
        hint = "Use search_tools to find the right tool." + (f" Did you mean: {', '.join(guesses)}?" if guesses else "")
        return ArgumentError(f"unknown tool {name!r}", field="name", hint=hint)

    async def _meta(
        self,
        ctx: ServerRequestContext[Any, Any],
        params: types.CallToolRequestParams,
        selection: Selection,
        deadline: float,
    ) -> Outcome:
        state = self.state
        name = params.name
        arguments: Any = params.arguments or {}
        if isinstance(arguments, str):
            arguments = _json_object(arguments, "arguments")
        allowed = _allowed(state, selection)
        if name == "search_tools":
            query = arguments.get("query")
            if not isinstance(query, str) or not query.strip():
                raise ArgumentError("query is required: say what you want to do", field="query")
            limit = _int(arguments.get("limit", 5), "limit", 1, 20)
            hits = state.index.search(query, allowed, limit)
            return Outcome(
                {
                    "query": query,
                    "tools": [
                        {
                            "name": t.spec.name,
                            "description": t.spec.description,
                            "read_only": t.spec.read_only,
                            "inputSchema": t.schema,
                        }
                        for t, _ in hits
                    ],
                    "how_to_call": "Call a listed tool directly, or use call_read_tool / call_write_tool "
                    "with {name, arguments}.",
                }
            )
        if name == "describe_tool":
            wanted = arguments.get("name")
            tool = state.registry.callable(str(wanted), selection) if isinstance(wanted, str) else None
            if tool is None:
                raise self._unknown(str(wanted), selection)
            return Outcome(
                {
                    **tool.definition.model_dump(by_alias=True, exclude_none=True, mode="json"),
                    "toolset": tool.spec.toolset,
                }
            )
        if name in ("call_read_tool", "call_write_tool"):
            wanted = arguments.get("name")
            if not isinstance(wanted, str):
                raise ArgumentError("name is required: the tool to run (see search_tools)", field="name")
            if wanted in META_TOOLS:
                raise ArgumentError(f"{wanted} is a discovery tool; call it directly", field="name")
            tool = state.registry.callable(wanted, selection)
            if tool is None:
                raise self._unknown(wanted, selection)
            if name == "call_read_tool" and not tool.spec.read_only:
                raise ArgumentError(f"{wanted} changes data; run it with call_write_tool", field="name")
            if name == "call_write_tool" and tool.spec.read_only:
                raise ArgumentError(f"{wanted} only reads; run it with call_read_tool", field="name")
            inner = arguments.get("arguments") or {}
            if isinstance(inner, str):
                inner = _json_object(inner, "arguments")
            return await self._run(ctx, tool, inner, deadline, params)
        if name == "list_toolsets":
            counts: dict[str, int] = {}
            for tool in state.registry.tools.values():
                if selection.allows(tool.spec):
                    counts[tool.spec.toolset] = counts.get(tool.spec.toolset, 0) + 1
            enabled = (
                state.enabled.get(_session_key(ctx), set())
                if state.dynamic
                else {t.spec.toolset for t in state.registry.listed(selection)}
            )
            return Outcome({"toolsets": toolset_rows(state.registry.manifest.toolsets, counts, enabled)})
        if name == "enable_toolset":
            toolset = arguments.get("toolset")
            known = {t.name for t in state.registry.manifest.toolsets}
            if toolset not in known:
                raise ArgumentError(f"toolset must be one of {', '.join(sorted(known))}", field="toolset")
            if not state.dynamic:
                return Outcome({"toolset": toolset, "enabled": True, "note": "All selected tools are already listed."})
            state.enabled.setdefault(_session_key(ctx), set()).add(str(toolset))
            try:
                await ctx.session.send_tool_list_changed()
            except Exception:
                log.debug("tools/list_changed not delivered", exc_info=True)
            tools = [t.spec.name for t in state.registry.tools.values() if t.spec.toolset == toolset]
            return Outcome(
                {
                    "toolset": toolset,
                    "enabled": True,
                    "tools": tools,
                    "note": "If your client does not refresh its tool list, run these with call_read_tool / "
                    "call_write_tool.",
                }
            )
        raise RuntimeError(f"unhandled meta tool {name}")


def _allowed(state: ServerState, selection: Selection) -> set[str]:
    return {n for n, t in state.registry.tools.items() if selection.allows(t.spec)}


def _int(value: Any, field_name: str, low: int, high: int) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ArgumentError(f"{field_name} must be an integer from {low} to {high}", field=field_name)
    return value


def _json_object(text: str, field_name: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise ArgumentError(f"{field_name} must be a JSON object", field=field_name) from None
    if not isinstance(value, dict):
        raise ArgumentError(f"{field_name} must be a JSON object", field=field_name)
    return value


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
    return server
