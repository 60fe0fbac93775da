"""Change notifications across replicas: a per-user subscription bus on Redis pub/sub.

Implements the SDK's `SubscriptionBus` for its `ListenHandler` (`subscriptions/listen`,
2026-07-28): a listen stream subscribes under the user of the request that opened it, and an
event published for a user reaches that user's streams on every replica (channel
`dv:events:<user>`), never another user's. One pattern subscription per process feeds the
local listeners.

Webhooks: `POST /webhooks/<inbox>` (any replica) stores the event under the user the inbox
belongs to (a capped list) and publishes `resources/updated` for `dversum://webhooks/events`
plus `resources/list_changed` to that user.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import anyio
from mcp.server.subscriptions import (
    PromptsListChanged,
    ResourcesListChanged,
    ResourceUpdated,
    ServerEvent,
    ToolsListChanged,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dversum_mcp.server.state import WEBHOOK_EVENTS_URI

__all__ = ["USER", "UserEventBus", "WebhookInbox", "decode_event", "encode_event"]

log = logging.getLogger("dversum_mcp.remote")
USER: contextvars.ContextVar[str | None] = contextvars.ContextVar("dversum_user", default=None)
"""The user the current MCP request acts for (set by the multi-user middleware)."""
CHANNEL = "dv:events:"
MAX_EVENTS = 100
MAX_WEBHOOK_BYTES = 256 * 1024


def encode_event(event: ServerEvent) -> str:
    if isinstance(event, ResourceUpdated):
        return json.dumps({"kind": "resource_updated", "uri": event.uri})
    kinds = {ToolsListChanged: "tools", PromptsListChanged: "prompts", ResourcesListChanged: "resources"}
    return json.dumps({"kind": kinds[type(event)]})


def decode_event(raw: str) -> ServerEvent | None:
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind == "resource_updated" and isinstance(data.get("uri"), str):
        return ResourceUpdated(uri=data["uri"])
    events: dict[str, ServerEvent] = {
        "tools": ToolsListChanged(),
        "prompts": PromptsListChanged(),
        "resources": ResourcesListChanged(),
    }
    return events.get(str(kind))


class UserEventBus:
    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self._listeners: dict[str, dict[object, Callable[[ServerEvent], None]]] = {}
        self.ready = anyio.Event()

    async def publish(self, event: ServerEvent) -> None:
        user = USER.get()
        if user is not None:
            await self.publish_to(user, event)

    async def publish_to(self, user: str, event: ServerEvent) -> None:
        await self.redis.publish(CHANNEL + user, encode_event(event))

    def subscribe(self, listener: Callable[[ServerEvent], None]) -> Callable[[], None]:
        user = USER.get()
        if user is None:
            return lambda: None
        token = object()
        self._listeners.setdefault(user, {})[token] = listener

        def unsubscribe() -> None:
            listeners = self._listeners.get(user, {})
            listeners.pop(token, None)
            if not listeners:
                self._listeners.pop(user, None)

        return unsubscribe

    def deliver(self, user: str, event: ServerEvent) -> None:
        for listener in list(self._listeners.get(user, {}).values()):
            try:
                listener(event)
            except Exception:  # one bad listener must not starve the others
                log.exception("subscription listener raised")

    async def run(self) -> None:
        """Feed local listeners from Redis until cancelled (reconnects on errors)."""
        while True:
            try:
                pubsub = self.redis.pubsub()
                await pubsub.psubscribe(CHANNEL + "*")
                self.ready.set()
                try:
                    async for message in pubsub.listen():
                        if message.get("type") != "pmessage":
                            continue
                        channel, data = str(message["channel"]), str(message["data"])
                        event = decode_event(data)
                        if event is not None:
                            self.deliver(channel[len(CHANNEL) :], event)
                finally:
                    await pubsub.aclose()
            except anyio.get_cancelled_exc_class():
                raise
            except Exception:
                log.warning("event bus lost Redis; reconnecting", exc_info=True)
                await anyio.sleep(1.0)


class WebhookInbox:
    """Per-user webhook URLs: `<public>/webhooks/<inbox>`, the inbox id an HMAC of the user id."""

    def __init__(self, redis: Any, bus: UserEventBus, key: bytes, public_url: str) -> None:
        self.redis = redis
        self.bus = bus
        self._key = key
        self.public_url = public_url

    def inbox_id(self, user: str) -> str:
        return hmac.new(self._key, user.encode(), hashlib.sha256).hexdigest()[:40]

    async def url_for(self, user: str) -> str:
        inbox = self.inbox_id(user)
        await self.redis.set("dv:inbox:" + inbox, user)
        return f"{self.public_url}/webhooks/{inbox}"

    async def events(self, user: str) -> list[dict[str, Any]]:
        rows = await self.redis.lrange("dv:webhooks:" + user, 0, MAX_EVENTS - 1)
        out = []
        for row in rows:
            try:
                out.append(json.loads(row))
            except ValueError:
                continue
        return out

    async def receive(self, request: Request) -> Response:
        inbox = request.path_params.get("inbox", "")
        user = await self.redis.get("dv:inbox:" + inbox) if len(inbox) == 40 else None
        if user is None:
            return JSONResponse({"error": "not_found"}, status_code=404)
        body = await request.body()
        if len(body) > MAX_WEBHOOK_BYTES:
            return JSONResponse({"error": "payload_too_large"}, status_code=413)
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: brackets nested deeper than the parser goes
            return JSONResponse({"error": "bad_request", "message": "the body must be JSON"}, status_code=400)
        event = {
            "event": request.headers.get("x-dversum-event")
            or (payload.get("event") if isinstance(payload, dict) else None),
            "delivery": request.headers.get("x-dversum-delivery"),
            "received_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "payload": payload,  # written by whoever posted it: marked as outside text when read
        }
        key = "dv:webhooks:" + str(user)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(key, json.dumps(event))
            pipe.ltrim(key, 0, MAX_EVENTS - 1)
            await pipe.execute()
        await self.bus.publish_to(str(user), ResourceUpdated(uri=WEBHOOK_EVENTS_URI))
        await self.bus.publish_to(str(user), ResourcesListChanged())
        return Response(status_code=204)
