"""A realistic day, end to end: `dversum-mcp` as a stdio subprocess on the embedded sandbox,
driven by the SDK's own client, with signed webhooks arriving at a loopback receiver."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.dversum_mcp.test_http_transports import _serve

pytestmark = pytest.mark.anyio

EVENTS = [
    "client.created",
    "project.created",
    "task.created",
    "task.moved",
    "time_entry.started",
    "time_entry.stopped",
    "page.created",
    "page.updated",
    "invoice.created",
    "invoice.sent",
    "invoice.partially_paid",
    "invoice.paid",
    "quote.sent",
    "quote.signed",
    "quote.converted",
    "booking.created",
]


class Receiver:
    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.deliveries.append((headers, body))
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})


def _data(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text
    assert result.meta and result.meta.get("dversum/sandbox") is True
    return dict(result.structured_content)


def _server(tmp_path: Path) -> StdioServerParameters:
    roots = tmp_path / "files"
    roots.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DVERSUM_")}
    env.update(
        DVERSUM_SANDBOX_DIR=str(tmp_path / "sandbox"),
        DVERSUM_FILE_ROOTS=str(roots),
        DVERSUM_TOOLSETS="all",
        DVERSUM_LOG_LEVEL="DEBUG",
    )
    return StdioServerParameters(command=sys.executable, args=["-m", "dversum_mcp.cli"], env=env, cwd=str(tmp_path))


async def test_a_realistic_day_over_stdio(tmp_path: Path) -> None:
    receiver = Receiver()
    with _serve(receiver) as hook_base:
        async with Client(_server(tmp_path), mode="legacy") as client:
            assert "SANDBOX" in (client.instructions or "")
            me = _data(await client.call_tool("get_current_user", {}))
            hook = _data(await client.call_tool("create_webhook", {"url": f"{hook_base}/hooks", "events": EVENTS}))
            secret = hook["secret"]
            listed = _data(await client.call_tool("list_webhooks", {}))
            assert secret not in json.dumps(listed)

            customer = _data(
                await client.call_tool(
                    "create_client",
                    {
                        "name": "Walk GmbH",
                        "email": "buchhaltung@walk.de",
                        "vat_id": "DE811111111",
                        "country": "DE",
                        "street": "Wanderweg 1",  # §14 Abs. 4 UStG: an invoice needs the buyer's full address
                        "postal_code": "10115",
                        "city": "Berlin",
                    },
                )
            )
            project = _data(
                await client.call_tool("create_project", {"name": "Q3 Website", "client_id": customer["id"]})
            )
            columns = _data(await client.call_tool("list_project_columns", {"project_id": project["id"]}))["columns"]
            assert [c["name"] for c in columns] == ["To do", "In progress", "Done"]
            design = _data(
                await client.call_tool(
                    "create_task",
                    {
                        "project_id": project["id"],
                        "title": "Design",
                        "assignee_ids": [me["id"]],
                        "due_date": "2026-12-01",
                    },
                )
            )
            _data(await client.call_tool("create_task", {"project_id": project["id"], "title": "Content"}))
            _data(await client.call_tool("move_task", {"task_id": design["id"], "column_id": columns[1]["id"]}))

            started = _data(await client.call_tool("start_timer", {"task_id": design["id"], "description": "Entwurf"}))
            running = _data(await client.call_tool("get_running_timer", {}))
            assert running["entry"]["id"] == started["started"]["id"]
            stopped = _data(await client.call_tool("stop_timer", {}))
            assert stopped["stopped"]["running"] is False

            page = _data(
                await client.call_tool(
                    "create_page",
                    {"title": "Kickoff", "content": "# Kickoff\n\n| Punkt | Wer |\n|---|---|\n| Logo | Anna |"},
                )
            )
            _data(await client.call_tool("append_to_page", {"page_id": page["id"], "content": "- [ ] Angebot senden"}))
            markdown = _data(await client.call_tool("get_page", {"page_id": page["id"]}))["content"]
            assert "| Logo" in markdown and "- [ ] Angebot senden" in markdown

            invoice = _data(
                await client.call_tool(
                    "create_invoice",
                    {
                        "client_id": customer["id"],
                        "line_items": [
                            {"description": "Beratung", "quantity": 8, "unit_price_cents": 12500, "tax_rate": 19}
                        ],
                    },
                )
            )
            assert invoice["total_gross_cents"] == 119000 and invoice["status"] == "draft"
            sent = _data(await client.call_tool("send_invoice", {"invoice_id": invoice["id"]}))
            assert sent["number"].startswith("RE-") and sent["status"] == "sent"
            part = _data(
                await client.call_tool("record_invoice_payment", {"invoice_id": invoice["id"], "amount_cents": 50000})
            )
            assert part["invoice"]["status"] == "partially_paid"
            rest = _data(
                await client.call_tool("record_invoice_payment", {"invoice_id": invoice["id"], "amount_cents": 69000})
            )
            assert rest["invoice"]["status"] == "paid"
            pdf = await client.call_tool("download_invoice_pdf", {"invoice_id": invoice["id"]})
            blob = next(c for c in pdf.content if c.type == "resource")
            assert base64.b64decode(blob.resource.blob).startswith(b"%PDF")

            quote = _data(
                await client.call_tool(
                    "create_quote",
                    {
                        "client_id": customer["id"],
                        "line_items": [
                            {"description": "Webdesign", "quantity": 1, "unit_price_cents": 350000, "tax_rate": 19}
                        ],
                    },
                )
            )
            quote = _data(await client.call_tool("send_quote", {"quote_id": quote["id"]}))
            token = quote["signing_url"].rstrip("/").split("/")[-1]
            _data(await client.call_tool("sign_quote", {"signing_token": token, "signer_name": "Walter Walk"}))
            converted = _data(await client.call_tool("convert_quote_to_invoice", {"quote_id": quote["id"]}))
            assert converted["invoice"]["status"] == "draft"
            again = await client.call_tool("convert_quote_to_invoice", {"quote_id": quote["id"]})
            assert again.is_error

            report = tmp_path / "files" / "report.pdf"
            report.write_bytes(b"%PDF-1.4 quarterly report")
            uploaded = _data(await client.call_tool("upload_file", {"path": str(report)}))
            share = _data(
                await client.call_tool(
                    "create_share_link", {"file_id": uploaded["id"], "password": "geheim", "max_downloads": 3}
                )
            )
            assert share["has_password"] is True and share["url"]
            outside = await client.call_tool("upload_file", {"path": "/etc/hostname"})
            assert outside.is_error and "outside the allowed folders" in outside.content[0].text

            slots = _data(
                await client.call_tool(
                    "get_booking_slots",
                    {
                        "user_slug": "admin",
                        "type_slug": "termin-mit-naumche",
                        "from": "2026-12-07T00:00:00Z",
                        "to": "2026-12-12T00:00:00Z",
                    },
                )
            )["days"]
            assert slots
            slots = [{"start": slots[0]["utc"][0][0]}]  # ranges per Berlin day; the first free start, UTC
            booking = _data(
                await client.call_tool(
                    "book_slot",
                    {
                        "user_slug": "admin",
                        "type_slug": "termin-mit-naumche",
                        "start": slots[0]["start"],
                        "name": "Max Mustermann",
                        "email": "max@example.com",
                        "agenda": "Intro",
                    },
                )
            )
            taken = await client.call_tool(
                "book_slot",
                {
                    "user_slug": "admin",
                    "type_slug": "termin-mit-naumche",
                    "start": slots[0]["start"],
                    "name": "Erika",
                    "email": "erika@example.com",
                },
            )
            assert taken.is_error and "409" in taken.content[0].text
            events = _data(
                await client.call_tool(
                    "list_calendar_events", {"from": slots[0]["start"], "to": "2026-12-12T00:00:00Z"}
                )
            )["events"]
            assert any(e.get("booking_id") == booking["id"] for e in events)

            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                got = {json.loads(body)["event"] for _, body in receiver.deliveries}
                if set(EVENTS) <= got:
                    break
                await anyio.sleep(0.2)

    got = {json.loads(body)["event"] for _, body in receiver.deliveries}
    assert set(EVENTS) <= got, set(EVENTS) - got
    for headers, body in receiver.deliveries:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-dversum-signature"], expected)
        assert headers["idempotency-key"]
    keys = [h["idempotency-key"] for h, _ in receiver.deliveries]
    assert len(keys) == len(set(keys))
