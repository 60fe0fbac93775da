"""`--lockdown` on the multi-user server: text withheld from one user's results can be revealed only by
that user (refs are kept in the process, one store for everyone)."""

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
from tests.remote.test_multi_user import connect

pytestmark = pytest.mark.anyio
URI = "dversum://webhooks/events"


@pytest.fixture
def lockdown_server(stack: Stack) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = clean_env(
        DVERSUM_REDIS_URL=stack.redis_url,
        DVERSUM_MCP_PUBLIC_URL=base,
        DVERSUM_MCP_SECRET_KEYS=KEYS,
        DVERSUM_BASE_URL=stack.api_url,
        DVERSUM_LOCKDOWN="1",
    )
    proc = subprocess.Popen(
        [*SERVE, "--port", str(port), "--toolsets", "all"], env=env, stderr=(stack.tmp / "lockdown.log").open("wb")
    )
    try:
        wait_http(base + "/readyz", proc, 60)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


async def test_another_user_cannot_reveal_withheld_text(stack: Stack, lockdown_server: str) -> None:
    """Attack: user B calls `reveal_outside_text` with a ref from user A's result (a shared transcript,
    a screenshot, a log). Before: the ref store was one for all users: B got A's withheld text."""
    base = lockdown_server
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
