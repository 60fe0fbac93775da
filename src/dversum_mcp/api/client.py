"""The dVersum API client: auth, language, limiter, retries, error mapping. One per server.

It takes any `httpx2.AsyncBaseTransport`: the network for the real API, an
`httpx2.ASGITransport` around the sandbox app, or a `MockTransport` in tests; it never
checks which. httpx2's exceptions are translated here, once, through a class → outcome map.

Retries (exponential backoff with jitter) happen only where repeating cannot duplicate a
write: idempotent methods (GET, PUT, DELETE) on timeouts, lost connections and 5xx; any
method when the connection was never established or the API said 429 (nothing was done).

Nothing an answer says can grow the process without bound: bodies are streamed and stop at a
size cap (`max_response_bytes` for JSON, `max_download_bytes` for download links), decoded
size counted (a gzip bomb stops too), with a `response_too_large` error; a Retry-After is
read as seconds or an HTTP date and capped (`MAX_RETRY_AFTER_S`; the limiter's penalty at one
window), so no `inf`, `1e12` or year-9999 date can disable the client until a restart.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import anyio
import httpx2

from dversum_mcp import __version__
from dversum_mcp.api.errors import ApiError
from dversum_mcp.api.limiter import API_RATE_LIMIT, RateLimiter

__all__ = ["MAX_RETRY_AFTER_S", "ApiClient", "ApiResponse", "RequestLog"]

MAX_RETRY_AFTER_S = 3600.0
"""The longest Retry-After believed (an hour); longer, infinite or far-future values are capped."""

log = logging.getLogger("dversum_mcp.api")

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})

# httpx2 exception class → (error token, message, request surely not sent?)
_EXC_MAP: tuple[tuple[type[Exception], str, str, bool], ...] = (
    (httpx2.ConnectTimeout, "connect_timeout", "Timed out connecting to the dVersum API", True),
    (httpx2.ConnectError, "connect_failed", "Could not connect to the dVersum API", True),
    (httpx2.PoolTimeout, "timeout", "No free connection to the dVersum API in time", True),
    (httpx2.ReadTimeout, "timeout", "The dVersum API did not answer in time", False),
    (httpx2.WriteTimeout, "timeout", "Timed out sending the request to the dVersum API", False),
    (httpx2.RemoteProtocolError, "connection_lost", "The connection to the dVersum API broke mid-response", False),
    (httpx2.ReadError, "connection_lost", "The connection to the dVersum API was reset", False),
    (httpx2.WriteError, "connection_lost", "The connection to the dVersum API was reset while sending", False),
    (httpx2.TransportError, "network_error", "Network error talking to the dVersum API", False),
)

_STATUS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "The API could not parse the request; check the field named and its format."),
    401: (
        "unauthorized",
        "The API token is missing or invalid: set DVERSUM_API_TOKEN (dVersum → Settings → API) and restart the server.",
    ),
    403: ("forbidden", "The token's user lacks permission for this resource; ask a workspace admin."),
    404: (
        "not_found",
        "The id does not exist or belongs to another organization; list the resource to find the right id.",
    ),
    405: ("method_not_allowed", "This endpoint does not support the method; the tool table may be outdated."),
    409: ("conflict", "The resource's current state does not allow this; fetch it and choose another action."),
    410: ("gone", "The link or resource has expired or was used up."),
    413: ("payload_too_large", "The request is too large (files: at most 100 MB)."),
    422: ("validation_failed", "Fix the field named in 'field' and call again."),
    429: (
        "rate_limited",
        f"dVersum's rate limit ({API_RATE_LIMIT} requests/minute) was hit; wait retry_after_s, then retry.",
    ),
}


@dataclass(frozen=True)
class ApiResponse:
    status: int
    headers: Mapping[str, str]
    data: Any
    content: bytes
    content_type: str


@dataclass(frozen=True)
class RequestLog:
    """One request's summary for logs and MCP log notifications (never carries secrets)."""

    method: str
    path: str
    status: int
    duration_ms: float
    attempts: int
    rate_remaining: str | None


class ApiClient:
    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        transport: httpx2.AsyncBaseTransport | None = None,
        language: str = "de",
        timeout_s: float = 20.0,
        max_retries: int = 3,
        limiter: RateLimiter | None = None,
        backoff_s: float = 0.5,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        clock: Callable[[], float] = time.monotonic,
        on_request: Callable[[RequestLog], None] | None = None,
        max_response_bytes: int = 8 * 1024 * 1024,
        max_download_bytes: int = 100 * 1024 * 1024,
    ) -> None:
        self._token = token
        self.max_response_bytes = max_response_bytes
        self.max_download_bytes = max_download_bytes
        self.base_url = base_url.rstrip("/")
        self.language = language
        self.max_retries = max_retries
        self.limiter = limiter or RateLimiter()
        self.backoff_s = backoff_s
        self._sleep = sleep
        self._clock = clock
        self.on_request = on_request
        self._transport = transport
        self._timeout_s = timeout_s
        self._http_client: httpx2.AsyncClient | None = None

    @property
    def _http(self) -> httpx2.AsyncClient:
        """Created on first use: a server that is only started and listed never pays for the
        connection pool and TLS setup (≈60 ms of every cold start)."""
        if self._http_client is None:
            self._http_client = httpx2.AsyncClient(
                transport=self._transport,
                timeout=httpx2.Timeout(self._timeout_s, connect=min(10.0, self._timeout_s)),
                headers={"User-Agent": f"dversum-mcp/{__version__}", "Accept": "application/json"},
                follow_redirects=False,
                trust_env=self._transport is None,
            )
        return self._http_client

    async def aclose(self) -> None:
        if self._http_client is not None:
            await self._http_client.aclose()

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def secrets(self) -> tuple[str, ...]:
        """What the server's scrubber must keep out of every answer (the token this client sends)."""
        return (self._token,) if self._token else ()

    def redact(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def _scrubbed(self, content: bytes) -> bytes:
        """The answer without our token, should the API (or a proxy) ever echo it back."""
        token = self._token.encode()
        return content.replace(token, b"***") if token and token in content else content

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        public: bool = False,
        deadline: float | None = None,
        absolute_url: str | None = None,
        download: bool = False,
    ) -> ApiResponse:
        """Send one API request (with limiter and safe retries); raise `ApiError` on failure."""
        headers = {"Accept-Language": self.language}
        if not public:
            if not self._token:
                raise ApiError(401, "unauthorized", "No API token configured", hint=_STATUS[401][1])
            headers["Authorization"] = f"Bearer {self._token}"
        url = absolute_url or f"{self.base_url}{path}"
        # binary downloads (and download links, the only absolute URLs) have their own, larger cap
        download = download or absolute_url is not None
        cap = self.max_download_bytes if download else self.max_response_bytes
        params = {k: _query_value(v) for k, v in (query or {}).items() if v is not None}
        idempotent = method.upper() in IDEMPOTENT
        attempt = 0
        started = self._clock()
        while True:
            attempt += 1
            await self.limiter.acquire(deadline)
            try:
                response, content = await self._send(
                    self._http.build_request(
                        method,
                        url,
                        params=params or None,
                        json=json_body if files is None and form is None else None,
                        data=dict(form) if form is not None else None,
                        files=dict(files) if files is not None else None,
                        headers=headers,
                    ),
                    cap,
                )
            except _TooLarge as big:
                self._log(method, path, big.status, started, attempt)
                raise self._too_large(big, cap, idempotent, download=download) from None
            except httpx2.TransportError as exc:
                error, message, not_sent = _translate(exc)
                retry = idempotent or not_sent
                if retry and attempt <= self.max_retries and await self._backoff(attempt, None, deadline):
                    log.info("retrying %s %s after %s (attempt %d)", method, path, error, attempt)
                    continue
                self._log(method, path, 0, started, attempt)
                raise ApiError(
                    0,
                    error,
                    message,
                    retryable=True,
                    hint=(
                        "The request was not repeated automatically because it is not idempotent; "
                        "check whether it took effect (list/get) before calling again."
                        if not retry
                        else "Check DVERSUM_BASE_URL and the network, then retry."
                    ),
                ) from None
            remaining = response.headers.get("x-ratelimit-remaining")
            status = response.status_code
            if status == 429 or status >= 500:
                retry_after = _retry_after(response.headers.get("retry-after"))
                if status == 429 and retry_after is not None:  # capped at one window inside
                    self.limiter.penalize(retry_after)
                retry = status == 429 or (idempotent and status in (500, 502, 503, 504))
                if retry and attempt <= self.max_retries and await self._backoff(attempt, retry_after, deadline):
                    log.info("retrying %s %s after HTTP %d (attempt %d)", method, path, status, attempt)
                    continue
            self._log(method, path, status, started, attempt, remaining)
            if 200 <= status < 300:
                return self._success(response, content, idempotent)
            raise self._error(response, content, idempotent, attempt)

    async def _send(self, request: httpx2.Request, cap: int) -> tuple[httpx2.Response, bytes]:
        """Send and read the body, streamed, stopping once it passes `cap` bytes (decoded)."""
        response = await self._http.send(request, stream=True)
        try:
            declared = response.headers.get("content-length", "")
            encoded = response.headers.get("content-encoding", "identity").strip().lower()
            if declared.isdigit() and encoded in ("", "identity") and int(declared) > cap:
                raise _TooLarge(response.status_code, int(declared))
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > cap:
                    raise _TooLarge(response.status_code, size)
                chunks.append(chunk)
            return response, b"".join(chunks)
        finally:
            await response.aclose()

    def _too_large(self, big: _TooLarge, cap: int, idempotent: bool, *, download: bool) -> ApiError:
        setting = "DVERSUM_MAX_DOWNLOAD_BYTES" if download else "DVERSUM_MAX_RESPONSE_BYTES"
        return ApiError(
            big.status,
            "response_too_large",
            f"The dVersum API's answer is larger than the limit of {cap:,} bytes ({setting}); it was not read",
            retryable=False,
            hint=(
                "Ask for less: a filter, a smaller per_page or a narrower date range"
                + (", or save_as for a file" if download else "")
                + f". If such answers are expected, raise {setting} and restart the server."
                + ("" if idempotent else " The write may have taken effect: check with a list/get call first.")
            ),
        )

    async def _backoff(self, attempt: int, retry_after: float | None, deadline: float | None) -> bool:
        """Sleep before the next attempt; False when that would pass the deadline."""
        delay = retry_after if retry_after is not None else self.backoff_s * 2 ** (attempt - 1)
        delay += random.uniform(0, self.backoff_s / 2)
        if deadline is not None and self._clock() + delay > deadline:
            return False
        await self._sleep(delay)
        return True

    def _log(
        self, method: str, path: str, status: int, started: float, attempts: int, remaining: str | None = None
    ) -> None:
        entry = RequestLog(method, path, status, (self._clock() - started) * 1000, attempts, remaining)
        log.debug(
            "%s %s -> %s in %.0f ms (attempts %d, rate remaining %s)",
            method,
            path,
            status,
            entry.duration_ms,
            attempts,
            remaining,
        )
        if self.on_request is not None:
            self.on_request(entry)

    def _success(self, response: httpx2.Response, raw: bytes, idempotent: bool) -> ApiResponse:
        ctype = response.headers.get("content-type", "")
        data: Any = None
        content = self._scrubbed(raw)
        if response.status_code != 204 and content:
            if "json" in ctype:
                try:
                    data = _shallow(json.loads(content))
                except (ValueError, RecursionError):
                    raise ApiError(
                        response.status_code,
                        "invalid_response",
                        f"The dVersum API answered with invalid JSON or JSON nested over {MAX_JSON_DEPTH} levels",
                        retryable=idempotent,
                        hint="Retry later; check DVERSUM_BASE_URL if it persists."
                        if idempotent
                        else "The write may have taken effect: check with a list/get call before calling again.",
                    ) from None
            elif "text/html" in ctype:
                raise ApiError(
                    response.status_code,
                    "invalid_response",
                    "The dVersum API answered with an HTML page instead of JSON (a proxy or maintenance page?)",
                    retryable=idempotent,
                    hint="Check DVERSUM_BASE_URL; it should end in /api/v1."
                    + ("" if idempotent else " The write may have taken effect: check with a list/get call first."),
                )
        return ApiResponse(response.status_code, response.headers, data, content, ctype)

    def _error(self, response: httpx2.Response, content: bytes, idempotent: bool, attempts: int) -> ApiError:
        status = response.status_code
        token, hint = _STATUS.get(status, ("server_error" if status >= 500 else "http_error", ""))
        message, field, api_token = f"dVersum answered HTTP {status}", None, None
        ctype = response.headers.get("content-type", "")
        if "json" in ctype:
            try:
                body = json.loads(self._scrubbed(content))
            except (ValueError, RecursionError):
                body = None
            if isinstance(body, dict):
                if isinstance(body.get("message"), str):
                    message = self.redact(body["message"])[:500]
                if isinstance(body.get("field"), str):
                    field = self.redact(body["field"])[:100]
                if isinstance(body.get("error"), str):
                    api_token = self.redact(body["error"])[:60]
        elif content:
            message += f" with a non-JSON body ({ctype.split(';')[0] or 'unknown type'})"
        retry_after = _retry_after(response.headers.get("retry-after"))
        if status >= 500:
            hint = (
                f"dVersum had a server error; the request was tried {attempts} time(s). Retry later."
                if idempotent
                else "dVersum had a server error; the write was NOT repeated automatically. Check whether it "
                "took effect (list/get) before calling again."
            )
        if status == 404 and api_token and api_token not in ("not_found",):
            hint = ""
        return ApiError(
            status,
            api_token or token,
            message,
            field=field,
            retryable=status == 429 or status >= 500,
            retry_after_s=retry_after,
            hint=hint or None,
        )


def _translate(exc: Exception) -> tuple[str, str, bool]:
    for cls, token, message, not_sent in _EXC_MAP:
        if isinstance(exc, cls):
            return token, message, not_sent
    return "network_error", "Network error talking to the dVersum API", False


class _TooLarge(Exception):
    def __init__(self, status: int, size: int) -> None:
        super().__init__(status, size)
        self.status = status
        self.size = size


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait, from delta-seconds or an HTTP date, within [0, MAX_RETRY_AFTER_S]; None if unreadable."""
    if not value or not value.strip():
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER_S)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


MAX_JSON_DEPTH = 128
"""API answers nested deeper are refused: rendering them (and the SDK's serializer) would fail."""


def _shallow(value: Any) -> Any:
    """`value` if it nests at most MAX_JSON_DEPTH arrays/objects deep; ValueError otherwise.
    Iterative, so the check itself cannot run out of stack."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise ValueError("nested too deep")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return value
