"""The MCP-level hook of the multi-user server: every request acts as its user.

A server middleware (the SDK's context tier, around every handler):
- reads the OAuth access token of the request (`get_access_token()`), and sets the user's own
  `ApiClient` (`api.routed.CURRENT`) and id (`bus.USER`) for the handlers below;
- records every `tools/call` in the audit log and the metrics (tool, outcome, duration);
- answers `resources/read` of `dversum://webhooks/events` from the user's webhook inbox in Redis;
- keeps no per-connection state in the process: `resources/subscribe` (handshake-era clients) is
  accepted without being stored (stateless HTTP has no channel to notify them outside a request;
  2026-07-28 clients use `subscriptions/listen`), and the single-user handlers' session registry
  is emptied after each request (`forget`).
"""

from __future__ import annotations

import json
import logging
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

import mcp_types as types
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel

from dversum_mcp.api.client import ApiClient
from dversum_mcp.api.hooks.audit import AUDIT_READER, AuditReader
from dversum_mcp.api.routed import CURRENT
from dversum_mcp.logs import REQUEST_SECRETS
from dversum_mcp.remote.audit import AuditEntry, AuditLog, resource_ids
from dversum_mcp.remote.bus import USER, WebhookInbox
from dversum_mcp.remote.metrics import Metrics
from dversum_mcp.remote.users import UserClients
from dversum_mcp.server.outside import OutsideText
from dversum_mcp.server.scrub import Scrubber, ScrubMiddleware
from dversum_mcp.server.state import WEBHOOK_EVENTS_URI

__all__ = ["MultiUserMiddleware"]

log = logging.getLogger("dversum_mcp.remote")
MAX_LISTEN_STREAMS_PER_USER = 16


def _outcome(result: HandlerResult) -> tuple[str, str, Any]:
    """(outcome, error code, structured data) of a tools/call result in wire or model form."""
    if isinstance(result, types.InputRequiredResult):
        return "input_required", "", None
    data = result.model_dump(by_alias=True) if isinstance(result, BaseModel) else result
    if not isinstance(data, Mapping):
        return "ok", "", None
    structured = data.get("structuredContent")
    if data.get("resultType") == "input_required" or "inputRequests" in data:
        return "input_required", "", None
    if data.get("isError"):
        code = structured.get("error") if isinstance(structured, Mapping) else None
        return "error", str(code or "error")[:60], None
    return "ok", "", structured


class MultiUserMiddleware:
    def __init__(
        self,
        clients: UserClients,
        audit: AuditLog,
        metrics: Metrics,
        inbox: WebhookInbox,
        forget: Callable[[], None] = lambda: None,
        known_tools: frozenset[str] | None = None,
        outside: OutsideText | None = None,
    ) -> None:
        self.outside = outside or OutsideText()
        self.forget = forget
        self.known_tools = known_tools
        self.clients = clients
        self.audit = audit
        self.metrics = metrics
        self.inbox = inbox
        self.in_flight = 0
        self.listening: dict[str, int] = {}
        self._scrubbers: weakref.WeakKeyDictionary[ApiClient, Scrubber] = weakref.WeakKeyDictionary()

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method in ("resources/subscribe", "resources/unsubscribe"):
            if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:  # removed in 2026-07-28: -32601, HTTP 404
                raise MCPError(
                    code=types.METHOD_NOT_FOUND,
                    message=f"{ctx.method} does not exist in protocol {ctx.protocol_version}; use subscriptions/listen",
                )
            return types.EmptyResult()
        token = get_access_token()
        user = token.subject if token is not None else None
        if token is None or user is None:
            return await call_next(ctx)
        client = await self.clients.client_for(user)
        self.metrics.active_users.set(self.clients.active_users())
        client_token, user_token = CURRENT.set(client), USER.set(user)
        reader_token = AUDIT_READER.set(self._reader(user))
        # the server's own scrubber knows no user's token: this request's answers, errors and log lines
        # are scrubbed of this user's (raw, escaped, percent, hex, base64), wherever the API put it
        scrubber = self._scrubber(client)
        secrets_token = REQUEST_SECRETS.set(scrubber)

        async def handle(ctx: ServerRequestContext[Any, Any]) -> HandlerResult:
            params = ctx.params or {}
            if ctx.method == "resources/read" and params.get("uri") == WEBHOOK_EVENTS_URI:
                return await self._webhook_events(user)
            if ctx.method == "tools/call":
                return await self._audited(ctx, call_next, user, token.client_id)
            if ctx.method == "subscriptions/listen":
                return await self._listen(ctx, call_next, user)
            return await call_next(ctx)

        try:
            if scrubber is None:
                return await handle(ctx)
            return await ScrubMiddleware(scrubber)(ctx, handle)
        finally:
            REQUEST_SECRETS.reset(secrets_token)
            CURRENT.reset(client_token)
            USER.reset(user_token)
            AUDIT_READER.reset(reader_token)
            self.forget()

    async def _listen(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext, user: str) -> HandlerResult:
        """A listen stream, at most `MAX_LISTEN_STREAMS_PER_USER` per user in this process: the SDK's
        bound (1,024) is for all users together, and one user must not hold every slot."""
        if self.listening.get(user, 0) >= MAX_LISTEN_STREAMS_PER_USER:
            raise MCPError(
                code=types.INTERNAL_ERROR,
                message=f"too many open listen streams: at most {MAX_LISTEN_STREAMS_PER_USER} per user; "
                "close one (or reuse it: one stream can carry every subscription) before opening another",
            )
        self.listening[user] = self.listening.get(user, 0) + 1
        try:
            return await call_next(ctx)
        finally:
            self.listening[user] -= 1
            if not self.listening[user]:
                del self.listening[user]

    def _scrubber(self, client: ApiClient | None) -> Scrubber | None:
        if client is None:
            return None
        scrubber = self._scrubbers.get(client)
        if scrubber is None:
            scrubber = self._scrubbers[client] = Scrubber(client.secrets())
        return scrubber

    def _reader(self, user: str) -> AuditReader:
        async def read(limit: int) -> list[dict[str, Any]]:
            return [asdict(entry) for entry in await self.audit.read(user, limit)]

        return read

    async def _webhook_events(self, user: str) -> types.ReadResourceResult:
        body = {"inbox_url": await self.inbox.url_for(user), "events": await self.inbox.events(user)}
        guarded, marks = self.outside.guard(body)  # payloads are written by whoever posted them
        meta = self.outside.meta(marks) if marks else None
        await self.outside.save()
        text = json.dumps(guarded, ensure_ascii=False)
        contents = types.TextResourceContents(
            uri=WEBHOOK_EVENTS_URI, mime_type="application/json", text=text, _meta=meta
        )
        return types.ReadResourceResult(contents=[contents])

    async def _audited(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext, user: str, client_id: str | None
    ) -> HandlerResult:
        params = ctx.params or {}
        tool = str(params.get("name") or "")[:80]
        # a metric label only for real tools: a name is the caller's text, and every new label value
        # is a series kept for the life of the process and sent in every scrape
        label = tool if self.known_tools is None or tool in self.known_tools else "(unknown)"
        arguments = params.get("arguments") if isinstance(params.get("arguments"), Mapping) else {}
        started = time.monotonic()
        self.in_flight += 1
        outcome, error, data = "crashed", "internal", None
        try:
            result = await call_next(ctx)
            outcome, error, data = _outcome(result)
            return result
        except MCPError as exc:  # answered as a JSON-RPC error (e.g. -32021, a capability the client lacks)
            outcome, error = "refused", f"jsonrpc_{exc.code}"
            raise
        finally:
            self.in_flight -= 1
            duration = time.monotonic() - started
            self.metrics.calls.labels(label, outcome).inc()
            self.metrics.latency.labels(label).observe(duration)
            if outcome in ("error", "crashed"):
                self.metrics.errors.labels(label).inc()
            entry = AuditEntry(
                user=user,
                client=client_id or "",
                tool=tool,
                args_hmac=self.audit.args_hmac(arguments),
                outcome=outcome,
                duration_ms=round(duration * 1000, 1),
                resource_ids=resource_ids(arguments, data),
                error=error,
            )
            scrubber = REQUEST_SECRETS.get()
            if scrubber:  # what the API answered is not trusted: an id or code may carry the user's token
                entry.resource_ids = [scrubber.text(i) for i in entry.resource_ids]
                entry.error = scrubber.text(entry.error)
            try:
                await self.audit.record(entry)
            except Exception:  # the call's answer matters more than its audit line; say so loudly
                log.exception("audit entry for %r not written", label)
