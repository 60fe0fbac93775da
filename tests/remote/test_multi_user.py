"""Two users of different organizations through nginx → two replicas → Redis, end to end."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.remote.conftest import Stack, Tokens, login

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="package")
def users(stack: Stack) -> dict[str, Tokens]:
    return {"a": login(stack.base, stack.token_a), "b": login(stack.base, stack.token_b)}


@asynccontextmanager
async def connect(
    stack: Stack | str,
    access: str,
    *,
    mode: str = "2026-07-28",
    path: str = "/mcp",
    ids: list[str] | None = None,
    **kw: Any,
) -> AsyncIterator[Client]:
    async def tag(request: httpx2.Request) -> None:
        request_id = uuid.uuid4().hex
        request.headers["x-request-id"] = request_id
        if ids is not None:
            ids.append(request_id)

    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {access}"}, timeout=30, event_hooks={"request": [tag]})
    base = stack if isinstance(stack, str) else stack.base
    async with http, Client(streamable_http_client(base + path, http_client=http), mode=mode, **kw) as client:  # type: ignore[arg-type]
        yield client


def data(result: types.CallToolResult) -> Any:
    assert not result.is_error, result.content
    return result.structured_content


async def test_each_user_sees_only_their_own_organization(stack: Stack, users: dict[str, Tokens]) -> None:
    seen: dict[str, set[str]] = {}
    for name, tokens in users.items():
        for mode in ("2026-07-28", "legacy"):
            async with connect(stack, tokens.access, mode=mode) as client:
                me = data(await client.call_tool("get_current_user", {}))
                clients = data(await client.call_tool("list_clients", {"per_page": 100}))
                seen.setdefault(name, set()).update(c["id"] for c in clients["clients"])
                seen[name + "-org"] = {me["organization"]["id"]}
    assert seen["a-org"] != seen["b-org"]
    assert seen["a"] and seen["b"] and not (seen["a"] & seen["b"])


async def test_a_confirmation_started_on_one_replica_completes_on_the_other(
    stack: Stack, users: dict[str, Tokens]
) -> None:
    asked: list[str] = []

    async def accept(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"confirm": True})

    ids: list[str] = []
    async with connect(stack, users["a"].access, ids=ids, elicitation_callback=accept) as client:
        created = data(await client.call_tool("create_client", {"name": "Zweitreplik GmbH"}))
        ids.clear()
        result = await client.call_tool("delete_client", {"client_id": created["id"]})
        assert not result.is_error, result.content
        assert asked == ["Delete the client Zweitreplik GmbH? This cannot be undone."]
        first, retry = ids[0], ids[-1]
        assert len(ids) == 2
        assert stack.replica_of(first) != stack.replica_of(retry)  # asked by one, finished by the other
        gone = await client.call_tool("get_client", {"client_id": created["id"]})
        assert gone.is_error


async def test_a_webhook_event_reaches_only_its_organizations_subscriber(
    stack: Stack, users: dict[str, Tokens]
) -> None:
    uri = "dversum://webhooks/events"
    async with (
        connect(stack, users["a"].access) as a,
        connect(stack, users["b"].access) as b,
    ):
        inbox = json.loads((await a.read_resource(uri)).contents[0].text)["inbox_url"]  # type: ignore[union-attr]
        other = json.loads((await b.read_resource(uri)).contents[0].text)["inbox_url"]  # type: ignore[union-attr]
        assert inbox != other
        data(await a.call_tool("create_webhook", {"url": inbox, "events": ["client.created"]}))
        got: dict[str, list[Any]] = {"a": [], "b": []}

        async def listen(name: str, client: Client, ready: anyio.Event) -> None:
            async with client.listen(resource_subscriptions=[uri]) as sub:
                ready.set()
                async for event in sub:
                    got[name].append(event)

        async with anyio.create_task_group() as group:
            ready_a, ready_b = anyio.Event(), anyio.Event()
            group.start_soon(listen, "a", a, ready_a)
            group.start_soon(listen, "b", b, ready_b)
            with anyio.fail_after(10):
                await ready_a.wait()
                await ready_b.wait()
            data(await a.call_tool("create_client", {"name": "Webhook Probe KG"}))
            with anyio.fail_after(20):
                while not got["a"]:
                    await anyio.sleep(0.05)
            await anyio.sleep(1.0)  # time enough for a wrong delivery to show up
            group.cancel_scope.cancel()
        assert got["b"] == []
        events = json.loads((await a.read_resource(uri)).contents[0].text)["events"]  # type: ignore[union-attr]
        assert events[0]["event"] == "client.created" and events[0]["payload"]["data"]["name"] == "Webhook Probe KG"
        assert json.loads((await b.read_resource(uri)).contents[0].text)["events"] == []  # type: ignore[union-attr]


def _refresh(stack: Stack, tokens: Tokens, refresh: str) -> httpx2.Response:
    return httpx2.post(
        stack.base + "/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh, "client_id": tokens.client_id},
        timeout=10,
    )


async def _whoami(stack: Stack, access: str) -> str:
    async with connect(stack, access) as client:
        return str(data(await client.call_tool("get_current_user", {}))["email"])


async def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_grant(stack: Stack) -> None:
    tokens = login(stack.base, stack.token_a)
    first = _refresh(stack, tokens, tokens.refresh)
    assert first.status_code == 200, first.text
    rotated = first.json()
    assert rotated["refresh_token"] != tokens.refresh
    assert await _whoami(stack, rotated["access_token"])
    reused = _refresh(stack, tokens, tokens.refresh)  # the old one again: a thief or a replay
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    # the whole family is gone: the rotated refresh token and its access token too
    assert _refresh(stack, tokens, rotated["refresh_token"]).status_code == 400
    probe = httpx2.post(
        stack.base + "/mcp", headers={"Authorization": f"Bearer {rotated['access_token']}"}, json={}, timeout=10
    )
    assert probe.status_code == 401


async def test_a_revoked_refresh_token_is_refused(stack: Stack) -> None:
    tokens = login(stack.base, stack.token_b)
    revoked = httpx2.post(
        stack.base + "/revoke", data={"token": tokens.refresh, "client_id": tokens.client_id}, timeout=10
    )
    assert revoked.status_code == 200, revoked.text
    again = _refresh(stack, tokens, tokens.refresh)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_without_a_token_mcp_answers_401_with_resource_metadata(stack: Stack) -> None:
    response = httpx2.post(stack.base + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, timeout=10)
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    url = stack.base + "/.well-known/oauth-protected-resource/mcp"
    assert challenge.startswith("Bearer ") and f'resource_metadata="{url}"' in challenge
    for path in ("/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"):
        prm = httpx2.get(stack.base + path, timeout=10).json()
        assert prm["resource"] == stack.base + "/mcp"
        assert [s.rstrip("/") for s in prm["authorization_servers"]] == [stack.base]
    meta = httpx2.get(stack.base + "/.well-known/oauth-authorization-server", timeout=10).json()
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["client_id_metadata_document_supported"] is True
    assert {"registration_endpoint", "revocation_endpoint"} <= meta.keys()
    bad = httpx2.post(stack.base + "/mcp", headers={"Authorization": "Bearer dvat_forged"}, json={}, timeout=10)
    assert bad.status_code == 401


async def test_url_and_headers_only_narrow_the_selection(stack: Stack, users: dict[str, Tokens]) -> None:
    async with connect(stack, users["a"].access, path="/mcp?toolsets=invoices,time&read_only=1") as client:
        names = [t.name for t in (await client.list_tools()).tools]
        refused = await client.call_tool("create_client", {"name": "Nope"})
    generated = [n for n in names if n not in ("search_tools", "describe_tool", "call_read_tool", "call_write_tool")]
    assert generated and all(n.startswith(("list_", "get_", "summarize_", "download_")) for n in generated), generated
    assert "list_invoices" in names and "list_clients" not in names
    assert refused.is_error
    async with connect(stack, users["a"].access) as client:
        again = [t.name for t in (await client.list_tools()).tools]
    assert again == [t.name for t in (await _tools_of(stack, users["a"].access))]  # a fixed order, every time
    assert len(again) > len(names)


async def _tools_of(stack: Stack, access: str) -> list[types.Tool]:
    async with connect(stack, access, mode="legacy") as client:
        return (await client.list_tools()).tools


async def test_nothing_in_redis_holds_a_dversum_token_in_clear(stack: Stack, users: dict[str, Tokens]) -> None:
    from redis import Redis

    redis = Redis.from_url(stack.redis_url)
    secrets = [stack.token_a.encode(), stack.token_b.encode()]
    secrets += [t.encode() for u in users.values() for t in (u.access, u.refresh)]
    dump: list[bytes] = []
    for key in redis.scan_iter(count=1000):
        dump.append(key)
        kind = redis.type(key)
        if kind == b"string":
            dump.append(redis.get(key) or b"")
        elif kind == b"hash":
            dump += [b for kv in redis.hgetall(key).items() for b in kv]
        elif kind == b"list":
            dump += redis.lrange(key, 0, -1)
        elif kind == b"set":
            dump += list(redis.smembers(key))
        elif kind == b"zset":
            dump += [m for m, _ in redis.zrange(key, 0, -1, withscores=True)]
        elif kind == b"stream":
            dump += [b for _, fields in redis.xrange(key) for kv in fields.items() for b in kv]
    redis.close()
    blob = b"\n".join(dump)
    assert len(dump) > 20 and b"dv:user:" in blob and b"dv:audit:" in blob
    assert [s[:12] for s in secrets if s in blob] == []


async def test_the_audit_log_records_each_call_without_arguments(
    stack: Stack, users: dict[str, Tokens], redis_env: dict[str, str]
) -> None:
    import subprocess
    import sys

    async with connect(stack, users["b"].access) as client:
        me = data(await client.call_tool("get_current_user", {}))
        data(await client.call_tool("list_clients", {"search": "geheim-suchbegriff"}))
    done = subprocess.run(  # noqa: ASYNC221 - the CLI as a user runs it
        [sys.executable, "-m", "dversum_mcp.cli", "audit", "--user", me["id"], "--json"],
        env=redis_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows = json.loads(done.stdout)
    assert (
        rows[0]["tool"] == "list_clients" and rows[0]["outcome"] == "ok" and rows[0]["client"] == users["b"].client_id
    )
    assert rows[0]["user"] == me["id"] and rows[0]["duration_ms"] > 0 and len(rows[0]["args_hmac"]) == 32
    assert "geheim-suchbegriff" not in done.stdout
    async with connect(stack, users["a"].access) as client:
        data(await client.call_tool("list_clients", {}))
        mine = data(await client.call_tool("list_my_audit_log", {"limit": 200}))
        only_lists = data(await client.call_tool("list_my_audit_log", {"tool": "list_clients"}))
    assert mine["entries"] and {e["user"] for e in mine["entries"]} == {mine["entries"][0]["user"]} != {me["id"]}
    assert only_lists["entries"] and {e["tool"] for e in only_lists["entries"]} == {"list_clients"}
    metrics = httpx2.get(f"http://127.0.0.1:{stack.replicas[0]}/metrics", timeout=10).text
    assert 'dversum_mcp_tool_calls_total{outcome="ok",tool="list_clients"}' in metrics
    assert "dversum_mcp_tool_call_seconds_bucket" in metrics and "dversum_mcp_active_users" in metrics
    ready = httpx2.get(stack.base + "/readyz", timeout=10)
    assert ready.status_code == 200 and ready.json()["redis"] is True


async def test_handshake_era_clients_can_subscribe_without_the_server_keeping_state(
    stack: Stack, users: dict[str, Tokens]
) -> None:
    import warnings

    async with connect(stack, users["b"].access, mode="legacy") as client:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            await client.subscribe_resource("dversum://webhooks/events")
            await client.unsubscribe_resource("dversum://webhooks/events")
        listed = [str(r.uri) for r in (await client.list_resources()).resources]
    assert "dversum://webhooks/events" in listed


async def test_a_confirmation_state_is_bound_to_its_user(stack: Stack, users: dict[str, Tokens]) -> None:
    from mcp.shared.exceptions import MCPError

    async def accept(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"confirm": True})

    yes = {"dversum_confirm": types.ElicitResult(action="accept", content={"confirm": True})}
    async with (
        connect(stack, users["a"].access, elicitation_callback=accept) as a,
        connect(stack, users["b"].access, elicitation_callback=accept) as b,
    ):
        created = data(await a.call_tool("create_client", {"name": "Gebundene Bestätigung OHG"}))
        args = {"client_id": created["id"]}
        asked = await a.session.call_tool("delete_client", args, allow_input_required=True)
        assert isinstance(asked, types.InputRequiredResult) and asked.request_state
        with pytest.raises(MCPError) as stolen:  # another user replays A's sealed state with a yes
            await b.session.call_tool("delete_client", args, input_responses=yes, request_state=asked.request_state)
        assert stolen.value.error.code == types.INVALID_PARAMS
        forged = asked.request_state[:-4] + ("AAAA" if not asked.request_state.endswith("AAAA") else "BBBB")
        with pytest.raises(MCPError):
            await a.session.call_tool("delete_client", args, input_responses=yes, request_state=forged)
        still = await a.call_tool("get_client", args)
        assert not still.is_error


def test_tools_list_carries_a_cache_hint_and_logs_carry_no_secrets(stack: Stack, users: dict[str, Tokens]) -> None:
    envelope = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    response = httpx2.post(
        stack.base + "/mcp",
        headers={
            "Authorization": f"Bearer {users['a'].access}",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2026-07-28",
            "Mcp-Method": "tools/list",
        },
        json={"jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": {"_meta": envelope}},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    text = response.text
    body = json.loads(text if text.lstrip().startswith("{") else text.split("data:", 1)[1].split("\n\n")[0])
    assert body["result"]["ttlMs"] == 300_000 and body["result"]["cacheScope"] == "private"
    logs = "\n".join(log.read_text() for log in stack.logs)
    assert '"request_id"' in logs and "dversum_mcp.access" in logs
    secrets = [stack.token_a, stack.token_b] + [t for u in users.values() for t in (u.access, u.refresh)]
    assert [s[:10] for s in secrets if s in logs] == []
    assert "code=" not in logs and "req=" not in logs  # paths are logged without their query strings
