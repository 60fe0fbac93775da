"""Fixtures for HTTP-level sandbox tests: a fresh sandbox per test, two organizations, a settable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest

from dversum_sandbox import SandboxSettings, create_app
from dversum_sandbox.app import SandboxApp
from dversum_sandbox.resources import accounts


class Clock:
    """A settable clock: `clock.now`, `clock.set(...)`, `clock.advance(hours=1)`."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def set(self, value: datetime) -> None:
        self.now = value

    def advance(self, **delta: float) -> None:
        self.now = self.now + timedelta(**delta)


@dataclass
class Workspace:
    org_id: str
    user_id: str
    token: str


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 6, 3, 8, 0, tzinfo=UTC))  # a Wednesday


@pytest.fixture
def sandbox(tmp_path: Path, clock: Clock) -> Iterator[SandboxApp]:
    settings = SandboxSettings(data_dir=tmp_path / "sandbox", clock=clock, rate_limit=10_000, webhook_backoff_s=0.01)
    app = create_app(settings)
    yield app
    app.db.close()


SELLER = {
    "street": "Musterstraße 1",
    "postal_code": "10115",
    "city": "Berlin",
    "country": "DE",
    "vat_id": "DE111111111",
    "tax_number": "30/123/45678",
}
"""The seller data §14 Abs. 4 UStG requires before an invoice can be sent."""


@pytest.fixture
def org_a(sandbox: SandboxApp) -> Workspace:
    with sandbox.db.transaction():
        ids = accounts.create_workspace(
            sandbox.db, "Muster GmbH", "Anna Admin", "anna@muster.de", "anna", "2026-01-01T00:00:00Z"
        )
        sandbox.db.update("orgs", ids[0], SELLER)
    return Workspace(*ids)


@pytest.fixture
def org_b(sandbox: SandboxApp) -> Workspace:
    with sandbox.db.transaction():
        ids = accounts.create_workspace(
            sandbox.db, "Other AG", "Otto Other", "otto@other.de", "otto", "2026-01-01T00:00:00Z"
        )
        sandbox.db.update("orgs", ids[0], SELLER)
    return Workspace(*ids)


def _client(app: SandboxApp, token: str | None) -> httpx2.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1/api/v1", headers=headers
    )


@pytest.fixture
async def api(sandbox: SandboxApp, org_a: Workspace) -> AsyncIterator[httpx2.AsyncClient]:
    async with _client(sandbox, org_a.token) as client:
        yield client


@pytest.fixture
async def api_b(sandbox: SandboxApp, org_b: Workspace) -> AsyncIterator[httpx2.AsyncClient]:
    async with _client(sandbox, org_b.token) as client:
        yield client


@pytest.fixture
async def public(sandbox: SandboxApp) -> AsyncIterator[httpx2.AsyncClient]:
    async with _client(sandbox, None) as client:
        yield client
