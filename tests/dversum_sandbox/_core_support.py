"""Helpers for the core resource tests (clients … pages): event capture and quick fixtures-by-call."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx2
import pytest

from dversum_sandbox.app import SandboxApp
from dversum_sandbox.resources import accounts

Events = list[tuple[str, dict[str, Any]]]


def capture_events(sandbox: SandboxApp, monkeypatch: pytest.MonkeyPatch) -> Events:
    """Every `(event, data)` the sandbox records from now on, in order."""
    captured: Events = []

    def record(db: object, org_id: str, events: Events, now: datetime) -> None:
        captured.extend(events)

    monkeypatch.setattr(sandbox.sink, "record", record)
    return captured


def names(events: Events) -> list[str]:
    return [name for name, _ in events]


def add_user(sandbox: SandboxApp, org_id: str, name: str, slug: str) -> str:
    with sandbox.db.transaction():
        return accounts.add_user(sandbox.db, org_id, name, f"{slug}@muster.de", slug, "member", "2026-01-01T00:00:00Z")


def token_for(sandbox: SandboxApp, org_id: str, user_id: str, token: str) -> str:
    with sandbox.db.transaction():
        sandbox.db.insert(
            "api_tokens",
            {
                "token_hash": accounts.hash_token(token),
                "org_id": org_id,
                "user_id": user_id,
                "label": "test",
                "created_at": "2026-01-01T00:00:00Z",
            },
        )
    return token


def client_as(sandbox: SandboxApp, token: str) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=sandbox),
        base_url="http://127.0.0.1/api/v1",
        headers={"Authorization": f"Bearer {token}"},
    )


def ok(response: httpx2.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.status_code != 204 else None


def error(response: httpx2.Response, status: int, token: str | None = None, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    if token is not None:
        assert body["error"] == token, body
    if field is not None:
        assert body.get("field") == field, body


async def project(api: httpx2.AsyncClient, name: str = "Relaunch", **extra: Any) -> dict[str, Any]:
    return ok(await api.post("/projects", json={"name": name, **extra}), 201)  # type: ignore[no-any-return]


async def task(api: httpx2.AsyncClient, project_id: str, title: str = "Task", **extra: Any) -> dict[str, Any]:
    body = {"title": title, "project_id": project_id, **extra}
    return ok(await api.post("/tasks", json=body), 201)  # type: ignore[no-any-return]
