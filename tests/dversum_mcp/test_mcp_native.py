"""MCP beyond tools: resources, subscriptions, prompts with completions, logging, progress, cancellation."""

from __future__ import annotations

import base64
import json
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from tests.dversum_mcp.conftest import Harness, structured

pytestmark = pytest.mark.anyio


async def _workspace(client: Any) -> dict[str, Any]:
    customer = structured(
        await client.call_tool("create_client", {"name": "ATAS Vertriebs GmbH", "email": "a@atas.de"})
    )
    project = structured(await client.call_tool("create_project", {"name": "Q2 Relaunch", "client_id": customer["id"]}))
    task = structured(await client.call_tool("create_task", {"project_id": project["id"], "title": "Mockup"}))
    page = structured(
        await client.call_tool(
            "create_page", {"title": "Q2 Analyse", "content": "| Metrik | Wert |\n|---|---|\n| Revenue | 41.804 € |"}
        )
    )
    invoice = structured(
        await client.call_tool(
            "create_invoice",
            {
                "client_id": customer["id"],
                "line_items": [{"description": "Beratung", "quantity": 8, "unit_price_cents": 12500, "tax_rate": 19}],
            },
        )
    )
    return {"client": customer, "project": project, "task": task, "page": page, "invoice": invoice}


async def test_resources_and_templates(harness: Harness) -> None:
    async with harness.mcp() as client:
        ws = await _workspace(client)
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        assert templates == {
            "dversum://pages/{page_id}",
            "dversum://invoices/{invoice_id}/pdf",
            "dversum://clients/{client_id}",
        }
        listed = {r.uri: r for r in (await client.list_resources()).resources}
        assert "dversum://pages/tree" in listed
        assert listed[f"dversum://pages/{ws['page']['id']}"].title == "Q2 Analyse"
        page = (await client.read_resource(f"dversum://pages/{ws['page']['id']}")).contents[0]
        assert page.mime_type == "text/markdown" and "| Revenue" in page.text and page.text.startswith("# Q2 Analyse")
        pdf = (await client.read_resource(f"dversum://invoices/{ws['invoice']['id']}/pdf")).contents[0]
        assert pdf.mime_type == "application/pdf" and base64.b64decode(pdf.blob).startswith(b"%PDF")
        customer = json.loads((await client.read_resource(f"dversum://clients/{ws['client']['id']}")).contents[0].text)
        assert customer["name"] == "ATAS Vertriebs GmbH"
        tree = json.loads((await client.read_resource("dversum://pages/tree")).contents[0].text)
        assert tree["pages"][0]["title"] == "Q2 Analyse"
        for bad in ("dversum://pages/../etc", "dversum://nope", "dversum://clients/does-not-exist"):
            with pytest.raises(MCPError):
                await client.read_resource(bad)


async def test_page_subscription_gets_updates(harness: Harness) -> None:
    updates: list[str] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ServerNotification) and isinstance(message, types.ResourceUpdatedNotification):
            updates.append(str(message.params.uri))
        root = getattr(message, "root", message)
        if isinstance(root, types.ResourceUpdatedNotification):
            updates.append(str(root.params.uri))

    async with harness.mcp(message_handler=on_message) as client:
        ws = await _workspace(client)
        uri = f"dversum://pages/{ws['page']['id']}"
        await client.subscribe_resource(uri)
        assert not (await client.call_tool("append_to_page", {"page_id": ws["page"]["id"], "content": "Neu"})).is_error
        with anyio.fail_after(5):
            while uri not in updates:
                await anyio.sleep(0.02)
        await client.unsubscribe_resource(uri)
        updates.clear()
        await client.call_tool("append_to_page", {"page_id": ws["page"]["id"], "content": "Noch neuer"})
        await anyio.sleep(0.1)
        assert updates == []


async def test_prompts_with_data_and_completions(harness: Harness) -> None:
    async with harness.mcp() as client:
        ws = await _workspace(client)
        await client.call_tool(
            "create_time_entry",
            {"task_id": ws["task"]["id"], "started_at": "2026-06-01T07:00:00Z", "duration": "3h"},
        )
        names = {p.name for p in (await client.list_prompts()).prompts}
        assert names == {
            "weekly_timesheet_review",
            "overdue_invoice_dunning",
            "project_status_report",
            "meeting_notes_to_tasks",
        }
        review = await client.get_prompt("weekly_timesheet_review", {"week_of": "2026-06-03"})
        text = review.messages[0].content.text
        assert "2026-06-01" in text and '"hours":3.0' in text
        report = await client.get_prompt("project_status_report", {"project": "q2 relaunch"})
        assert "Mockup" in report.messages[0].content.text
        notes = await client.get_prompt(
            "meeting_notes_to_tasks", {"project": "Q2 Relaunch", "notes": "Anna: Logo bis Freitag"}
        )
        assert "Logo bis Freitag" in notes.messages[0].content.text and "To do" in notes.messages[0].content.text
        dunning = await client.get_prompt("overdue_invoice_dunning", {})
        assert "Overdue invoices (0)" in dunning.messages[0].content.text
        with pytest.raises(MCPError):
            await client.get_prompt("project_status_report", {})
        completion = await client.complete(
            types.PromptReference(name="project_status_report"), {"name": "project", "value": "Q2"}
        )
        assert completion.completion.values == ["Q2 Relaunch"]
        clients = await client.complete(
            types.PromptReference(name="overdue_invoice_dunning"), {"name": "client", "value": "ata"}
        )
        assert clients.completion.values == ["ATAS Vertriebs GmbH"]


async def test_debug_log_notifications_summarise_requests(harness: Harness) -> None:
    logs: list[Any] = []

    async def on_log(params: Any) -> None:
        logs.append(params)

    async with harness.mcp(logging_callback=on_log) as client:
        await client.set_logging_level("debug")
        assert not (await client.call_tool("list_clients", {})).is_error
        with anyio.fail_after(5):
            while not logs:
                await anyio.sleep(0.02)
    entry = logs[0].data
    assert entry["tool"] == "list_clients" and entry["request"] == "GET /clients" and entry["status"] == 200
    assert "duration_ms" in entry and harness.token not in json.dumps(entry)


async def test_progress_for_summaries_and_uploads(harness: Harness, tmp_path: Any) -> None:
    events: list[tuple[float, float | None, str | None]] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        events.append((done, total, message))

    async with harness.mcp() as client:
        ws = await _workspace(client)
        await client.call_tool(
            "create_time_entry", {"task_id": ws["task"]["id"], "started_at": "2026-06-01T07:00:00Z", "duration": "1h"}
        )
        await client.call_tool(
            "summarize_time", {"from": "2026-06-01T00:00:00Z", "to": "2026-06-02T00:00:00Z"}, progress_callback=progress
        )
        assert any("time entries" in (m or "") for _, _, m in events)
        events.clear()
        data = base64.b64encode(b"x" * 2048).decode()
        result = await client.call_tool(
            "upload_file", {"content_base64": data, "filename": "x.txt"}, progress_callback=progress
        )
        assert not result.is_error
        assert events[-1][0] == events[-1][1] == 2048


async def test_cancelled_call_writes_nothing_and_server_stays_up(harness: Harness) -> None:
    class Slow(httpx2.AsyncBaseTransport):
        def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
            self.inner = inner

        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            if request.method == "POST":
                await anyio.sleep(30)
            return await self.inner.handle_async_request(request)

    async with harness.mcp(wrap=Slow) as client:
        with anyio.move_on_after(0.5):
            await client.call_tool("create_client", {"name": "Never"})
        listed = structured(await client.call_tool("list_clients", {"search": "Never"}))
        assert listed["total"] == 0


_TRACED = """
import contextlib, json, sys, tempfile
from pathlib import Path
import anyio, httpx2
from opentelemetry import trace
from mcp import Client

class Recorder(trace.NoOpTracer):
    names: list[str] = []

    @contextlib.contextmanager
    def start_as_current_span(self, name, *args, **kwargs):
        Recorder.names.append(name)
        yield trace.INVALID_SPAN

class Provider(trace.NoOpTracerProvider):
    def get_tracer(self, *args, **kwargs):
        return Recorder()

if sys.argv[1] == "installed":
    trace.set_tracer_provider(Provider())

from dversum_mcp.api.client import ApiClient
from dversum_mcp.cli.backend import SANDBOX_BASE_URL
from dversum_mcp.config import Secret, Settings
from dversum_mcp.tools.registry import Registry, Selection
from dversum_mcp.server.handlers import ServerState, build_server
from dversum_sandbox import SandboxSettings, create_app
from dversum_sandbox.seed.workspace import ensure_seeded

async def main():
    settings = SandboxSettings(data_dir=Path(tempfile.mkdtemp()))
    seeded = await ensure_seeded(settings)
    app = create_app(settings)
    api = ApiClient(base_url=SANDBOX_BASE_URL, token=seeded.token, transport=httpx2.ASGITransport(app=app))
    state = ServerState(Settings(token=Secret("")), Registry(), api, Selection(sandbox=True))
    server = build_server(state)
    if sys.argv[1] == "late":  # installed only after the server was built: its requests go untraced
        trace.set_tracer_provider(Provider())
    async with api, Client(server, mode="legacy") as client:
        result = await client.call_tool("get_current_user", {})
    await app.aclose()
    spans = sum(type(m).__name__ == "OpenTelemetryMiddleware" for m in server.middleware)
    print(json.dumps({"spans": Recorder.names, "middleware": spans, "ok": not result.is_error}))

anyio.run(main)
"""


@pytest.mark.parametrize("provider", ["installed", "late"])
def test_request_spans_only_when_a_tracer_provider_is_installed(provider: str) -> None:
    """With an OpenTelemetry tracer provider installed when the server is built, every request
    gets the SDK's span; without one, the span middleware (which would record nothing) does not
    run at all: a provider installed later sees the client's spans but none from the server."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _TRACED, provider], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["ok"]
    if provider == "installed":
        assert report["middleware"] == 1
        assert "tools/call get_current_user" in report["spans"]
    else:
        assert report["middleware"] == 0
        assert "MCP send tools/call get_current_user" in report["spans"]
        assert "tools/call get_current_user" not in report["spans"]
