"""deploy/nginx.conf as shipped, attacked: what the replicas take for the client's address must be the
address nginx saw, not an `X-Forwarded-For` the client sent (the compose file trusts the proxy's
headers from anywhere, `FORWARDED_ALLOW_IPS: "*"`, so uvicorn takes the leftmost entry)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
import redis

from tests.remote.conftest import REDIRECT, Stack, authorize, hidden, pkce, register
from tests.remote.test_deploy import running_example_proxy


@pytest.fixture(scope="module")
def example_proxy(stack: Stack) -> Iterator[tuple[str, Path, Path]]:
    """deploy/nginx.conf (site values swapped, as in test_deploy.py) in front of the stack's replicas."""
    with running_example_proxy(stack, "deploy-nginx-attack") as proxy:
        yield proxy


def test_a_forged_forwarded_for_does_not_make_a_fresh_client_address(
    stack: Stack, example_proxy: tuple[str, Path, Path]
) -> None:
    """Attack: wrong tokens pasted on the linking page through the example proxy, each request with
    another `X-Forwarded-For: 203.0.113.<n>`. Before: nginx appended the real address
    (`$proxy_add_x_forwarded_for`), uvicorn took the forged first entry, so the per-address limit
    (30 refused tokens) never applied: every one of 35 pastes was checked with dVersum."""
    url, crt, _ = example_proxy
    keys = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    for key in keys.scan_iter("dv:linkfail:addr:*"):
        keys.delete(key)
    try:
        statuses = []
        with httpx2.Client(timeout=30) as http, httpx2.Client(verify=str(crt), timeout=30) as tls:
            client_id = register(http, stack.base)
            for n in range(35):
                link = authorize(http, stack.base, client_id, pkce()[1], REDIRECT).headers["location"]
                page = http.get(link)
                form = {
                    "req": hidden(page.text, "req"),
                    "csrf": hidden(page.text, "csrf"),
                    "dversum_token": f"dvk_x{n}",
                }
                tls.cookies = http.cookies
                answer = tls.post(url + "/link", data=form, headers={"X-Forwarded-For": f"203.0.113.{n + 1}"})
                statuses.append(answer.status_code)
        assert statuses.count(429) >= 5, statuses
    finally:
        for key in keys.scan_iter("dv:linkfail:addr:*"):
            keys.delete(key)
        keys.close()
