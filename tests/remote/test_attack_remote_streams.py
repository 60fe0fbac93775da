"""Long-lived `subscriptions/listen` streams against the multi-user server: one user cannot take
every stream slot of a replica, and SIGTERM ends open streams instead of waiting them out."""

from __future__ import annotations

import signal
import subprocess
import time

import anyio
import pytest

from dversum_mcp.remote.middleware import MAX_LISTEN_STREAMS_PER_USER
from tests.hardening.conftest import clean_env
from tests.remote.conftest import KEYS, SERVE, Stack, Tokens, free_port, login, wait_http
from tests.remote.test_multi_user import connect

pytestmark = pytest.mark.anyio
URI = "dversum://webhooks/events"


async def test_one_user_cannot_take_every_listen_slot(stack: Stack) -> None:
    """Promise: per-user isolation. Attack: a user opens listen stream after listen stream on one
    replica; the SDK's ListenHandler allows 1,024 streams per process *in total*, so one user could
    hold them all and every other user's `subscriptions/listen` there would be refused. Before: no
    per-user bound (the 17th stream of one user was served like the first)."""
    base = f"http://127.0.0.1:{stack.replicas[0]}"
    a: Tokens = await anyio.to_thread.run_sync(login, stack.base, stack.token_a)
    b: Tokens = await anyio.to_thread.run_sync(login, stack.base, stack.token_b)
    outcomes: list[str] = []
    done = anyio.Event()

    async def hold(access: str) -> None:
        try:
            async with connect(base, access) as client, client.listen(resource_subscriptions=[URI]):
                outcomes.append("open")
                await done.wait()
        except Exception as exc:  # the client wraps the JSON-RPC error in task-group exception groups
            outcomes.append(("refused: " if "too many open listen streams" in repr(exc) else "error: ") + repr(exc))

    async with anyio.create_task_group() as group:
        for count in range(1, MAX_LISTEN_STREAMS_PER_USER + 2):
            group.start_soon(hold, a.access)
            with anyio.fail_after(20):
                while len(outcomes) < count:
                    await anyio.sleep(0.02)
        mine = list(outcomes)
        group.start_soon(hold, b.access)
        with anyio.fail_after(20):
            while len(outcomes) < len(mine) + 1:
                await anyio.sleep(0.02)
        done.set()
    assert mine[:-1] == ["open"] * MAX_LISTEN_STREAMS_PER_USER, mine
    assert mine[-1].startswith("refused") and "listen streams" in mine[-1], mine[-1]
    assert outcomes[len(mine)] == "open"  # another user still gets a stream


async def test_sigterm_ends_open_listen_streams_at_once(stack: Stack) -> None:
    """Promise (Operations): on SIGTERM the server waits for running tool calls. Attack: keep a listen
    stream open (any client may, for hours). Before: uvicorn waited for that response too, so every
    shutdown took the whole grace period (DVERSUM_CALL_TIMEOUT + 5 s; 55 s by default, longer than
    Kubernetes' 30 s before SIGKILL)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = clean_env(
        DVERSUM_REDIS_URL=stack.redis_url,
        DVERSUM_MCP_PUBLIC_URL=base,
        DVERSUM_MCP_SECRET_KEYS=KEYS,
        DVERSUM_BASE_URL=stack.api_url,
        DVERSUM_CALL_TIMEOUT="20",
    )
    log = stack.tmp / "listen-shutdown.log"
    proc = subprocess.Popen([*SERVE, "--port", str(port)], env=env, stderr=log.open("wb"))  # noqa: ASYNC220
    try:
        wait_http(base + "/readyz", proc, 60)
        tokens = await anyio.to_thread.run_sync(login, base, stack.token_a)
        ended = anyio.Event()

        async def listen() -> None:
            try:
                async with connect(base, tokens.access) as client, client.listen(resource_subscriptions=[URI]) as sub:
                    listening.set()
                    async for _ in sub:
                        pass
            except Exception:  # the stream's end, however the client reports it
                pass
            ended.set()

        listening = anyio.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(listen)
            with anyio.fail_after(15):
                await listening.wait()
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = await anyio.to_thread.run_sync(lambda: proc.wait(40))
            took = time.monotonic() - started
            with anyio.fail_after(10):
                await ended.wait()
        assert code in (0, -signal.SIGTERM) and took < 8, (code, took)  # uvicorn re-raises the signal it caught
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
