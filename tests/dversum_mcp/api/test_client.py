"""ApiClient: error mapping per status, safe retries, Retry-After, the client-side limiter."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx2
import pytest

from dversum_mcp.api.client import ApiClient
from dversum_mcp.api.errors import ApiError, error_payload
from dversum_mcp.api.limiter import RateLimiter

pytestmark = pytest.mark.anyio
TOKEN = "dvk_live_secret_abcdef123456"


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def make_client(
    handler: Callable[[httpx2.Request], httpx2.Response], time: FakeTime | None = None, limit: int = 1000
) -> ApiClient:
    time = time or FakeTime()
    return ApiClient(
        base_url="https://api.dversum.com/api/v1",
        token=TOKEN,
        transport=httpx2.MockTransport(handler),
        limiter=RateLimiter(limit, 60.0, clock=time.clock, sleep=time.sleep),
        sleep=time.sleep,
        clock=time.clock,
        backoff_s=0.5,
    )


@pytest.mark.parametrize(
    ("status", "error", "retryable", "hint_part"),
    [
        (400, "bad_request", False, "check the field"),
        (401, "unauthorized", False, "DVERSUM_API_TOKEN"),
        (403, "forbidden", False, "permission"),
        (404, "not_found", False, "another organization"),
        (409, "conflict", False, "current state"),
        (422, "validation_failed", False, "field"),
        (429, "rate_limited", True, "retry_after_s"),
        (500, "server_error", True, "server error"),
        (503, "server_error", True, "server error"),
    ],
)
async def test_status_becomes_structured_error(status: int, error: str, retryable: bool, hint_part: str) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, json={"message": f"upstream said {status} with {TOKEN}", "field": "client_id"})

    async with make_client(handler) as client:
        with pytest.raises(ApiError) as info:
            await client.request("POST", "/clients", json_body={"name": "x"})
    exc = info.value
    payload = error_payload(exc)
    assert payload["status"] == status
    assert payload["error"] == error
    assert payload["retryable"] is retryable
    assert payload["field"] == "client_id"
    assert hint_part.lower() in (payload.get("hint") or "").lower()
    assert TOKEN not in json.dumps(payload)
    assert "***" in payload["message"]


async def test_api_error_token_passes_through() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(409, json={"error": "invoice_locked", "message": "Invoice is sent", "field": None})

    async with make_client(handler) as client:
        with pytest.raises(ApiError) as info:
            await client.request("PUT", "/invoices/x", json_body={})
    assert info.value.code == "invoice_locked"


async def test_get_retried_on_503_then_succeeds() -> None:
    calls: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(request.method)
        if len(calls) < 3:
            return httpx2.Response(503, json={"message": "busy"})
        return httpx2.Response(200, json={"ok": True})

    time = FakeTime()
    async with make_client(handler, time) as client:
        response = await client.request("GET", "/clients")
    assert response.data == {"ok": True}
    assert len(calls) == 3
    assert len(time.slept) == 2 and time.slept[1] > time.slept[0]  # exponential backoff


async def test_post_never_repeated_on_500() -> None:
    calls: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(request.method)
        return httpx2.Response(500, json={"message": "boom"})

    async with make_client(handler) as client:
        with pytest.raises(ApiError) as info:
            await client.request("POST", "/invoices", json_body={})
    assert calls == ["POST"]
    assert "NOT repeated" in (info.value.hint or "")


async def test_post_not_repeated_after_read_timeout_but_get_is() -> None:
    calls: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(request.method)
        raise httpx2.ReadTimeout("slow", request=request)

    async with make_client(handler) as client:
        with pytest.raises(ApiError) as info:
            await client.request("POST", "/invoices", json_body={})
        assert calls == ["POST"] and info.value.code == "timeout"
        calls.clear()
        with pytest.raises(ApiError):
            await client.request("GET", "/invoices")
        assert calls == ["GET"] * 4  # 1 + max_retries


async def test_connect_error_is_retried_even_for_post() -> None:
    calls: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(request.method)
        if len(calls) == 1:
            raise httpx2.ConnectError("refused", request=request)
        return httpx2.Response(201, json={"id": "1"})

    async with make_client(handler) as client:
        response = await client.request("POST", "/clients", json_body={"name": "x"})
    assert response.status == 201 and calls == ["POST", "POST"]


async def test_429_honours_retry_after_for_any_method() -> None:
    calls: list[float] = []
    time = FakeTime()

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(time.now)
        if len(calls) == 1:
            return httpx2.Response(429, headers={"Retry-After": "7"}, json={"message": "slow down"})
        return httpx2.Response(201, json={"id": "1"})

    async with make_client(handler, time) as client:
        await client.request("POST", "/clients", json_body={"name": "x"})
    assert len(calls) == 2
    assert calls[1] - calls[0] >= 7


async def test_429_beyond_deadline_returns_retryable_error_without_waiting() -> None:
    time = FakeTime()

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(429, headers={"Retry-After": "120"}, json={"message": "slow down"})

    async with make_client(handler, time) as client:
        with pytest.raises(ApiError) as info:
            await client.request("GET", "/clients", deadline=time.now + 30)
    assert info.value.retryable and info.value.retry_after_s == 120
    assert sum(time.slept) < 30


async def test_limiter_spaces_requests_to_the_limit() -> None:
    time = FakeTime()
    stamps: list[float] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        stamps.append(time.now)
        return httpx2.Response(200, json={})

    async with make_client(handler, time, limit=5) as client:
        for _ in range(12):
            await client.request("GET", "/clients")
    # never more than 5 requests in any 60 s window
    for i in range(len(stamps)):
        window = [s for s in stamps if stamps[i] <= s < stamps[i] + 60]
        assert len(window) <= 5
    assert stamps[-1] - stamps[0] >= 120


async def test_limiter_newcomer_never_passes_a_waiter() -> None:
    """A free slot is taken without waiting, but only when nobody is queued: a caller that
    arrives while another waits for the window gets in after it, not before."""
    import anyio

    clock = [0.0]
    limiter = RateLimiter(2, 60.0, clock=lambda: clock[0], guard=0.0)
    await limiter.acquire()
    await limiter.acquire()  # the window is full now
    order: list[str] = []
    release = anyio.Event()

    async def waiter() -> None:
        await limiter.acquire()
        order.append("waiter")

    async def slow_sleep(seconds: float) -> None:
        await release.wait()
        clock[0] += seconds

    limiter._sleep = slow_sleep
    async with anyio.create_task_group() as group:
        group.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        clock[0] = 61.0  # both stamps expire while the waiter sleeps
        group.start_soon(lambda: _newcomer(limiter, order))
        await anyio.wait_all_tasks_blocked()
        assert order == []  # the newcomer queued behind the waiter instead of taking the free slot
        release.set()
    assert order == ["waiter", "newcomer"]


async def _newcomer(limiter: RateLimiter, order: list[str]) -> None:
    await limiter.acquire()
    order.append("newcomer")


async def test_html_error_page_and_invalid_json_are_clear_errors() -> None:
    def html(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(502, text="<html>Bad gateway</html>", headers={"content-type": "text/html"})

    async with make_client(html) as client:
        with pytest.raises(ApiError) as info:
            await client.request("POST", "/clients", json_body={})
    assert "non-JSON body (text/html)" in info.value.message and "<html>" not in info.value.message

    def broken(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=b"{not json", headers={"content-type": "application/json"})

    async with make_client(broken) as client:
        with pytest.raises(ApiError) as info:
            await client.request("GET", "/clients")
    assert info.value.code == "invalid_response"


async def test_public_requests_carry_no_token_and_missing_token_is_401() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json={})

    async with make_client(handler) as client:
        await client.request("GET", "/public/booking/a/b", public=True)
    assert "authorization" not in seen[0].headers
    empty = ApiClient(base_url="https://x/api/v1", token="", transport=httpx2.MockTransport(handler))
    async with empty:
        with pytest.raises(ApiError) as info:
            await empty.request("GET", "/clients")
    assert info.value.status == 401 and "DVERSUM_API_TOKEN" in (info.value.hint or "")
