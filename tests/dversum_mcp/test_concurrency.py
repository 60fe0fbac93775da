"""200 concurrent tool calls writing to the same project and invoice lose nothing."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from tests.dversum_mcp.conftest import Harness, structured, walk

pytestmark = pytest.mark.anyio


async def test_200_concurrent_writes_stay_consistent(harness: Harness) -> None:
    async with harness.mcp() as client:
        address = {"street": "Hafenweg 2", "postal_code": "20095", "city": "Hamburg"}  # §14 UStG: to send an invoice
        customer = structured(
            await client.call_tool("create_client", {"name": "ATAS", "email": "kontakt@atas.de", **address})
        )
        project = structured(
            await client.call_tool("create_project", {"name": "Relaunch", "client_id": customer["id"]})
        )
        invoice = structured(
            await client.call_tool(
                "create_invoice",
                {
                    "client_id": customer["id"],
                    "line_items": [
                        {"description": "Kleinteile", "quantity": 1, "unit_price_cents": 84, "tax_rate": 19}
                    ],
                },
            )
        )
        assert invoice["total_gross_cents"] == 100
        assert not (await client.call_tool("send_invoice", {"invoice_id": invoice["id"]})).is_error
        results: list[tuple[str, Any]] = []

        async def task(i: int) -> None:
            result = await client.call_tool("create_task", {"project_id": project["id"], "title": f"Task {i}"})
            results.append(("task", result))

        async def pay() -> None:
            result = await client.call_tool("record_invoice_payment", {"invoice_id": invoice["id"], "amount_cents": 1})
            results.append(("payment", result))

        async with anyio.create_task_group() as group:
            for i in range(100):
                group.start_soon(task, i)
                group.start_soon(pay)
        assert len(results) == 200
        failures = [r.content[0].text for _, r in results if r.is_error]
        assert failures == []
        tasks = await walk(client, "list_project_tasks", {"project_id": project["id"], "all_pages": True}, "tasks")
        assert len(tasks) == 100
        by_column: dict[str, list[int]] = {}
        for item in tasks:
            by_column.setdefault(item["column_id"], []).append(item["position"])
        for positions in by_column.values():
            assert sorted(positions) == list(range(len(positions)))
        assert {t["title"] for t in tasks} == {f"Task {i}" for i in range(100)}
        final = structured(await client.call_tool("get_invoice", {"invoice_id": invoice["id"]}))
        assert final["paid_cents"] == 100 and final["open_cents"] == 0 and final["status"] == "paid"
        payments = structured(await client.call_tool("list_invoice_payments", {"invoice_id": invoice["id"]}))
        assert payments["total"] == 100
