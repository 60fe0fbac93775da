"""The MCP server: generated tools behind the SDK's low-level `Server` handlers.

`build_server(state)` registers handlers at construction (no decorators, no module-level
registry). Tool calls run through `tool_calls.ToolCalls`; the state the handlers share is
`state.ServerState`.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.models import InitializationOptions
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from dversum_mcp import __version__
from dversum_mcp.server.discovery import DYNAMIC_ONLY, META_TOOLS
from dversum_mcp.server.outside import reveal_definition
from dversum_mcp.server.render import ToolResult
from dversum_mcp.server.resources import RESOURCE_NOT_FOUND
from dversum_mcp.server.scrub import Scrubber, ScrubbingWriteStream, ScrubMiddleware
from dversum_mcp.server.state import (
    WEBHOOK_EVENTS_URI,
    ServerState,
    announce_webhook_event,
    instructions,
    request_selection,
    session_data,
)
from dversum_mcp.server.tool_calls import ToolCalls
from dversum_mcp.server.views import EXTENSION_ID, read_view, view_resources

__all__ = ["WEBHOOK_EVENTS_URI", "ServerState", "announce_webhook_event", "build_server", "instructions"]


def _listed(state: ServerState, ctx: ServerRequestContext[Any, Any]) -> list[types.Tool]:
    selection = request_selection(state, ctx)
    metas = [m for name, m in META_TOOLS.items() if state.dynamic or name not in DYNAMIC_ONLY]
    if selection.read_only:
        metas = [m for m in metas if m.read_only]
    out = [m.definition for m in metas]
    if state.settings.lockdown:
        out.append(reveal_definition())
    if state.dynamic:
        enabled = session_data(state, ctx).enabled
        tools = [t for t in state.registry.tools.values() if t.spec.toolset in enabled and selection.allows(t.spec)]
        tools += [t for t in state.registry.listed(selection) if t.spec.sandbox_only]
    else:
        tools = state.registry.listed(selection)
    return out + [t.definition for t in tools]


class _Handlers:
    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.calls = ToolCalls(state)

    async def list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        session_data(self.state, ctx, remember=True)
        return types.ListToolsResult(tools=_listed(self.state, ctx))

    async def call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> ToolResult | types.InputRequiredResult:
        return await self.calls.call(ctx, params)

    # ---- resources ---------------------------------------------------------------------------
    async def list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        session_data(self.state, ctx, remember=True)
        return types.ListResourcesResult(resources=view_resources(ctx) + await self.state.resources.listing())

    async def list_resource_templates(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=self.state.resources.templates())

    async def read_resource(
        self, ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        view = read_view(str(params.uri))
        if view is not None:
            return types.ReadResourceResult(contents=view)
        try:
            return types.ReadResourceResult(contents=await self.state.resources.read(str(params.uri)))
        except MCPError as exc:  # SEP-2164 (2026-07-28): an unknown resource is -32602 with data.uri
            if exc.code == RESOURCE_NOT_FOUND and ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
                raise MCPError(types.INVALID_PARAMS, exc.message, data={"uri": str(params.uri)}) from None
            raise

    async def subscribe(
        self, ctx: ServerRequestContext[Any, Any], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        _handshake_only(ctx, "resources/subscribe")
        session_data(self.state, ctx, remember=True).subscriptions.add(str(params.uri))
        return types.EmptyResult()

    async def unsubscribe(
        self, ctx: ServerRequestContext[Any, Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        _handshake_only(ctx, "resources/unsubscribe")
        session_data(self.state, ctx).subscriptions.discard(str(params.uri))
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


class _Server(Server[Any]):
    """The SDK's server, advertising tools/list_changed when the tool list can change."""

    def __init__(self, state: ServerState, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tools_changed = state.dynamic
        self._resources_changed = state.webhook_events is not None
        self.scrubber = Scrubber(
            (
                state.settings.token.reveal(),
                state.settings.mcp_auth_token.reveal(),
                state.settings.webhook_secret.reveal(),
                *state.client.secrets(),
            )
        )

    async def run(self, read_stream: Any, write_stream: Any, *args: Any, **kwargs: Any) -> None:
        """Every notification this loop writes passes the scrubber (results pass `ScrubMiddleware`)."""
        await super().run(read_stream, ScrubbingWriteStream(write_stream, self.scrubber), *args, **kwargs)

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
            instructions=instructions(state.sandbox, state.settings.lockdown),
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
    server.extensions[EXTENSION_ID] = {}  # MCP Apps: tools with a view carry _meta.ui.resourceUri
    if not _tracing_installed():
        server.middleware = [m for m in server.middleware if type(m).__name__ != "OpenTelemetryMiddleware"]
    if server.scrubber:  # innermost: what the tracing span records is scrubbed too
        server.middleware.append(ScrubMiddleware(server.scrubber))
    server.middleware.append(state.confirmer.boundary)  # seals/verifies confirmation request state
    return server


def _tracing_installed() -> bool:
    """Whether an OpenTelemetry tracer provider is installed (e.g. by `opentelemetry-instrument`).
    Without one the SDK's span middleware records nothing but still costs every request its
    bookkeeping, so it is dropped; with one, every request gets its span as the SDK intends."""
    from opentelemetry import trace

    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def _handshake_only(ctx: ServerRequestContext[Any, Any], method: str) -> None:
    """2026-07-28 removed resources/(un)subscribe (subscriptions/listen replaces it): -32601, HTTP 404."""
    if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
        raise MCPError(
            code=types.METHOD_NOT_FOUND,
            message=f"{method} does not exist in protocol {ctx.protocol_version}; use subscriptions/listen",
        )
