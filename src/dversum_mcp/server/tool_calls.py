"""One `tools/call`, end to end: selection, confirmation, the generated tool or a discovery
tool, rendering, and the debug log of the API requests it made.

`ToolCalls.call` is the one place where failures become results: a `DversumError` becomes
`isError` with the documented payload, a timeout a retryable error, anything else a generic
message with the traceback in the log. The server never crashes on a call.
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from dversum_mcp.api.calls import Outcome
from dversum_mcp.api.client import RequestLog
from dversum_mcp.api.errors import ApiError, ArgumentError, DversumError
from dversum_mcp.server.capabilities import (
    MissingClientCapability,
    check_capabilities,
    needed,
    to_protocol_error,
)
from dversum_mcp.server.confirm import NeedsInput
from dversum_mcp.server.discovery import META_TOOLS
from dversum_mcp.server.meta import MetaCall, run_meta, unknown_tool
from dversum_mcp.server.outside import REVEAL_TOOL, VIEW_KEY
from dversum_mcp.server.render import ToolResult, list_is_full, render_error, render_outcome, render_unexpected
from dversum_mcp.server.state import REQUESTS, ServerState, request_selection, session_data, session_key
from dversum_mcp.tools.registry import CallEnv, GeneratedTool, Selection

__all__ = ["ToolCalls"]

log = logging.getLogger("dversum_mcp")
_UNREACHABLE = {
    "roots": "it is a shared remote server; the folders of your computer are not on its disk, "
    "and it keeps no files of its users (files travel inline: results, content_base64)"
}
"""Client capabilities the multi-user server cannot use even when declared."""
_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")


ROOTS_KEY = "dversum_roots"
"""The input request that asks a 2026-07-28 client for its roots (an InputRequiredResult round trip)."""


def _file_paths(result: types.ListRootsResult) -> list[Path]:
    out = []
    for root in result.roots:
        parsed = urlparse(str(root.uri))
        if parsed.scheme == "file":
            out.append(Path(unquote(parsed.path)))
    return out


async def _roots(ctx: ServerRequestContext[Any, Any]) -> list[Path]:
    """The client's MCP roots (file:// URIs) when it offers them; [] otherwise."""
    try:
        if not ctx.session.check_client_capability(types.ClientCapabilities(roots=types.RootsCapability())):
            return []
        with anyio.fail_after(3), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # roots are deprecated in 2026-07-28 (SEP-2577), not before
            result = await ctx.session.list_roots()
    except Exception:
        return []
    return _file_paths(result)


def _answered_roots(params: types.CallToolRequestParams) -> list[Path] | None:
    """The roots a 2026-07-28 client sent with its retry; None when it sent none (then they are asked for)."""
    answer = (params.input_responses or {}).get(ROOTS_KEY)
    if answer is None:
        return None
    try:
        return _file_paths(types.ListRootsResult.model_validate(answer, from_attributes=True))
    except Exception:
        return []


class ToolCalls:
    """The `tools/call` handler's work, for the server's shared state."""

    def __init__(self, state: ServerState) -> None:
        self.state = state

    async def call(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> ToolResult | types.InputRequiredResult:
        bucket: list[RequestLog] = []
        token = REQUESTS.set(bucket)
        try:
            result = await self._call_tool(ctx, params)
        finally:
            REQUESTS.reset(token)
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

    async def _call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> ToolResult | types.InputRequiredResult:
        state = self.state
        name = params.name
        timeout = state.settings.call_timeout_s
        started = time.monotonic()
        try:
            with anyio.fail_after(timeout):
                if name == REVEAL_TOOL and state.settings.lockdown:
                    outcome, marked = await state.outside.reveal(params.arguments)
                else:
                    outcome = await self._dispatch(ctx, params, started + timeout - 1.0)
                    outcome, marked = state.outside.outcome(outcome)  # outside-written text: marked, or withheld
                    await state.outside.save()
            tool = state.registry.tools.get(name)
            result = render_outcome(
                name,
                outcome,
                sandbox=state.sandbox,
                budget=state.settings.result_budget,
                continuable=tool is not None and tool.spec.param("cursor") is not None,
            )
            if marked:
                result["_meta"] = {**(result.get("_meta") or {}), **marked}
                _add_notice(result, state.outside.notice(marked))
            return result
        except NeedsInput as needs:
            return needs.result
        except MissingClientCapability as exc:
            log.info("tool %s refused: client capability %s missing", name, ", ".join(exc.missing))
            protocol_error = to_protocol_error(ctx, exc)
            if protocol_error is not None:
                raise protocol_error from None  # 2026-07-28: -32021 (HTTP 400), before anything ran
            return render_error(exc, sandbox=state.sandbox)
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
        selection = request_selection(state, ctx)
        if name in META_TOOLS:
            return await run_meta(name, params.arguments, self._meta_call(ctx, selection, deadline, params))
        tool = state.registry.callable(name, selection)
        if tool is None:
            raise unknown_tool(name, self._meta_call(ctx, selection, deadline, params))
        return await self._run(ctx, tool, params.arguments, deadline, params)

    async def _notify_page(self, ctx: ServerRequestContext[Any, Any], tool: GeneratedTool, outcome: Outcome) -> None:
        """Tell subscribers of the resource a write changed (the toolset's `updates_resource`, e.g. a page)."""
        template = tool.spec.updates_resource
        if template is None or tool.spec.read_only:
            return
        resource_id = outcome.data.get("id")
        subscribed = session_data(self.state, ctx).subscriptions
        if isinstance(resource_id, str) and (uri := template.replace("{id}", resource_id)) in subscribed:
            try:
                await ctx.session.send_resource_updated(uri)
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
        """Check the client capabilities it needs, confirm when needed, run the tool, tell page subscribers."""
        given = arguments if isinstance(arguments, dict) else None
        try:
            check_capabilities(
                ctx,
                tool.spec,
                given,
                provided={"roots"} if self.state.settings.file_roots else set(),
                unreachable=_UNREACHABLE if self.state.selection.multi_user else {},
            )
        except ArgumentError:
            self.state.registry.validate(tool, given)  # a malformed call is refused as malformed first
            raise
        # 2026-07-28 has no server-to-client request: the client's folders come with the retry of an
        # InputRequiredResult, asked for up front (with the confirmation's question when there is one,
        # since each retry carries only the answers to the round before)
        ask_roots = (
            ctx.protocol_version in MODERN_PROTOCOL_VERSIONS
            and "roots" in needed(tool.spec, given)
            and not self.state.settings.file_roots
        )
        asked = _answered_roots(params) if ask_roots else None
        if self.state.settings.confirm:
            try:
                await self.state.confirmer.confirm(ctx, tool, arguments, params, deadline)
            except NeedsInput as needs:
                if ask_roots:
                    requests = {**(needs.result.input_requests or {}), ROOTS_KEY: types.ListRootsRequest()}
                    raise NeedsInput(needs.result.model_copy(update={"input_requests": requests})) from None
                raise
        if ask_roots and asked is None:
            raise NeedsInput(types.InputRequiredResult(input_requests={ROOTS_KEY: types.ListRootsRequest()}))

        async def progress(done: float, total: float | None, message: str | None) -> None:
            await ctx.session.report_progress(done, total, message)

        async def roots() -> list[Path]:
            return asked if asked is not None else await _roots(ctx)

        budget = self.state.settings.result_budget

        def enough(key: str, items: list[Any]) -> bool:
            return list_is_full(key, items, budget)

        env = CallEnv(
            client=self.state.client,
            deadline=deadline,
            progress=progress,
            roots=roots,
            file_roots=self.state.settings.file_roots,
            enough=enough,
        )
        outcome = await self.state.registry.execute(tool, arguments, env)
        await self._notify_page(ctx, tool, outcome)
        return outcome

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
            enabled=session_data(state, ctx).enabled,
            run=run,
            tools_changed=tools_changed,
            has_session=session_key(state, ctx) is not None,
        )


def _add_notice(result: ToolResult, notice: str) -> None:
    """The outside-text notice before the data in both views (hosts show no model `_meta`; Claude Code
    and VS Code show it only `structuredContent`, other hosts only the text)."""
    for block in result["content"]:
        if block.get("type") == "text":
            block["text"] = f"{notice}\n{block['text']}"
            break
    structured = result.get("structuredContent")
    if isinstance(structured, dict):
        result["structuredContent"] = {VIEW_KEY: notice, **structured}
