"""The demo seed: a realistic workspace through the API, isolation from org B, ensure_seeded and reset."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest

from dversum_sandbox import SandboxSettings, create_app
from dversum_sandbox.app import SandboxApp
from dversum_sandbox.seed.workspace import SeedError, ensure_seeded, reset, seed

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 6, 3, 8, 0, tzinfo=UTC)


def settings(path: Path) -> SandboxSettings:
    return SandboxSettings(data_dir=path, clock=lambda: NOW, rate_limit=50)


def client(app: SandboxApp, token: str | None) -> httpx2.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1/api/v1", headers=headers
    )


async def test_seed_fills_a_workspace(tmp_path: Path) -> None:
    # How long seeding takes (six invoice PDFs rendered at sending, GoBD) is measured by
    # bench/bench_startup.py (sandbox_seed), not here: a timed test fails on a loaded machine.
    app = create_app(settings(tmp_path / "s"))
    result = await seed(app, strict=False)
    assert all(s.startswith(("POST ", "GET ", "PUT ", "PATCH ")) for s in result.skipped)
    counts: dict[str, Any] = result.counts
    assert counts["folders"] == 4 and counts["files"] == 5 and counts["shares"] == 1
    assert counts["booking_types"] == 1 and counts["bookings"] == 1
    if "POST /clients" not in result.skipped:
        assert counts["clients"] == 9 and counts["other_clients"] == 1  # with an EU and a non-EU business
    # The app's own rate limit (50/min here) was lifted only while seeding.
    assert app.limiter.limit == 50

    async with client(app, result.token) as api, client(app, result.other_token) as other, client(app, None) as anon:
        me = (await api.get("/me")).json()
        assert me["slug"] == "admin" and me["organization"]["name"] == "Nordlicht Digital GmbH"
        assert (await api.get("/users")).json()["total"] == 3
        page = await anon.get("/public/booking/admin/termin-mit-naumche")
        assert page.status_code == 200 and page.json()["duration_minutes"] == 30
        files = (await api.get("/storage/files", params={"search": "."})).json()
        assert files["total"] == 5
        pdf = next(f for f in files["files"] if f["name"].endswith(".pdf"))
        link = (await api.get(f"/storage/files/{pdf['id']}/download")).json()["url"]
        assert (await anon.get(link.split("/api/v1", 1)[1])).content.startswith(b"%PDF-1.4")
        bookings = (await api.get("/bookings")).json()
        assert bookings["total"] == 1 and bookings["bookings"][0]["start_time"] > "2026-06-03T08:00:00Z"
        # Org B sees nothing of org A.
        assert (await other.get("/storage/files", params={"search": "."})).json()["total"] == 0
        assert (await other.get("/booking-types")).json()["total"] == 0
        assert (await other.get(f"/storage/files/{pdf['id']}")).status_code == 404
        if "POST /clients" not in result.skipped:
            assert [c["name"] for c in (await other.get("/clients")).json()["clients"]] == ["Geheimkunde GmbH"]
            assert (await api.get("/clients", params={"per_page": 100})).json()["total"] == 9
        # §14 Abs. 4 UStG: both organizations can send invoices; one goes to Austria under reverse charge
        for org in ((await api.get("/organization")).json(), (await other.get("/organization")).json()):
            assert all(org[k] for k in ("street", "postal_code", "city", "country", "vat_id", "tax_number", "iban"))
        invoices = (await api.get("/invoices", params={"per_page": 100})).json()["invoices"]
        austrian = next(i for i in invoices if i["client"]["name"] == "Alpenblick Tourismus GmbH")
        assert austrian["tax_treatment"] == "reverse_charge" and austrian["number"] and austrian["document_sha256"]
        swiss = (await api.get("/clients", params={"search": "Bergsicht"})).json()["clients"][0]
        assert swiss["country"] == "CH" and swiss["vat_id"] is None

    with pytest.raises(SeedError, match="already seeded"):
        await seed(app, strict=False)
    await app.aclose()


async def test_ensure_seeded_reuses_valid_token_and_reset_wipes(tmp_path: Path) -> None:
    conf = settings(tmp_path / "data")
    first = await ensure_seeded(conf, strict=False)
    token_file = conf.data_dir / "token"
    assert first.fresh and token_file.read_text().strip() == first.token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert (conf.data_dir / "other_token").read_text().strip() == first.other_token
    assert any(conf.files_dir.rglob("*"))

    again = await ensure_seeded(conf, strict=False)
    assert not again.fresh and again.token == first.token and again.org_id == first.org_id

    token_file.write_text("dvk_sandbox_revoked\n")
    reseeded = await ensure_seeded(conf, strict=False)
    assert reseeded.fresh and reseeded.token != first.token

    reset(conf)
    assert not token_file.exists() and not (conf.data_dir / "sandbox.sqlite3").exists()
    assert not conf.files_dir.exists()
