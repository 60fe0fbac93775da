"""`--lockdown` on the multi-user server: text withheld from one user's results can be revealed only by
that user, and on any replica (refs are sealed into Redis with the shared keys)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator

import anyio
import httpx2
import pytest

from tests.hardening.conftest import clean_env
from tests.remote.conftest import KEYS, SERVE, Stack, free_port, login, wait_http
from tests.remote.stack import stop
from tests.remote.test_multi_user import connect

pytestmark = pytest.mark.anyio
URI = "dversum://webhooks/events"


@pytest.fixture
def lockdown_servers(stack: Stack) -> Iterator[list[str]]:
    """Two replicas with --lockdown, one public URL (the first's), one Redis and key set."""
    ports = [free_port(), free_port()]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    env = clean_env(
        DVERSUM_REDIS_URL=stack.redis_url,
        DVERSUM_MCP_PUBLIC_URL=bases[0],
        DVERSUM_MCP_SECRET_KEYS=KEYS,
        DVERSUM_BASE_URL=stack.api_url,
        DVERSUM_LOCKDOWN="1",
    )
    procs = [
        subprocess.Popen(
            [*SERVE, "--port", str(port), "--toolsets", "all"],
            env=env,
            stderr=(stack.tmp / f"lockdown-{i}.log").open("wb"),
        )
        for i, port in enumerate(ports)
    ]
    try:
        for base, proc in zip(bases, procs, strict=True):
            wait_http(base + "/readyz", proc, 60)
        yield bases
    finally:
        for proc in procs:
            stop(proc)


async def test_another_user_cannot_reveal_withheld_text(stack: Stack, lockdown_servers: list[str]) -> None:
    """Attack: user B calls `reveal_outside_text` with a ref from user A's result (a shared transcript,
    a screenshot, a log). Before: the ref store was one for all users: B got A's withheld text."""
    base, other = lockdown_servers
    a = await anyio.to_thread.run_sync(login, base, stack.token_a)
    b = await anyio.to_thread.run_sync(login, base, stack.token_b)
    secret_text = "A's confidential webhook note 4711"
    async with connect(base, a.access) as client:
        inbox = json.loads((await client.read_resource(URI)).contents[0].text)["inbox_url"]  # type: ignore[union-attr]
        posted = httpx2.post(inbox.replace(base, base), json={"event": "x", "note": secret_text}, timeout=20)
        assert posted.status_code == 204
        withheld = (await client.read_resource(URI)).contents[0].text  # type: ignore[union-attr]
        assert secret_text not in withheld
        ref = re.search(r"ref=(ot_[0-9a-f]+)", withheld)
        assert ref, withheld
        own = await client.call_tool("reveal_outside_text", {"ref": ref.group(1)})
        assert not own.is_error and secret_text in json.dumps(own.structured_content)
    async with connect(base, b.access) as client:
        stolen = await client.call_tool("reveal_outside_text", {"ref": ref.group(1)})
    assert stolen.is_error and secret_text not in json.dumps(stolen.model_dump(mode="json"))
    async with connect(other, b.access) as client:  # nor on the replica that did not withhold it
        stolen = await client.call_tool("reveal_outside_text", {"ref": ref.group(1)})
    assert stolen.is_error and secret_text not in json.dumps(stolen.model_dump(mode="json"))


async def test_withheld_text_is_revealed_on_any_replica(stack: Stack, lockdown_servers: list[str]) -> None:
    """Stateless replicas: a ref one replica gave out is revealed by the other (before: refs lived in
    the process, so behind a round-robin balancer every other reveal failed with "no withheld text"),
    and Redis holds the withheld text only sealed."""
    first, second = lockdown_servers
    a = await anyio.to_thread.run_sync(login, first, stack.token_a)
    secret_text = "Guest note 0815 for the other replica"
    async with connect(first, a.access) as client:
        inbox = json.loads((await client.read_resource(URI)).contents[0].text)["inbox_url"]  # type: ignore[union-attr]
        assert httpx2.post(inbox, json={"event": "y", "note": secret_text}, timeout=20).status_code == 204
        withheld = (await client.read_resource(URI)).contents[0].text  # type: ignore[union-attr]
    refs = re.findall(r"ref=(ot_[0-9a-f]+)", withheld)
    assert refs and secret_text not in withheld
    async with connect(second, a.access) as client:
        shown = [await client.call_tool("reveal_outside_text", {"ref": ref}) for ref in refs]
    assert all(not r.is_error for r in shown), [r.content[0].text for r in shown]  # type: ignore[union-attr]
    assert any(secret_text in json.dumps(r.structured_content) for r in shown)
    from redis import Redis

    redis = Redis.from_url(stack.redis_url)
    keys = {key.decode() for key in redis.scan_iter(match="dv:ot:*", count=1000)}
    assert {f"dv:ot:{ref}" for ref in refs} <= keys
    for key in keys:
        value = redis.get(key) or b""
        assert b"0815" not in value and b"Guest note" not in value
        assert 0 < redis.ttl(key) <= 3600
    redis.close()
