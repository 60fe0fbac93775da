"""Webhook helpers: signature checks, a local receiver and its in-memory inbox.

dVersum signs every delivery with `X-Dversum-Signature: sha256=<hex>`, the HMAC-SHA256 of
the raw request body under the subscription's secret, and marks it with an
`Idempotency-Key` (retries repeat the key). The secret is read only from the environment
(`DVERSUM_WEBHOOK_SECRET`), never from a flag, because flags are visible in `ps`.

The commands `dversum-mcp webhook verify|listen` live in `cli/webhook.py`.

`WebhookInbox` is the event store behind `listen`, kept separate so the MCP server can reuse
it (e.g. as the resource `dversum://webhooks/events`): `add()` de-duplicates by
`Idempotency-Key`, `events()` returns what is kept, `on_event` callbacks see each new event.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import threading
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "IDEMPOTENCY_HEADER",
    "SECRET_ENV",
    "SIGNATURE_HEADER",
    "WebhookInbox",
    "is_loopback_host",
    "sign",
    "verify_webhook_signature",
    "webhook_app",
]

log = logging.getLogger("dversum_mcp.transports.webhook_inbox")

SECRET_ENV = "DVERSUM_WEBHOOK_SECRET"  # noqa: S105 - the variable's name, not a secret
SIGNATURE_HEADER = "X-Dversum-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENT_HEADER = "X-Dversum-Event"
MAX_BODY_BYTES = 5 * 1024 * 1024
_PREFIX = "sha256="
_HEX = frozenset("0123456789abcdefABCDEF")


# ---- signatures -------------------------------------------------------------------------------
def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)


def sign(secret: str | bytes, body: bytes) -> str:
    """The `X-Dversum-Signature` value for `body`: `sha256=<lowercase hex>`."""
    return _PREFIX + hmac.new(_key(secret), body, hashlib.sha256).hexdigest()


def verify_webhook_signature(secret: str | bytes, body: bytes, signature_header: str) -> bool:
    """True if `signature_header` is `sha256=<hex>` of the HMAC-SHA256 of the raw `body` under `secret`.

    Constant-time comparison; hex digits in either case. Anything malformed (no or another
    algorithm prefix, empty or non-hex digest, wrong length, empty secret, non-bytes body) is
    False, never an exception.
    """
    try:
        if not isinstance(signature_header, str) or not isinstance(body, bytes | bytearray | memoryview):
            return False
        header = signature_header.strip()
        if header[: len(_PREFIX)].lower() != _PREFIX:
            return False
        digest = header[len(_PREFIX) :]
        if len(digest) != 2 * hashlib.sha256().digest_size or not set(digest) <= _HEX:
            return False
        key = _key(secret)
        if not key:
            return False  # an empty secret signs nothing worth trusting
        expected = hmac.new(key, bytes(body), hashlib.sha256).digest()
        return hmac.compare_digest(bytes.fromhex(digest), expected)
    except (TypeError, ValueError, UnicodeError):
        return False


# ---- the inbox ---------------------------------------------------------------------------------
Event = dict[str, Any]


class WebhookInbox:
    """Received webhook events in memory: bounded, de-duplicated by `Idempotency-Key`, observable.

    - `add(headers, body)` → `(stored, event)`: `stored` is False for a repeated
      `Idempotency-Key` or a repeated `id` in the JSON body (then `event` is the one stored
      first, if still kept): the body is what the signature covers, the header is not.
    - `events()` → the kept events, oldest first (at most `capacity`; older ones drop out).
    - `on_event`: callbacks called with each newly stored event (exceptions are logged, not raised).

    An event is `{id, event, idempotency_key, received_at, path, verified, payload}`: `payload`
    is the parsed JSON body (dVersum sends `{id, event, created_at, data}`), or the body text
    when it is not JSON. Thread-safe, so the MCP server may read it from another thread.
    """

    def __init__(self, capacity: int = 1000, remember_keys: int | None = None) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._events: deque[Event] = deque(maxlen=capacity)
        self._keys: OrderedDict[str, Event] = OrderedDict()
        self._remember = max(remember_keys or 10 * capacity, capacity)
        self._lock = threading.Lock()
        self.on_event: list[Callable[[Event], None]] = []

    def add(
        self, headers: Mapping[str, str], body: bytes, *, path: str = "/", verified: bool | None = None
    ) -> tuple[bool, Event]:
        lower = {k.lower(): v for k, v in headers.items()}
        key = lower.get(IDEMPOTENCY_HEADER.lower(), "").strip() or None
        event = self._event(lower, body, key, path, verified)
        # the header is not signed: a captured delivery sent again under a new key (or none) is still
        # the same delivery, known by the `id` inside the signed body
        payload = event["payload"]
        inner = payload.get("id") if isinstance(payload, dict) else None
        keys = [k for k in (key, "payload-id:" + inner if isinstance(inner, str) and inner else None) if k]
        with self._lock:
            for known in keys:
                if known in self._keys:
                    self._keys.move_to_end(known)
                    return False, self._keys[known]
            self._events.append(event)
            for known in keys:
                self._keys[known] = event
            while len(self._keys) > self._remember:
                self._keys.popitem(last=False)
        for callback in list(self.on_event):
            try:
                callback(event)
            except Exception:
                log.exception("webhook on_event callback failed")
        return True, event

    def events(self) -> list[Event]:
        with self._lock:
            return list(self._events)

    def clear(self) -> None:
        with self._lock:
            self._events.clear()
            self._keys.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)

    @staticmethod
    def _event(headers: Mapping[str, str], body: bytes, key: str | None, path: str, verified: bool | None) -> Event:
        text = body.decode("utf-8", errors="replace")
        payload: Any
        try:
            payload = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: brackets nested deeper than the parser goes
            payload = text
        name = headers.get(EVENT_HEADER.lower())
        if name is None and isinstance(payload, dict) and isinstance(payload.get("event"), str):
            name = payload["event"]
        return {
            "id": key or str(uuid.uuid4()),
            "event": name,
            "idempotency_key": key,
            "received_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "path": path,
            "verified": verified,
            "payload": payload,
        }


# ---- the receiver ------------------------------------------------------------------------------
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _host_name(host: str) -> str:
    """`Host` header → lowercase name without port (`[::1]:8787` → `::1`)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def webhook_app(
    inbox: WebhookInbox,
    secret: str | bytes | None = None,
    max_body: int = MAX_BODY_BYTES,
    *,
    allowed_hosts: tuple[str, ...] = (),
) -> Any:
    """A Starlette app taking POST deliveries on any path into `inbox`.

    Only what a webhook sender sends is taken, so a web page the user visits cannot post events:
    a `Host` other than loopback or `allowed_hosts` (a tunnel's name) gets 421, any `Origin`
    (browsers send one; webhook senders do not) 403, a body that is not declared JSON 415.
    With a secret, a missing or wrong `X-Dversum-Signature` is answered 401 and not stored;
    without one, events are stored with `verified: false`. A repeated `Idempotency-Key` is
    answered 200 with `duplicate: true` (so the sender stops retrying) and not stored again.
    Bodies over `max_body` bytes get 413.
    """
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    key = _key(secret) if secret else None
    hosts = LOOPBACK_HOSTS | {_host_name(h) for h in allowed_hosts if h.strip()}

    async def receive(request: Request) -> JSONResponse:
        if _host_name(request.headers.get("host", "")) not in hosts:
            return _error(421, "foreign_host", "This receiver answers only on its own host name")
        if request.headers.get("origin") is not None:
            return _error(403, "browser_origin", "Webhooks come from servers; requests with an Origin are refused")
        if not _is_json(request.headers.get("content-type", "")):
            return _error(415, "unsupported_media_type", "Webhook bodies must be sent as application/json")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_body:
            return _error(413, "payload_too_large", f"Body larger than {max_body} bytes")
        buffer = bytearray()
        async for chunk in request.stream():
            buffer += chunk
            if len(buffer) > max_body:
                return _error(413, "payload_too_large", f"Body larger than {max_body} bytes")
        body = bytes(buffer)
        if key is not None and not verify_webhook_signature(key, body, request.headers.get(SIGNATURE_HEADER, "")):
            return _error(401, "invalid_signature", f"Missing or wrong {SIGNATURE_HEADER}")
        stored, event = inbox.add(request.headers, body, path=request.url.path, verified=key is not None)
        return JSONResponse({"received": True, "duplicate": not stored, "id": event["id"]})

    def _error(status: int, token: str, message: str) -> JSONResponse:
        return JSONResponse({"error": token, "message": message}, status_code=status)

    return Starlette(routes=[Route("/{path:path}", receive, methods=["POST"])])


def is_loopback_host(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
