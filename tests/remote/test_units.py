"""The multi-user building blocks on their own: key rotation, redirect matching, the client
metadata fetch fence, query narrowing, and the shared rate limiter on the real Redis."""

from __future__ import annotations

import time

import anyio
import pytest

from dversum_mcp.api.redis_limiter import RedisRateLimiter, limiter_key
from dversum_mcp.auth.cimd import CimdError, fetch_client_metadata
from dversum_mcp.auth.clients import redirect_matches
from dversum_mcp.auth.keys import KeyError_, KeySet
from dversum_mcp.remote.app import _narrowing_headers
from tests.remote.conftest import Stack

OLD, NEW = "o" * 40, "n" * 40


def test_keys_rotate_and_bind_their_context() -> None:
    sealed = KeySet([OLD]).encrypt(b"dvk_live_secret", "user:1")
    assert b"dvk_live_secret" not in sealed.encode()
    assert KeySet([NEW, OLD]).decrypt(sealed, "user:1") == b"dvk_live_secret"  # rotation: old still decrypts
    with pytest.raises(KeyError_):
        KeySet([NEW]).decrypt(sealed, "user:1")  # the old key retired
    with pytest.raises(KeyError_):
        KeySet([OLD]).decrypt(sealed, "user:2")  # copied to another user's record
    assert not KeySet([NEW, OLD]).is_current(sealed) and KeySet([OLD]).is_current(sealed)
    resealed = KeySet([NEW, OLD]).encrypt(b"x", "c")
    assert KeySet([NEW]).decrypt(resealed, "c") == b"x"  # the first key encrypts
    for bad in ("", "short", f"{OLD},{OLD}"):
        with pytest.raises(KeyError_):
            KeySet.from_env(bad)


@pytest.mark.parametrize(
    ("registered", "given", "ok"),
    [
        ("https://app.example/cb", "https://app.example/cb", True),
        ("https://app.example/cb", "https://app.example/cb/", False),
        ("https://app.example/cb", "https://app.example:444/cb", False),
        ("http://127.0.0.1/cb", "http://127.0.0.1:61234/cb", True),
        ("http://[::1]:80/cb", "http://[::1]:5000/cb", True),
        ("http://127.0.0.1/cb", "http://127.0.0.1:61234/cb2", False),
        ("http://127.0.0.1/cb", "http://localhost:61234/cb", False),
        ("http://app.example/cb", "http://app.example:8080/cb", False),
    ],
)
def test_redirect_uris_match_exactly_except_the_loopback_port(registered: str, given: str, ok: bool) -> None:
    assert redirect_matches(registered, given) is ok


@pytest.mark.anyio
@pytest.mark.parametrize(
    "client_id",
    [
        "http://app.example/client.json",  # not https
        "https://127.0.0.1/client.json",  # loopback
        "https://10.1.2.3/client.json",  # private
        "https://169.254.169.254/latest/meta-data",  # link-local (cloud metadata)
        "https://[::1]/client.json",
        "https://user:pw@app.example/client.json",  # credentials
        "https://app.example/",  # no path
    ],
)
async def test_client_metadata_fetches_cannot_reach_internal_addresses(client_id: str) -> None:
    with pytest.raises(CimdError):
        await fetch_client_metadata(client_id)


def test_query_narrowing_only_narrows() -> None:
    headers = [(b"host", b"x"), (b"x-dversum-toolsets", b"time,clients")]
    out = dict(_narrowing_headers(headers, b"toolsets=invoices,time&read_only=0"))
    assert out[b"x-dversum-toolsets"] == b"time" and b"x-dversum-read-only" not in out
    out = dict(_narrowing_headers([(b"x-dversum-read-only", b"1")], b"read_only=0"))
    assert out[b"x-dversum-read-only"] == b"1"  # the URL cannot lift the header's read-only
    out = dict(_narrowing_headers([(b"x-dversum-toolsets", b"clients")], b"toolsets=invoices"))
    assert out[b"x-dversum-toolsets"] == b"-none-"  # disjoint: nothing, not the union


@pytest.mark.anyio
async def test_the_rate_limit_holds_across_replicas(stack: Stack) -> None:
    from redis.asyncio import Redis

    key = limiter_key(f"token-{time.time()}")
    redis_a, redis_b = Redis.from_url(stack.redis_url), Redis.from_url(stack.redis_url)
    waits: list[float] = []
    limiters = [
        RedisRateLimiter(redis_a, key, limit=5, window_s=1.0, on_wait=waits.append),
        RedisRateLimiter(redis_b, key, limit=5, window_s=1.0, on_wait=waits.append),
    ]
    stamps: list[float] = []

    async def take(i: int) -> None:
        await limiters[i % 2].acquire()
        stamps.append(time.monotonic())

    with anyio.fail_after(20):
        async with anyio.create_task_group() as group:
            for i in range(15):
                group.start_soon(take, i)
    await redis_a.aclose()
    await redis_b.aclose()
    stamps.sort()
    assert len(stamps) == 15 and waits
    assert min(stamps[i + 5] - stamps[i] for i in range(10)) > 0.95  # never 6 in one window, whichever replica
    assert stamps[-1] - stamps[0] < 4.0


@pytest.mark.anyio
async def test_a_stored_token_is_resealed_under_the_new_key_on_use(stack: Stack) -> None:
    from redis.asyncio import Redis

    from dversum_mcp.auth.users import LinkedUser, UserStore

    redis = Redis.from_url(stack.redis_url, decode_responses=True)
    user = LinkedUser(f"rotation-{time.time()}", "R", "r@example.com", "org", "Org")
    try:
        await UserStore(redis, KeySet([OLD])).link(user, "dvk_live_rotate_me")
        assert await UserStore(redis, KeySet([NEW, OLD])).token(user.id) == "dvk_live_rotate_me"
        assert await UserStore(redis, KeySet([NEW])).token(user.id) == "dvk_live_rotate_me"  # old key can go
    finally:
        await redis.delete("dv:user:" + user.id)
        await redis.aclose()


@pytest.mark.anyio
async def test_metrics_can_require_a_bearer(stack: Stack) -> None:
    from dataclasses import replace

    import httpx2

    from dversum_mcp.auth.settings import RemoteSettings
    from dversum_mcp.config import Settings
    from dversum_mcp.remote.app import RemoteApp
    from dversum_mcp.tools.registry import Registry, Selection

    remote = replace(
        RemoteSettings.load({"DVERSUM_REDIS_URL": stack.redis_url, "DVERSUM_MCP_SECRET_KEYS": NEW}),
        metrics_token="m" * 32,
    )
    app = RemoteApp(Settings(base_url=stack.api_url), remote, Registry(), Selection())
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app.app()), base_url="http://127.0.0.1") as http:
        assert (await http.get("/metrics")).status_code == 401
        assert (await http.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
        ok = await http.get("/metrics", headers={"Authorization": "Bearer " + "m" * 32})
        assert ok.status_code == 200 and "dversum_mcp_tool_calls" in ok.text
    await app.redis.aclose()
