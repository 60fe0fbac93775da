"""Hardening fixtures: a seeded sandbox template copied per test, status recording, loopback helpers.

Seeding once (≈2 s) and copying the data folder per test keeps every fuzz/fault test on a
fresh, realistic workspace without paying the seed each time. Every server these suites run
listens on 127.0.0.1 only; subprocesses get an environment without the developer's DVERSUM_*.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from dversum_mcp.tools.registry import Registry
from dversum_sandbox import SandboxSettings, create_app
from dversum_sandbox.app import API_PREFIX
from dversum_sandbox.seed.workspace import ensure_seeded
from tests.dversum_mcp.conftest import Harness

LOOPBACK = "127.0.0.1"
LONG = os.environ.get("DVERSUM_LONG_TESTS") == "1"
HOOK_URL = "http://127.0.0.1:9/hook"  # discard port: nothing listens, deliveries are off anyway


SUMMARY: dict[str, str] = {}
"""Counts each suite reports (calls fuzzed, faults injected, leaks found), printed at the end."""


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SUMMARY:
        terminalreporter.write_sep("-", "hardening")
        for key in sorted(SUMMARY):
            terminalreporter.write_line(f"{key}: {SUMMARY[key]}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any DVERSUM_* setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DVERSUM_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


PYTHON = sys.executable


@dataclass(frozen=True)
class Template:
    data_dir: Path
    token: str
    other_token: str
    org_id: str
    user_id: str


def sandbox_settings(data_dir: Path, **kw: Any) -> SandboxSettings:
    kw.setdefault("rate_limit", 1_000_000)
    kw.setdefault("deliver_webhooks", False)
    kw.setdefault("webhook_backoff_s", 0.01)
    return SandboxSettings(data_dir=data_dir, **kw)


async def _seed_template(data_dir: Path) -> Template:
    settings = sandbox_settings(data_dir)
    seeded = await ensure_seeded(settings)
    app = create_app(settings)
    try:  # a webhook and a running timer, so every id family has real ids
        async with httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app),
            base_url="http://sandbox.localhost" + API_PREFIX,
            headers={"Authorization": f"Bearer {seeded.token}"},
        ) as http:
            hook = await http.post("/webhooks", json={"url": HOOK_URL, "events": ["client.created", "task.created"]})
            assert hook.status_code == 201, hook.text
            await http.post("/clients", json={"name": "Webhook Auslöser GmbH"})
    finally:
        await app.aclose()
    return Template(data_dir, seeded.token, seeded.other_token, seeded.org_id, seeded.user_id)


@pytest.fixture(scope="session")
def registry() -> Registry:
    return Registry()


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return anyio.run(_seed_template, tmp_path_factory.mktemp("seeded") / "sandbox")


def copy_template(template: Template, target: Path) -> Path:
    shutil.copytree(template.data_dir, target)
    return target


@dataclass(repr=False)
class Seeded(Harness):
    """The MCP harness on a copy of the seeded workspace, with every response status recorded."""

    statuses: list[tuple[str, str, int]] = field(default_factory=list)

    def __repr__(self) -> str:  # failure reports print fixture values: never the token
        return f"Seeded(org_id={self.org_id!r}, data_dir={str(self.app.settings.data_dir)!r})"

    def recorder(self, inner: httpx2.AsyncBaseTransport) -> httpx2.AsyncBaseTransport:
        return StatusRecorder(inner, self.statuses)

    def ids(self) -> IdPool:
        return IdPool.load(self.app.settings.data_dir / "sandbox.sqlite3", self.org_id)


class StatusRecorder(httpx2.AsyncBaseTransport):
    """Records (method, path, status) of every answer that came back."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, log: list[tuple[str, str, int]]) -> None:
        self.inner = inner
        self.log = log

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self.inner.handle_async_request(request)
        self.log.append((request.method, request.url.raw_path.decode("ascii"), response.status_code))
        return response


@pytest.fixture
def seeded(tmp_path: Path, seeded_template: Template, registry: Registry) -> Iterator[Seeded]:
    data_dir = copy_template(seeded_template, tmp_path / "sandbox")
    app = create_app(sandbox_settings(data_dir))
    yield Seeded(app, seeded_template.token, seeded_template.org_id, seeded_template.user_id, [], registry)
    app.db.close()


# ---- real ids from the seeded database, by argument name ------------------------------------
_TABLES = {
    "client_id": "clients",
    "project_id": "projects",
    "column_id": "project_columns",
    "move_tasks_to": "project_columns",
    "task_id": "tasks",
    "subtask_id": "subtasks",
    "comment_id": "task_comments",
    "time_entry_id": "time_entries",
    "invoice_id": "invoices",
    "payment_id": "invoice_payments",
    "quote_id": "quotes",
    "contract_id": "contracts",
    "event_id": "calendar_events",
    "page_id": "pages",
    "file_id": "files",
    "folder_id": "folders",
    "share_id": "shares",
    "booking_type_id": "booking_types",
    "booking_id": "bookings",
    "absence_id": "absences",
    "webhook_id": "webhooks",
    "user_id": "users",
    "assignee_id": "users",
    "assignee_ids": "users",
}
# (table, child column, parent column, parent argument, child argument): consistent pairs
PAIRS = (
    ("project_columns", "id", "project_id", "project_id", "column_id"),
    ("subtasks", "id", "task_id", "task_id", "subtask_id"),
    ("task_comments", "id", "task_id", "task_id", "comment_id"),
    ("invoice_payments", "id", "invoice_id", "invoice_id", "payment_id"),
    ("shares", "id", "file_id", "file_id", "share_id"),
)


@dataclass
class IdPool:
    by_arg: dict[str, list[str]]
    pairs: dict[tuple[str, str], list[tuple[str, str]]]
    slugs: list[tuple[str, str]]
    signing_tokens: list[str]

    @classmethod
    def load(cls, db_path: Path, org_id: str) -> IdPool:
        conn = sqlite3.connect(db_path)
        try:
            by_arg: dict[str, list[str]] = {}
            for arg, table in _TABLES.items():
                rows = conn.execute(f"SELECT id FROM {table} WHERE org_id = ? ORDER BY id", (org_id,)).fetchall()
                by_arg[arg] = [r[0] for r in rows]
            by_arg["parent_id"] = by_arg["page_id"] + by_arg["folder_id"]
            pairs = {}
            for table, child, parent, parent_arg, child_arg in PAIRS:
                rows = conn.execute(
                    f"SELECT {parent}, {child} FROM {table} WHERE org_id = ? ORDER BY id",
                    (org_id,),
                ).fetchall()
                pairs[(parent_arg, child_arg)] = [(r[0], r[1]) for r in rows]
            slugs = conn.execute(
                "SELECT u.slug, b.slug FROM booking_types b JOIN users u ON u.id = b.user_id WHERE b.org_id = ?",
                (org_id,),
            ).fetchall()
            tokens = conn.execute(
                "SELECT signing_token FROM quotes WHERE org_id = ? AND signing_token IS NOT NULL", (org_id,)
            ).fetchall()
        finally:
            conn.close()
        return cls(by_arg, pairs, [(a, b) for a, b in slugs], [t[0] for t in tokens])
