"""Attack: request bodies nested beyond Python's JSON decoder and encoder.

Before: a body nested 100,000 deep made the sandbox's decoder raise RecursionError (HTTP 500), and
one nested 5,000 deep decoded but broke the re-encoding check (500 too). Both are client errors:
400 with a message, and the sandbox answers the next request."""

from __future__ import annotations

import httpx2
import pytest

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("depth", [5_000, 100_000])
async def test_deeply_nested_bodies_are_a_400(api: httpx2.AsyncClient, depth: int) -> None:
    body = '{"name": "Tief GmbH", "email": "tief@example.org", "notes": ' + "[" * depth + "]" * depth + "}"
    response = await api.post("/clients", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text[:200]
    assert "nested too deep" in response.json()["message"]
    after = await api.get("/clients")
    assert after.status_code == 200
