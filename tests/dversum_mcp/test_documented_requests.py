"""Every documented example, called through the SDK's MCP client, produces the documented request.

The API client sends to an `httpx2.MockTransport` that records each request and answers with
a plausible body; the assertions compare method, path, query, JSON body and auth header.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
from mcp import Client

from dversum_mcp.api.client import ApiClient
from dversum_mcp.api.limiter import RateLimiter
from dversum_mcp.config import Secret, Settings
from dversum_mcp.server.handlers import ServerState, build_server
from dversum_mcp.tools.registry import Registry, Selection

pytestmark = pytest.mark.anyio

BASE = "https://api.dversum.com/api/v1"
TOKEN = "dvk_live_test_token_123456"
PAGE_MD = "# Q2 Analyse\n\n| Metrik | Wert |\n|---|---|\n| Revenue | 41.804 € |"

# (tool, arguments, method, path, query, json body or None; None body means "no JSON body")
EXAMPLES: list[tuple[str, dict[str, Any], str, str, dict[str, str], Any]] = [
    ("list_clients", {}, "GET", "/clients", {}, None),
    ("list_invoices", {"page": 2, "per_page": 50}, "GET", "/invoices", {"page": "2", "per_page": "50"}, None),
    (
        "create_webhook",
        {"url": "https://example.com/dversum-webhook", "events": ["invoice.paid", "quote.signed"], "active": True},
        "POST",
        "/webhooks",
        {},
        {"url": "https://example.com/dversum-webhook", "events": ["invoice.paid", "quote.signed"], "active": True},
    ),
    (
        "create_client",
        {"name": "ATAS Vertriebs GmbH", "email": "kontakt@atas.de", "vat_id": "DE123456789", "country": "DE"},
        "POST",
        "/clients",
        {},
        {"name": "ATAS Vertriebs GmbH", "email": "kontakt@atas.de", "vat_id": "DE123456789", "country": "DE"},
    ),
    ("get_client", {"client_id": "CLIENT_ID"}, "GET", "/clients/CLIENT_ID", {}, None),
    (
        "update_client",
        {"client_id": "CLIENT_ID", "email": "neu@atas.de"},
        "PUT",
        "/clients/CLIENT_ID",
        {},
        {"email": "neu@atas.de"},
    ),
    ("delete_client", {"client_id": "CLIENT_ID"}, "DELETE", "/clients/CLIENT_ID", {}, None),
    ("list_projects", {"archived": False}, "GET", "/projects", {"archived": "false"}, None),
    (
        "create_project",
        {"name": "Q2 Relaunch", "client_id": "CLIENT_ID", "color": "#45e59f"},
        "POST",
        "/projects",
        {},
        {"name": "Q2 Relaunch", "client_id": "CLIENT_ID", "color": "#45e59f"},
    ),
    ("list_project_tasks", {"project_id": "PROJECT_ID"}, "GET", "/projects/PROJECT_ID/tasks", {}, None),
    (
        "set_project_status",
        {"project_id": "PROJECT_ID", "status": "archived"},
        "PATCH",
        "/projects/PROJECT_ID/status",
        {},
        {"status": "archived"},
    ),
    (
        "create_task",
        {
            "title": "Mockup für Landing Page",
            "project_id": "PROJECT_ID",
            "column_id": "COLUMN_ID",
            "due_date": "2026-06-30",
            "assignee_ids": ["USER_ID"],
        },
        "POST",
        "/tasks",
        {},
        {
            "title": "Mockup für Landing Page",
            "project_id": "PROJECT_ID",
            "column_id": "COLUMN_ID",
            "due_date": "2026-06-30",
            "assignee_ids": ["USER_ID"],
        },
    ),
    (
        "move_task",
        {"task_id": "TASK_ID", "column_id": "TARGET_COLUMN_ID", "position": 0},
        "PATCH",
        "/tasks/TASK_ID/move",
        {},
        {"column_id": "TARGET_COLUMN_ID", "position": 0},
    ),
    ("toggle_task_done", {"task_id": "TASK_ID"}, "PATCH", "/tasks/TASK_ID/toggle-done", {}, {}),
    (
        "create_task_comment",
        {"task_id": "TASK_ID", "content": "<p>@vero summarise the thread</p>"},
        "POST",
        "/tasks/TASK_ID/comments",
        {},
        {"content": "<p>@vero summarise the thread</p>"},
    ),
    (
        "list_invoices",
        {"status": "sent", "from": "2026-01-01"},
        "GET",
        "/invoices",
        {"status": "sent", "from": "2026-01-01"},
        None,
    ),
    (
        "create_invoice",
        {
            "client_id": "CLIENT_ID",
            "issue_date": "2026-06-05",
            "due_date": "2026-06-19",
            "line_items": [{"description": "Beratung", "quantity": 8, "unit_price_cents": 12500, "tax_rate": 19}],
        },
        "POST",
        "/invoices",
        {},
        {
            "client_id": "CLIENT_ID",
            "issue_date": "2026-06-05",
            "due_date": "2026-06-19",
            "line_items": [{"description": "Beratung", "quantity": 8, "unit_price_cents": 12500, "tax_rate": 19}],
        },
    ),
    ("send_invoice", {"invoice_id": "INVOICE_ID"}, "POST", "/invoices/INVOICE_ID/send", {}, {}),
    ("download_invoice_pdf", {"invoice_id": "INVOICE_ID"}, "GET", "/invoices/INVOICE_ID/pdf", {}, None),
    (
        "record_invoice_payment",
        {"invoice_id": "INVOICE_ID", "amount_cents": 119000, "paid_at": "2026-06-12", "method": "transfer"},
        "POST",
        "/invoices/INVOICE_ID/payments",
        {},
        {"amount_cents": 119000, "paid_at": "2026-06-12", "method": "transfer"},
    ),
    ("create_credit_note", {"invoice_id": "INVOICE_ID"}, "POST", "/invoices/INVOICE_ID/credit-note", {}, {}),
    (
        "create_quote",
        {
            "client_id": "CLIENT_ID",
            "valid_until": "2026-07-05",
            "line_items": [{"description": "Webdesign", "quantity": 1, "unit_price_cents": 350000, "tax_rate": 19}],
        },
        "POST",
        "/quotes",
        {},
        {
            "client_id": "CLIENT_ID",
            "valid_until": "2026-07-05",
            "line_items": [{"description": "Webdesign", "quantity": 1, "unit_price_cents": 350000, "tax_rate": 19}],
        },
    ),
    ("send_quote", {"quote_id": "QUOTE_ID"}, "POST", "/quotes/QUOTE_ID/send", {}, {}),
    ("convert_quote_to_invoice", {"quote_id": "QUOTE_ID"}, "POST", "/quotes/QUOTE_ID/convert-to-invoice", {}, {}),
    (
        "start_timer",
        {"task_id": "TASK_ID", "description": "Mockup feedback"},
        "POST",
        "/time-entries/start",
        {},
        {"task_id": "TASK_ID", "description": "Mockup feedback"},
    ),
    ("stop_timer", {"time_entry_id": "TIME_ENTRY_ID"}, "POST", "/time-entries/TIME_ENTRY_ID/stop", {}, {}),
    (
        "create_time_entry",
        {
            "task_id": "TASK_ID",
            "started_at": "2026-06-04T09:00:00Z",
            "ended_at": "2026-06-04T11:30:00Z",
            "billable": True,
        },
        "POST",
        "/time-entries",
        {},
        {
            "task_id": "TASK_ID",
            "started_at": "2026-06-04T09:00:00Z",
            "ended_at": "2026-06-04T11:30:00Z",
            "billable": True,
        },
    ),
    (
        "list_calendar_events",
        {"from": "2026-06-01T00:00:00Z", "to": "2026-06-30T23:59:59Z"},
        "GET",
        "/calendar/events",
        {"from": "2026-06-01T00:00:00Z", "to": "2026-06-30T23:59:59Z"},
        None,
    ),
    (
        "create_calendar_event",
        {
            "title": "Kickoff",
            "start_time": "2026-06-12T10:00:00Z",
            "end_time": "2026-06-12T11:00:00Z",
            "attach_meet": True,
            "attendee_emails": ["client@example.com"],
        },
        "POST",
        "/calendar/events",
        {},
        {
            "title": "Kickoff",
            "start_time": "2026-06-12T10:00:00Z",
            "end_time": "2026-06-12T11:00:00Z",
            "attach_meet": True,
            "attendee_emails": ["client@example.com"],
        },
    ),
    (
        "create_page",
        {"title": "Q2 Analyse", "icon": "📊", "content": PAGE_MD},
        "POST",
        "/pages",
        {},
        {"title": "Q2 Analyse", "icon": "📊", "content": PAGE_MD},
    ),
    (
        "replace_page_content",
        {"page_id": "PAGE_ID", "content": "## Updated section\n\nNeuer Text"},
        "PUT",
        "/pages/PAGE_ID/content",
        {},
        {"content": "## Updated section\n\nNeuer Text"},
    ),
    ("get_page_tree", {}, "GET", "/pages/tree", {}, None),
    ("get_file_download_url", {"file_id": "FILE_ID"}, "GET", "/storage/files/FILE_ID/download", {}, None),
    (
        "create_share_link",
        {"file_id": "FILE_ID", "password": "geheim", "expires_at": "2026-07-01T00:00:00Z", "max_downloads": 10},
        "POST",
        "/storage/shares/FILE_ID",
        {},
        {"password": "geheim", "expires_at": "2026-07-01T00:00:00Z", "max_downloads": 10},
    ),
    (
        "get_public_booking_type",
        {"user_slug": "admin", "type_slug": "termin-mit-naumche"},
        "GET",
        "/public/booking/admin/termin-mit-naumche",
        {},
        None,
    ),
    (
        "get_booking_slots",
        {
            "user_slug": "admin",
            "type_slug": "termin-mit-naumche",
            "from": "2026-06-04T00:00:00Z",
            "to": "2026-06-11T00:00:00Z",
        },
        "GET",
        "/public/booking/admin/termin-mit-naumche/slots",
        {"from": "2026-06-04T00:00:00Z", "to": "2026-06-11T00:00:00Z"},
        None,
    ),
    (
        "book_slot",
        {
            "user_slug": "admin",
            "type_slug": "termin-mit-naumche",
            "start": "2026-06-05T09:00:00Z",
            "name": "Max Mustermann",
            "email": "max@example.com",
            "agenda": "Kurzes Intro-Gespräch",
            "timezone": "Europe/Berlin",
        },
        "POST",
        "/public/booking/admin/termin-mit-naumche/book",
        {},
        {
            "start": "2026-06-05T09:00:00Z",
            "name": "Max Mustermann",
            "email": "max@example.com",
            "agenda": "Kurzes Intro-Gespräch",
            "timezone": "Europe/Berlin",
        },
    ),
]
PUBLIC = {"get_public_booking_type", "get_booking_slots", "book_slot"}


def _answer(request: httpx2.Request) -> httpx2.Response:
    path = request.url.path
    if path.endswith("/pdf"):
        return httpx2.Response(200, content=b"%PDF-1.7 test", headers={"content-type": "application/pdf"})
    if path.endswith("/time-entries/running"):
        return httpx2.Response(404, json={"error": "no_running_timer", "message": "No timer is running"})
    if request.method == "DELETE":
        return httpx2.Response(204)
    return httpx2.Response(200, json={"id": "X", "ok": True, "items": [], "total": 0})


@asynccontextmanager
async def _client(
    log: list[httpx2.Request], registry: Registry, settings: Settings | None = None
) -> AsyncIterator[Client]:
    def handler(request: httpx2.Request) -> httpx2.Response:
        log.append(request)
        return _answer(request)

    api = ApiClient(base_url=BASE, token=TOKEN, transport=httpx2.MockTransport(handler), limiter=RateLimiter(1000, 60))
    state = ServerState(settings or Settings(token=Secret(TOKEN)), registry, api, Selection(toolsets=("all",)))
    async with api, Client(build_server(state), mode="legacy") as client:
        yield client


@pytest.mark.parametrize(
    ("tool", "args", "method", "path", "query", "body"), EXAMPLES, ids=[f"{e[0]}-{i}" for i, e in enumerate(EXAMPLES)]
)
async def test_documented_example_produces_documented_request(
    registry: Registry, tool: str, args: dict[str, Any], method: str, path: str, query: dict[str, str], body: Any
) -> None:
    log: list[httpx2.Request] = []
    async with _client(log, registry) as client:
        result = await client.call_tool(tool, args)
    assert not result.is_error, result.content
    requests = [r for r in log if not r.url.path.endswith("/time-entries/running")]
    assert len(requests) == 1
    request = requests[0]
    assert request.method == method
    assert request.url.path == "/api/v1" + path
    assert dict(request.url.params) == query
    if body is None:
        assert request.content == b""
    else:
        assert json.loads(request.content or b"{}") == body
    if tool in PUBLIC:
        assert "authorization" not in request.headers
    else:
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["accept-language"] == "de"
    assert TOKEN not in json.dumps(result.model_dump(mode="json"))


async def test_all_documented_endpoints_covered_by_examples(registry: Registry) -> None:
    from tests.dversum_mcp.test_manifest import DOCUMENTED

    covered = {(registry.tools[e[0]].spec.method, registry.tools[e[0]].spec.path) for e in EXAMPLES}
    covered.add(("POST", "/storage/files"))  # test_upload_is_the_documented_multipart_request
    assert covered >= DOCUMENTED


async def test_pdf_comes_back_as_embedded_resource(registry: Registry) -> None:
    log: list[httpx2.Request] = []
    async with _client(log, registry) as client:
        result = await client.call_tool("download_invoice_pdf", {"invoice_id": "INV1"})
    assert not result.is_error
    blobs = [c for c in result.content if c.type == "resource"]
    assert len(blobs) == 1
    assert blobs[0].resource.mime_type == "application/pdf"


async def test_upload_is_the_documented_multipart_request(registry: Registry, tmp_path: Any) -> None:
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.4 report")
    log: list[httpx2.Request] = []
    settings = Settings(token=Secret(TOKEN), file_roots=(tmp_path,))
    async with _client(log, registry, settings) as client:
        result = await client.call_tool("upload_file", {"path": str(report), "folder_id": "FOLDER_ID"})
    assert not result.is_error, result.content
    (request,) = log
    assert request.method == "POST"
    assert request.url.path == "/api/v1/storage/files"
    assert request.headers["content-type"].startswith("multipart/form-data")
    body = request.content
    assert b'name="folder_id"' in body and b"FOLDER_ID" in body
    assert b'name="file"; filename="report.pdf"' in body and b"%PDF-1.4 report" in body
