"""The sandbox framework: auth, errors, rate limit headers, unknown routes, pagination of /users."""

from __future__ import annotations

import httpx2
import pytest

from dversum_sandbox import SandboxSettings, create_app
from dversum_sandbox.resources import accounts

pytestmark = pytest.mark.anyio


async def test_me_and_auth(api: httpx2.AsyncClient, public: httpx2.AsyncClient) -> None:
    me = await api.get("/me")
    assert me.status_code == 200
    assert me.json()["slug"] == "anna"
    assert me.headers["x-ratelimit-limit"] == "10000"
    denied = await public.get("/me")
    assert denied.status_code == 401
    assert denied.json()["error"] == "unauthorized"
    bad = await public.get("/me", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


async def test_unknown_route_is_json_404(api: httpx2.AsyncClient) -> None:
    response = await api.get("/does-not-exist")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


async def test_other_org_user_is_404(api: httpx2.AsyncClient, api_b: httpx2.AsyncClient) -> None:
    other = (await api_b.get("/me")).json()["id"]
    assert (await api.get(f"/users/{other}")).status_code == 404


async def test_rate_limit_429_with_retry_after(tmp_path: object) -> None:
    from pathlib import Path

    app = create_app(SandboxSettings(data_dir=Path(str(tmp_path)) / "s", rate_limit=3))
    with app.db.transaction():
        _, _, token = accounts.create_workspace(app.db, "O", "U", "u@x.de", "u", "2026-01-01T00:00:00Z")
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app),
        base_url="http://127.0.0.1/api/v1",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        codes = [(await client.get("/me")).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        last = await client.get("/me")
        assert last.status_code == 429
        assert int(last.headers["retry-after"]) >= 1
        assert last.headers["x-ratelimit-remaining"] == "0"
        assert last.json()["error"] == "rate_limited"
    app.db.close()


async def test_users_paginate(api: httpx2.AsyncClient) -> None:
    page = (await api.get("/users", params={"per_page": 1})).json()
    assert page["total"] == 1 and page["per_page"] == 1 and len(page["users"]) == 1
    too_many = await api.get("/users", params={"per_page": 101})
    assert too_many.status_code == 422
    assert too_many.json()["field"] == "per_page"


async def test_lone_surrogate_and_out_of_range_times_are_client_errors(api: httpx2.AsyncClient) -> None:
    bad_unicode = await api.post(
        "/calendar/events", content=b'{"title": "\\ud800"}', headers={"Content-Type": "application/json"}
    )
    assert bad_unicode.status_code == 400
    far = await api.get("/calendar/events", params={"from": "0001-01-01T00:00:00+01:00", "to": "2026-01-01T00:00:00Z"})
    assert far.status_code == 422


async def test_head_does_not_run_get_handlers(api: httpx2.AsyncClient) -> None:
    response = await api.head("/me")
    assert response.status_code == 405


async def test_whole_number_floats_are_integers_and_outbox_kind_is_checked(api: httpx2.AsyncClient) -> None:
    page = await api.get("/sandbox/outbox", params={"kind": "bogus"})
    assert page.status_code == 422 and page.json()["field"] == "kind"
    assert (await api.get("/sandbox/outbox", params={"kind": "invoice"})).status_code == 200
