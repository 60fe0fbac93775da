"""The multi-user ASGI app: OAuth, the MCP endpoint per user, ops endpoints, all state in Redis.

    uvicorn --factory dversum_mcp.remote.app:create_app --workers 4 --host 0.0.0.0 --port 8000

(`dversum-mcp serve --transport http --multi-user --workers 4` does the same.) Settings come from
the environment: `DVERSUM_REDIS_URL`, `DVERSUM_MCP_PUBLIC_URL`, `DVERSUM_MCP_SECRET_KEYS`, token
lifetimes (see `auth/settings.py`), `DVERSUM_BASE_URL` for the API and the selection variables
(`DVERSUM_TOOLSETS`, `DVERSUM_READ_ONLY`, …). Routes:

- `/mcp`: Streamable HTTP, stateless (any replica serves any request), bearer token required
  (401 with `WWW-Authenticate: Bearer resource_metadata=…` otherwise). `?toolsets=a,b&read_only=1`
  or the `X-Dversum-Toolsets` / `X-Dversum-Read-Only` headers narrow the server's selection.
- OAuth: `/.well-known/oauth-authorization-server`, `/.well-known/oauth-protected-resource[/mcp]`,
  `/authorize`, `/token`, `/register`, `/revoke`, `/link` (see `dversum_mcp.auth`).
- `/webhooks/<inbox>`: a user's webhook inbox (its URL is in `dversum://webhooks/events`).
- `/healthz` (process up), `/readyz` (Redis answers), `/metrics` (Prometheus).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
import signal
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import BearerAuthBackend, RequireAuthMiddleware
from mcp.server.auth.provider import ProviderTokenVerifier
from mcp.server.auth.routes import build_resource_metadata_url
from mcp.server.caching import CacheHint, validate_cache_hints
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.subscriptions import ListenHandler
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import SubscriptionsListenRequestParams
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import AnyHttpUrl
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from dversum_mcp.api.client import ApiClient
from dversum_mcp.api.errors import ApiError
from dversum_mcp.api.redis_limiter import RedisRateLimiter, limiter_key
from dversum_mcp.api.routed import RoutedClient
from dversum_mcp.auth.link import TokenRejected
from dversum_mcp.auth.provider import SCOPE, RedisOAuthProvider
from dversum_mcp.auth.routes import auth_routes, replay_body
from dversum_mcp.auth.settings import RemoteSettings
from dversum_mcp.auth.users import UserStore
from dversum_mcp.config import Settings
from dversum_mcp.remote.audit import AuditLog
from dversum_mcp.remote.bus import MAX_WEBHOOK_BYTES, USER, UserEventBus, WebhookInbox
from dversum_mcp.remote.metrics import Metrics
from dversum_mcp.remote.middleware import MultiUserMiddleware
from dversum_mcp.remote.refs import RedisRefStore
from dversum_mcp.remote.users import UserClients
from dversum_mcp.server.discovery import META_TOOLS
from dversum_mcp.server.handlers import ServerState, build_server
from dversum_mcp.tools.registry import Registry, Selection

__all__ = ["RemoteApp", "build_app", "create_app"]

access_log = logging.getLogger("dversum_mcp.access")
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_FORM_BYTES = 64 * 1024
"""Largest body of every other route (OAuth forms and JSON, the linking page)."""
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_PASTED_TOKEN = re.compile(r"[\x21-\x7e]{6,4096}")
_CACHE_HINTS = {
    "tools/list": CacheHint(ttl_ms=300_000, scope="private"),
    "prompts/list": CacheHint(ttl_ms=300_000, scope="private"),
    "resources/templates/list": CacheHint(ttl_ms=300_000, scope="private"),
}


class _Ops:
    """ASGI wrapper: request id, JSON access log, HTTP metrics, in-flight count for draining,
    and `/mcp?toolsets=…&read_only=1` turned into the narrowing headers."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.in_flight = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = list(scope.get("headers") or [])
        given = dict(headers).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        path = str(scope.get("path", ""))
        if path == "/mcp" and scope.get("query_string"):
            headers = _narrowing_headers(headers, scope["query_string"])
        scope = {**scope, "headers": headers}
        status = 0
        started = time.monotonic()
        if path != "/mcp":  # the MCP endpoint streams its body under the SDK's own 4 MiB cap
            limit = MAX_WEBHOOK_BYTES if path.startswith("/webhooks/") else MAX_FORM_BYTES
            body = await _bounded_body(scope, receive, limit)
            if isinstance(body, _Gone):  # the client left mid-body: nothing to act on, no one to answer
                return
            if body is None:
                status = 413
                await _too_large(send, request_id, limit)
                self._log(scope, request_id, path, status, started)
                return
            receive = replay_body(body, receive)

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", request_id.encode())]}
            await send(message)

        self.in_flight += 1
        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self.in_flight -= 1
            self.metrics.in_flight.dec()
            self._log(scope, request_id, path, status, started)

    def _log(self, scope: dict[str, Any], request_id: str, path: str, status: int, started: float) -> None:
        user = scope.get("user")
        token = getattr(user, "access_token", None)
        route = path if path in _KNOWN_PATHS else ("/webhooks/*" if path.startswith("/webhooks/") else "other")
        self.metrics.http_requests.labels(route, str(status)).inc()
        access_log.info(
            json.dumps(
                {
                    "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "request_id": request_id,
                    "method": scope.get("method"),
                    "path": route if route != path else path,
                    "status": status,
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                    "user": getattr(token, "subject", None),
                    "client": getattr(token, "client_id", None),
                }
            )
        )


async def _bounded_body(scope: dict[str, Any], receive: Any, limit: int) -> bytes | _Gone | None:
    """The whole request body, or None as soon as it is (or is declared) longer than `limit`.

    Every route but `/mcp` (the OAuth forms, the linking page, `/register`, webhooks) gets a body
    read here first, so no handler or form parser below (a multipart file part would be spooled to
    disk whole) ever sees more than `limit` bytes."""
    declared = dict(scope.get("headers") or []).get(b"content-length", b"")
    if declared.strip().isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return _GONE
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


class _Gone:
    """`_bounded_body`'s answer when the client disconnected before its body ended (never acted on)."""


_GONE = _Gone()


async def _too_large(send: Any, request_id: str, limit: int) -> None:
    body = json.dumps(
        {"error": "invalid_request", "error_description": f"request body larger than {limit} bytes"}
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        (b"x-request-id", request_id.encode()),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


_KNOWN_PATHS = frozenset(
    {
        "/mcp",
        "/authorize",
        "/token",
        "/register",
        "/revoke",
        "/link",
        "/link/confirm",
        "/healthz",
        "/readyz",
        "/metrics",
        "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    }
)


def _narrowing_headers(headers: list[tuple[bytes, bytes]], query_string: bytes) -> list[tuple[bytes, bytes]]:
    """Query narrowing as headers; with both given, toolsets are intersected (never widened)."""
    query = parse_qs(query_string.decode("latin-1"))
    current = dict(headers)
    out = [(k, v) for k, v in headers if k not in (b"x-dversum-toolsets", b"x-dversum-read-only")]
    wanted = {t.strip() for v in query.get("toolsets", []) for t in v.split(",") if t.strip()}
    have = {t.strip() for t in current.get(b"x-dversum-toolsets", b"").decode("latin-1").split(",") if t.strip()}
    toolsets = (wanted & have) if wanted and have else (wanted or have)
    if wanted and have and not toolsets:
        toolsets = {"-none-"}
    if toolsets:
        out.append((b"x-dversum-toolsets", ",".join(sorted(toolsets)).encode()))
    read_only = any(v.strip().lower() in ("1", "true", "yes") for v in query.get("read_only", []))
    if read_only or current.get(b"x-dversum-read-only", b"").strip().lower() in (b"1", b"true", b"yes"):
        out.append((b"x-dversum-read-only", b"1"))
    return out


class RemoteApp:
    """Everything one process of the multi-user server holds (nothing another replica needs)."""

    def __init__(
        self,
        settings: Settings,
        remote: RemoteSettings,
        registry: Registry,
        selection: Selection,
        *,
        api_transport: httpx2.AsyncBaseTransport | None = None,
        json_response: bool = False,
    ) -> None:
        self.settings = replace(settings, dynamic=False, file_roots=())  # never the server's disk
        self.remote = remote
        self.redis: Redis = Redis.from_url(remote.redis_url, decode_responses=True)
        self.metrics = Metrics()
        self.provider = RedisOAuthProvider(self.redis, remote)
        self.users = UserStore(self.redis, remote.keys)
        self.api_transport = api_transport
        self.clients = UserClients(
            self.users, self.redis, self.settings, transport=api_transport, on_wait=self._on_rate_limit_wait
        )
        self.bus = UserEventBus(self.redis)
        self.inbox = WebhookInbox(self.redis, self.bus, remote.keys.derive("webhook-inbox/v1"), remote.public_url)
        self.audit = AuditLog(self.redis, remote.keys.derive("audit-args/v1"), remote.audit_maxlen)
        self.state = ServerState(
            self.settings,
            registry,
            RoutedClient(),
            replace(selection, sandbox=False, multi_user=True),
            webhook_events=list,
            stateless=True,
            state_keys=tuple(remote.keys.derive_all("request-state/v1")),  # any replica finishes any confirmation
        )
        self.state.outside.owner = USER.get  # withheld outside text is revealed only to its user
        self.state.outside.store = RedisRefStore(self.redis, remote.keys)  # and on any replica
        self.server = build_server(self.state)
        self.server.cache_hints = validate_cache_hints(_CACHE_HINTS)
        self.listen = ListenHandler(self.bus)
        self.server.add_request_handler("subscriptions/listen", SubscriptionsListenRequestParams, self.listen)
        known_tools = frozenset(registry.tools) | frozenset(META_TOOLS)
        self.middleware = MultiUserMiddleware(
            self.clients,
            self.audit,
            self.metrics,
            self.inbox,
            self._forget,
            known_tools=known_tools,
            outside=self.state.outside,
        )
        self.server.middleware.append(self.middleware)
        self.sessions = StreamableHTTPSessionManager(
            app=self.server,
            stateless=True,
            json_response=json_response,
            security_settings=_security(remote.public_url),
            max_request_body_size=MAX_BODY_BYTES,
        )

    def _forget(self) -> None:
        """Drop what the single-user handlers remember per connection (nothing may outlive a request)."""
        for key, _ in self.state.session_store.items():
            self.state.session_store.drop(key)

    def _on_rate_limit_wait(self, seconds: float) -> None:
        self.metrics.rate_limit_waits.inc()
        self.metrics.rate_limit_wait_seconds.inc(seconds)

    async def check_token(self, token: str) -> dict[str, Any]:
        """`GET /me` with a pasted token (the linking page's check)."""
        if not _PASTED_TOKEN.fullmatch(token):  # it goes into a header: a newline, NUL or "ö" cannot be one
            raise TokenRejected(
                "This is not a dVersum API token: a token is one word of letters, digits and punctuation "
                "(no spaces, line breaks or accented letters). Copy it again from dVersum → Settings → API."
            )
        client = ApiClient(
            base_url=self.settings.base_url,
            token=token,
            transport=self.api_transport,
            language=self.settings.language,
            timeout_s=self.settings.request_timeout_s,
            max_retries=1,
            limiter=RedisRateLimiter(self.redis, limiter_key(token), self.settings.rate_limit, 60.0),
        )
        try:
            async with client:
                response = await client.request("GET", "/me", deadline=time.monotonic() + 15)
        except ApiError as exc:
            if exc.status in (401, 403):
                raise TokenRejected("dVersum did not accept this token. Check that you copied all of it.") from None
            raise TokenRejected("dVersum could not be reached to check the token. Please try again.") from None
        except Exception as exc:  # the page answers whatever happened; no traceback (it may quote the token)
            access_log.warning("token check failed: %s", type(exc).__name__)
            raise TokenRejected("The token could not be checked. Please try again.") from None
        data = response.data
        if not isinstance(data, dict) or "id" not in data:
            raise TokenRejected("dVersum answered unexpectedly. Please try again later.")
        return data

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        try:
            with anyio.fail_after(2):
                await self.redis.ping()
        except Exception:
            return JSONResponse({"status": "unavailable", "redis": False}, status_code=503)
        return JSONResponse({"status": "ready", "redis": True})

    async def metrics_endpoint(self, request: Request) -> Response:
        if self.remote.metrics_token:
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), self.remote.metrics_token.encode()):
                return JSONResponse({"error": "unauthorized"}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        self.metrics.active_users.set(self.clients.active_users())
        return PlainTextResponse(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def app(self) -> Any:
        resource = AnyHttpUrl(self.remote.resource_url)
        mcp_endpoint = RequireAuthMiddleware(
            StreamableHTTPASGIApp(self.sessions), [SCOPE], build_resource_metadata_url(resource)
        )
        routes = [
            *auth_routes(self.provider, self.users, self.check_token),
            Route("/mcp", endpoint=mcp_endpoint, methods=["GET", "POST", "DELETE"]),
            Route("/webhooks/{inbox}", endpoint=self.inbox.receive, methods=["POST"]),
            Route("/healthz", endpoint=self.healthz, methods=["GET"]),
            Route("/readyz", endpoint=self.readyz, methods=["GET"]),
            Route("/metrics", endpoint=self.metrics_endpoint, methods=["GET"]),
        ]
        backend = BearerAuthBackend(ProviderTokenVerifier(cast("Any", self.provider)), resource_server_url=resource)
        starlette = Starlette(
            routes=routes,
            middleware=[Middleware(AuthenticationMiddleware, backend=backend), Middleware(AuthContextMiddleware)],
            lifespan=self.lifespan,
        )
        self.ops = _Ops(starlette, self.metrics)
        return self.ops

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[None]:
        async with self.sessions.run(), anyio.create_task_group() as group:
            group.start_soon(self.bus.run)
            self._end_streams_on_signal()
            try:
                yield
            finally:
                await self.drain()
                group.cancel_scope.cancel()
                await self.clients.aclose()
                await self.redis.aclose()

    def _end_streams_on_signal(self) -> None:
        """On SIGTERM/SIGINT, end every open `subscriptions/listen` stream gracefully at once.

        uvicorn waits for every open response before it shuts the app down; a listen stream never
        ends by itself, so one open stream made each shutdown last the whole grace period. uvicorn's
        own handler still runs (it stops accepting and lets running tool calls finish)."""
        if threading.current_thread() is not threading.main_thread():
            return  # signals reach only the main thread (an embedded server has none of its own)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(sig)
            if not callable(previous):
                continue

            def handler(signum: int, frame: Any, previous: Callable[[int, Any], Any] = previous) -> None:
                loop.call_soon_threadsafe(self.listen.close)
                previous(signum, frame)

            signal.signal(sig, handler)

    async def drain(self) -> None:
        """Graceful shutdown: wait (bounded by the call timeout) for tool calls still running."""
        deadline = time.monotonic() + self.settings.call_timeout_s
        while self.middleware.in_flight and time.monotonic() < deadline:  # noqa: ASYNC110 - a counter, polled
            await anyio.sleep(0.05)


def _security(public_url: str) -> TransportSecuritySettings:
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
    origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    parts = urlsplit(public_url)
    if parts.hostname and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        hosts += [parts.netloc, f"{parts.hostname}:*"]
        origins += [f"{parts.scheme}://{parts.netloc}"]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


def build_app(
    settings: Settings,
    remote: RemoteSettings,
    registry: Registry,
    selection: Selection,
    *,
    api_transport: httpx2.AsyncBaseTransport | None = None,
    json_response: bool = False,
) -> Any:
    return RemoteApp(
        settings, remote, registry, selection, api_transport=api_transport, json_response=json_response
    ).app()


def create_app() -> Any:
    """ASGI factory for uvicorn/gunicorn workers: everything from the environment."""
    import os

    from dversum_mcp.logs import configure_logging

    settings = Settings.load()
    remote = RemoteSettings.load()
    configure_logging(settings.log_level, [settings.token.reveal(), settings.mcp_auth_token.reveal()])
    registry = Registry(output_schemas=settings.output_schemas, extra_manifests=settings.extra_manifests)
    selection = Selection(
        toolsets=settings.toolsets,
        tools=settings.tools,
        exclude_tools=settings.exclude_tools,
        read_only=settings.read_only,
        documented_only=settings.documented_only,
    )
    registry.check_names(selection)
    json_response = os.environ.get("DVERSUM_MCP_JSON_RESPONSE", "").strip().lower() in ("1", "true", "yes")
    return build_app(settings, remote, registry, selection, json_response=json_response)
