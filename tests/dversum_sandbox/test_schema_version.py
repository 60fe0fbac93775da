"""The sandbox database carries a fingerprint of its schema: a database made by another version
(CREATE TABLE IF NOT EXISTS would never migrate it) is reset and reseeded, with a log line; a
current one is kept with its data."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import pytest

from dversum_sandbox import SandboxSettings, create_app
from dversum_sandbox.app import SCHEMA, SandboxApp
from dversum_sandbox.db import schema_fingerprint
from dversum_sandbox.seed.data import CLIENTS
from dversum_sandbox.seed.workspace import ensure_seeded

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 6, 3, 8, 0, tzinfo=UTC)


def _settings(path: Path) -> SandboxSettings:
    return SandboxSettings(data_dir=path, clock=lambda: NOW)


def _client(app: SandboxApp, token: str) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app),
        base_url="http://127.0.0.1/api/v1",
        headers={"Authorization": f"Bearer {token}"},
    )


def _sql(conf: SandboxSettings, *statements: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(str(conf.db_path), isolation_level=None)
    try:
        return [row for s in statements for row in conn.execute(s).fetchall()]
    finally:
        conn.close()


def test_the_fingerprint_changes_with_the_schema() -> None:
    assert schema_fingerprint(SCHEMA) == schema_fingerprint(list(SCHEMA))
    assert 0 < schema_fingerprint(SCHEMA) < 2**31
    changed = (*SCHEMA[:-1], SCHEMA[-1] + "\nCREATE TABLE IF NOT EXISTS extra (id TEXT PRIMARY KEY);")
    assert schema_fingerprint(changed) != schema_fingerprint(SCHEMA)


async def test_a_database_of_another_schema_is_reset_and_reseeded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    conf = _settings(tmp_path / "data")
    first = await ensure_seeded(conf, strict=False)
    assert _sql(conf, "PRAGMA user_version") == [(schema_fingerprint(SCHEMA),)]
    # What an older release left behind: a clients table without a column this one writes, and no stamp.
    _sql(conf, "ALTER TABLE clients DROP COLUMN vat_id", "PRAGMA user_version = 0")

    with caplog.at_level(logging.WARNING, logger="dversum_sandbox"):
        again = await ensure_seeded(conf, strict=False)
    assert again.fresh and again.token != first.token
    assert any("schema changed" in r.getMessage() and "resetting" in r.getMessage() for r in caplog.records)
    assert _sql(conf, "PRAGMA user_version") == [(schema_fingerprint(SCHEMA),)]
    app = create_app(conf)
    async with _client(app, again.token) as api:
        listed = await api.get("/clients", params={"per_page": 100})
        assert listed.status_code == 200 and listed.json()["total"] == len(CLIENTS)
        made = await api.post("/clients", json={"name": "Neu GmbH", "vat_id": "DE123456789"})
        assert made.status_code == 201 and made.json()["vat_id"] == "DE123456789"
    await app.aclose()


async def test_a_database_of_this_schema_is_kept(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    conf = _settings(tmp_path / "data")
    first = await ensure_seeded(conf, strict=False)
    app = create_app(conf)
    async with _client(app, first.token) as api:
        made = (await api.post("/clients", json={"name": "Bleibt GmbH"})).json()
    await app.aclose()

    with caplog.at_level(logging.WARNING, logger="dversum_sandbox"):
        again = await ensure_seeded(conf, strict=False)
    assert not again.fresh and again.token == first.token
    assert not [r for r in caplog.records if "schema changed" in r.getMessage()]
    app = create_app(conf)
    async with _client(app, again.token) as api:
        assert (await api.get(f"/clients/{made['id']}")).json()["name"] == "Bleibt GmbH"
    await app.aclose()
