"""Sandbox escapes: webhook deliveries cannot be rebound to an address the guard did not check,
and share-link passwords cannot be guessed by spreading the guesses over many addresses."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest

from dversum_sandbox import SandboxSettings, create_app
from dversum_sandbox.app import API_PREFIX, SandboxApp
from dversum_sandbox.resources import accounts
from tests.hardening.attack_support import Tally

pytestmark = pytest.mark.anyio
REBIND = Tally("webhook rebinding")
GUESS = Tally("share-link password")


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[tuple[SandboxApp, str]]:
    settings = SandboxSettings(
        data_dir=tmp_path / "sb", rate_limit=30, webhook_backoff_s=0.01, webhook_timeout_s=3.0, webhook_max_retries=0
    )
    app = create_app(settings)
    with app.db.transaction():
        _, _, token = accounts.create_workspace(
            app.db, "Muster GmbH", "Anna Admin", "anna@muster.de", "anna", "2026-01-01T00:00:00Z"
        )
    yield app, token
    app.db.close()


def _api(app: SandboxApp, token: str | None = None, client: tuple[str, int] = ("127.0.0.1", 50000)) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx2.ASGITransport(app=app, client=client)
    return httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1" + API_PREFIX, headers=headers)


# ---- DNS rebinding --------------------------------------------------------------------------------
class Listener:
    """Records the requests one loopback address:port receives."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in head[1:] if line)}
        await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append(headers)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()


@asynccontextmanager
async def _two_listeners() -> AsyncIterator[tuple[int, Listener, Listener]]:
    """The checked address (127.0.0.1) and the rebound one (::1), on one port number."""
    for _ in range(20):
        checked, rebound = Listener(), Listener()
        checked.server = await asyncio.start_server(checked.handle, "127.0.0.1", 0)
        port = checked.server.sockets[0].getsockname()[1]
        try:
            rebound.server = await asyncio.start_server(rebound.handle, "::1", port)
        except OSError:
            checked.server.close()
            continue
        try:
            yield port, checked, rebound
        finally:
            for listener in (checked, rebound):
                assert listener.server is not None
                listener.server.close()
        return
    raise RuntimeError("no port free on both loopback addresses")


@pytest.mark.parametrize("scheme_host", ["rebind.test", "Rebind.TEST"])
async def test_webhook_delivery_cannot_be_rebound(
    sandbox: tuple[SandboxApp, str], monkeypatch: pytest.MonkeyPatch, scheme_host: str
) -> None:
    """A resolver we control (the one fault a test cannot cause for real): the name answers
    127.0.0.1 first and ::1 afterwards. The POST must reach the address that was checked."""
    app, token = sandbox
    real = socket.getaddrinfo
    lookups: list[str] = []

    async with _two_listeners() as (port, checked, rebound):

        def rebinding(host: Any, port_: Any, *args: Any, **kw: Any) -> Any:
            name = host.decode() if isinstance(host, bytes) else host  # anyio passes IDNA bytes
            if isinstance(name, str) and name.lower() == "rebind.test":
                lookups.append(name)
                if len(lookups) == 1:
                    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
                return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port, 0, 0))]
            return real(host, port_, *args, **kw)

        monkeypatch.setattr(socket, "getaddrinfo", rebinding)
        async with _api(app, token) as api:
            made = await api.post(
                "/webhooks", json={"url": f"http://{scheme_host}:{port}/hook", "events": ["client.created"]}
            )
            assert made.status_code == 201, made.text
            assert (await api.post("/clients", json={"name": "Rebind GmbH"})).status_code == 201
            deadline = time.monotonic() + 10
            while not (checked.requests or rebound.requests) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
        await app.sink.aclose()
    held = rebound.requests == [] and len(checked.requests) == 1 and len(lookups) == 1
    assert REBIND.count(held), f"lookups={lookups} checked={checked.requests} rebound={rebound.requests}"
    assert checked.requests[0]["host"] == f"{scheme_host}:{port}"  # the URL's Host header is kept


async def test_pinned_delivery_keeps_the_tls_server_name() -> None:
    from dversum_sandbox.resources.webhook_delivery import _pinned, _sni

    url, headers = _pinned("https://hooks.example.org:8443/in?x=1", "127.0.0.1")
    assert url == "https://127.0.0.1:8443/in?x=1" and headers == {"Host": "hooks.example.org:8443"}
    assert _sni("https://hooks.example.org:8443/in") == {"sni_hostname": "hooks.example.org"}
    assert _pinned("http://h.test/x", "::1")[0] == "http://[::1]/x"


# ---- share-link passwords -------------------------------------------------------------------------
async def _share(app: SandboxApp, token: str) -> str:
    async with _api(app, token) as api:
        up = await api.post("/storage/files", files={"file": ("geheim.txt", b"streng geheim", "text/plain")})
        assert up.status_code == 201, up.text
        share = await api.post(f"/storage/shares/{up.json()['id']}", json={"password": "nordlicht"})
        assert share.status_code == 201, share.text
        return str(share.json()["url"]).rsplit("/", 1)[-1]


async def test_password_guesses_from_many_addresses_are_limited(sandbox: tuple[SandboxApp, str]) -> None:
    """200 wrong guesses from 100 addresses (2 each, far under the per-address limit), then the
    right password: the link must have locked before the attacker's list reached it."""
    app, token = sandbox
    link = await _share(app, token)
    codes: list[int] = []
    for i in range(200):
        async with _api(app, client=(f"10.9.{i // 2 % 250}.{i % 2 + 1}", 40000 + i)) as visitor:
            answer = await visitor.get(f"/public/shares/{link}", headers={"X-Share-Password": f"guess-{i}"})
            codes.append(answer.status_code)
    async with _api(app, client=("10.99.0.1", 41000)) as visitor:
        right = await visitor.get(f"/public/shares/{link}", params={"password": "nordlicht"})
    held = right.status_code == 429 and 429 in codes and codes.count(403) <= 20
    assert GUESS.count(held), f"wrong={codes.count(403)} locked={codes.count(429)} final={right.status_code}"
    assert "Retry-After" in right.headers and right.json()["error"] == "too_many_password_attempts"


async def test_the_lock_is_per_link_and_ends(sandbox: tuple[SandboxApp, str], monkeypatch: pytest.MonkeyPatch) -> None:
    app, token = sandbox
    locked, other = await _share(app, token), await _share(app, token)
    for i in range(30):
        async with _api(app, client=(f"10.8.0.{i + 1}", 42000 + i)) as visitor:
            await visitor.get(f"/public/shares/{locked}", params={"password": f"nope-{i}"})
    async with _api(app, client=("10.7.0.1", 43000)) as visitor:
        assert (await visitor.get(f"/public/shares/{locked}", params={"password": "nordlicht"})).status_code == 429
        assert (await visitor.get(f"/public/shares/{other}", params={"password": "nordlicht"})).status_code == 200
        from dversum_sandbox.resources import storage

        later = time.monotonic() + 16 * 60
        monkeypatch.setattr(storage.SHARE_GUESSES, "_clock", lambda: later)
        assert (await visitor.get(f"/public/shares/{locked}", params={"password": "nordlicht"})).status_code == 200
