"""The result budget through the SDK's client on the seeded sandbox with 700 extra time entries:
every answer within the budget (counted with tiktoken o200k_base), cursors that walk every item
exactly once (also while entries are inserted), table text with euros, cents refused, date-only
windows, booking slots as ranges, long pages cut at a block boundary."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from dversum_mcp.api.hooks.bookings import slot_ranges
from dversum_mcp.config import Secret, Settings
from dversum_mcp.server.text import euros, short_time
from dversum_mcp.server.tokens import estimate_tokens
from dversum_sandbox import SandboxSettings, create_app
from dversum_sandbox.seed.workspace import seed
from tests.dversum_mcp.conftest import Harness, structured

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
BUDGET = 6000
EXTRA = 700
URL = "http://sandbox.localhost/api/v1"


@pytest.fixture(scope="module")
def encoding() -> Any:
    """tiktoken o200k_base from the offline cache that scripts/setup.d/tiktoken.sh builds."""
    cache = ROOT / ".cache" / "tiktoken"
    assert cache.is_dir(), "run scripts/setup.d/tiktoken.sh (builds .cache/tiktoken from npm js-tiktoken)"
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    import tiktoken

    return tiktoken.get_encoding("o200k_base")


def tokens(encoding: Any, value: Any) -> int:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return len(encoding.encode(text))


async def _add_entries(http: httpx2.AsyncClient, count: int, task_id: str, start: datetime) -> None:
    for i in range(count):
        begin = start + timedelta(hours=3 * i)
        body = {
            "task_id": task_id,
            "started_at": begin.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ended_at": (begin + timedelta(minutes=45 + i % 90)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "description": ["Abstimmung", "Konzept", "Umsetzung Startseite", "Review mit Kunde"][i % 4],
            "billable": i % 5 != 0,
        }
        (await http.post("/time-entries", json=body)).raise_for_status()


@pytest.fixture(scope="module")
def seeded_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """The demo workspace plus 700 time entries, built once; each test gets a copy."""
    folder = tmp_path_factory.mktemp("seeded")
    app = create_app(SandboxSettings(data_dir=folder, rate_limit=1_000_000))
    info: dict[str, str] = {}

    async def build() -> None:
        result = await seed(app)
        info.update(token=result.token, org_id=result.org_id, user_id=result.user_id)
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(
            transport=transport, base_url=URL, headers={"Authorization": f"Bearer {result.token}"}
        ) as http:
            tasks = (await http.get("/tasks", params={"per_page": 1})).json()["tasks"]
            await _add_entries(http, EXTRA, tasks[0]["id"], datetime(2026, 1, 5, 7, tzinfo=UTC))

    anyio.run(build)
    app.db.close()
    yield folder, info


@pytest.fixture
def seeded(seeded_dir: tuple[Path, dict[str, str]], tmp_path: Path, registry: Any) -> Iterator[Harness]:
    source, info = seeded_dir
    target = tmp_path / "sandbox"
    shutil.copytree(source, target)
    app = create_app(SandboxSettings(data_dir=target, rate_limit=1_000_000))
    yield Harness(app, info["token"], info["org_id"], info["user_id"], [], registry)
    app.db.close()


async def _walk(client: Any, tool: str, args: dict[str, Any], limit: int = 300) -> tuple[list[str], int, int]:
    seen: list[str] = []
    calls = 0
    total = -1
    for _ in range(limit):
        result = await client.call_tool(tool, args)
        assert not result.is_error, result.content[0].text
        calls += 1
        data = structured(result)
        key = next(k for k, v in data.items() if isinstance(v, list))
        seen.extend(item["id"] for item in data[key])
        total = data["total"]
        if "next_cursor" not in data:
            break
        args = {k: v for k, v in args.items() if k not in ("page", "per_page", "all_pages")}
        args["cursor"] = data["next_cursor"]
    return seen, total, calls


# ---- the budget ---------------------------------------------------------------------------------
async def test_every_list_answer_fits_the_budget_and_the_estimate_is_calibrated(seeded: Harness, encoding: Any) -> None:
    ratios = []
    async with seeded.mcp() as client:
        project = structured(await client.call_tool("list_projects", {}))["projects"][0]["id"]
        special = {
            "list_project_tasks": {"project_id": project},
            "list_calendar_events": {"from": "2026-01-01", "to": "2026-12-31"},
        }
        names = [t.spec.name for t in seeded.registry.tools.values() if t.spec.paginated]
        for name in names:
            if name in ("list_task_comments", "list_webhook_deliveries"):
                continue  # need an id of something the seed may not have; covered by the walk test's tools
            for extra in ({"per_page": 100}, {"all_pages": True}):
                result = await client.call_tool(name, {**special.get(name, {}), **extra})
                assert not result.is_error, (name, result.content[0].text)
                text, data = result.content[0].text, structured(result)
                real_text, real_data = tokens(encoding, text), tokens(encoding, data)
                assert real_text <= BUDGET and real_data <= BUDGET, (name, real_text, real_data)
                for real, estimate in (
                    (real_text, estimate_tokens(text)),
                    (real_data, estimate_tokens(json.dumps(data, ensure_ascii=False, separators=(",", ":")))),
                ):
                    if real > 200:
                        assert estimate >= real, (name, estimate, real)
                        ratios.append(estimate / real)
        entries = await client.call_tool("list_time_entries", {"all_pages": True})
        data = structured(entries)
        assert data["total"] >= EXTRA + 100 and "next_cursor" in data
        assert 15 <= len(data["time_entries"]) < data["total"]
        assert tokens(encoding, entries.content[0].text) / len(data["time_entries"]) <= 80  # text per entry
    assert ratios and sum(ratios) / len(ratios) <= 1.3


async def test_fields_select_columns_and_let_more_items_fit(seeded: Harness) -> None:
    async with seeded.mcp() as client:
        full = structured(await client.call_tool("list_time_entries", {"all_pages": True}))
        few = await client.call_tool("list_time_entries", {"all_pages": True, "fields": ["started_at", "project"]})
        data = structured(few)
        lines = few.content[0].text.splitlines()
        assert lines[1] == "id | started_at | project"
        assert set(data["time_entries"][0]) == {"id", "started_at", "project"}
        assert len(data["time_entries"]) > 2 * len(full["time_entries"])
        typo = await client.call_tool("list_time_entries", {"fields": ["started", "project"]})
        assert typo.content[0].text.startswith("Warning: fields started are not in these items; they have")
        assert "started_at" in structured(typo)["warnings"][0]


async def test_table_text_names_columns_once_and_shows_euros(seeded: Harness) -> None:
    async with seeded.mcp() as client:
        result = await client.call_tool("list_invoices", {})
        text = result.content[0].text
        header = text.splitlines()[1]
        assert header.startswith("id | number | status")
        assert text.count("total_gross_cents") == 1
        data = structured(result)
        sent = next(i for i in data["invoices"] if i.get("number"))
        gross = sent["total_gross_cents"]
        assert f"{gross} ({euros(gross)})" in text
        assert isinstance(sent["client"], str) and "client_id" in sent  # the nested copy reduced to its name
        one = await client.call_tool("get_invoice", {"invoice_id": sent["id"]})
        assert f"total_gross_cents: {gross} ({euros(gross)})" in one.content[0].text
        assert "unit_price_cents" in one.content[0].text and "€)" in one.content[0].text


def _cents_without_euros(value: Any, where: str = "") -> list[str]:
    """Every whole `X_cents` but 0 in a structure whose sibling `X` is not its German euro form."""
    missing: list[str] = []
    if isinstance(value, list):
        for i, item in enumerate(value):
            missing += _cents_without_euros(item, f"{where}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            if type(item) is int and item and key.endswith("_cents") and value.get(key[:-6]) != euros(item):
                missing.append(f"{where}.{key}")
            missing += _cents_without_euros(item, f"{where}.{key}")
    return missing


async def test_structured_content_shows_euros_beside_every_cents_value(seeded: Harness) -> None:
    """Claude Code and VS Code hand the model only `structuredContent` when a result has it, so the
    euros the text shows must be there too: every `X_cents`, nested line items included, with `X`."""
    async with seeded.mcp() as client:
        seen = 0
        for tool in ("list_invoices", "list_quotes", "list_contracts", "list_projects", "list_clients"):
            data = structured(await client.call_tool(tool, {"per_page": 100}))
            assert _cents_without_euros(data) == [], tool
            seen += json.dumps(data).count("_cents")
        invoice = next(i for i in structured(await client.call_tool("list_invoices", {}))["invoices"])
        one = await client.call_tool("get_invoice", {"invoice_id": invoice["id"]})
        data = structured(one)
        assert _cents_without_euros(data) == []
        assert data["line_items"][0]["unit_price"] == euros(data["line_items"][0]["unit_price_cents"])
        assert "total_gross: " not in one.content[0].text  # the text shows them beside the cents already
        assert seen > 50


def test_euro_and_time_formats() -> None:
    assert euros(119000) == "1.190,00 €"
    assert euros(5) == "0,05 €"
    assert euros(-123456789) == "-1.234.567,89 €"
    assert euros(100, "USD") == "1,00 USD"
    assert short_time("2026-11-03T07:30:00Z") == "2026-11-03 07:30Z"
    assert short_time("2026-11-03T07:30:15Z") == "2026-11-03 07:30:15Z"
    assert short_time("2026-11-03T09:45:00Z", same_day="2026-11-03") == "09:45Z"
    assert short_time("not a time") == "not a time"


# ---- cursors ------------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [{"all_pages": True}, {"per_page": 7}, {"per_page": 100, "page": 1}])
async def test_cursor_walk_returns_every_item_exactly_once(seeded: Harness, args: dict[str, Any]) -> None:
    async with seeded.mcp() as client:
        seen, total, calls = await _walk(client, "list_time_entries", dict(args))
    assert len(seen) == len(set(seen)) == total >= EXTRA
    assert calls > 1


async def test_every_list_tool_walks_to_its_total_with_small_pages(seeded: Harness) -> None:
    """Every paginated tool, not only time entries: a page of 2 and its cursors reach every item once.

    Lists whose items carry outside-written text (bookings, booking e-mails) are guarded before
    rendering; the guard must keep the list window, or the cursor is lost (it was, once)."""
    async with seeded.mcp() as client:
        project = structured(await client.call_tool("list_projects", {}))["projects"][0]["id"]
        special = {
            "list_project_tasks": {"project_id": project},
            "list_calendar_events": {"from": "2026-01-01", "to": "2027-12-31"},
        }
        names = [t.spec.name for t in seeded.registry.tools.values() if t.spec.paginated]
        walked = {}
        for name in names:
            if name in ("list_task_comments", "list_webhook_deliveries"):
                continue  # need the id of something the seed may not have
            if name == "list_time_entries":
                continue  # 800 entries: walked above with larger pages
            seen, total, _ = await _walk(client, name, {**special.get(name, {}), "per_page": 2})
            assert len(seen) == len(set(seen)) == total, (name, len(seen), len(set(seen)), total)
            walked[name] = total
    assert walked["read_sandbox_outbox"] > 2 and walked["list_bookings"] >= 1, walked


async def test_cursor_walk_is_stable_under_concurrent_inserts(harness: Harness) -> None:
    """Entries inserted between the calls, before and after the cursor in the list's order:
    every entry present at the start comes exactly once, nothing twice."""
    async with harness.mcp() as client:
        project = structured(await client.call_tool("create_project", {"name": "Relaunch"}))
        task = structured(await client.call_tool("create_task", {"project_id": project["id"], "title": "Seite"}))

        async def add(when: datetime) -> None:
            result = await client.call_tool(
                "create_time_entry",
                {"task_id": task["id"], "started_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "duration": "30m"},
            )
            assert not result.is_error, result.content[0].text

        base = datetime(2026, 3, 2, 8, tzinfo=UTC)
        for i in range(60):
            await add(base + timedelta(hours=5 * i))
        present, _, _ = await _walk(client, "list_time_entries", {"per_page": 100})
        seen: list[str] = []
        args: dict[str, Any] = {"per_page": 6}
        early, late = datetime(2025, 1, 1, 8, tzinfo=UTC), datetime(2027, 1, 1, 8, tzinfo=UTC)
        for step in range(100):
            data = structured(await client.call_tool("list_time_entries", args))
            seen.extend(e["id"] for e in data["time_entries"])
            if "next_cursor" not in data:
                break
            for _ in range(2):  # before the cursor (shifts everything back) and after it
                await add(early + timedelta(hours=step * 3 + _))
                await add(late + timedelta(hours=step * 3 + _))
            args = {"cursor": data["next_cursor"]}
    assert len(seen) == len(set(seen)), "an entry came twice"
    assert set(present) <= set(seen), "an entry present at the start was skipped"


async def test_cursor_belongs_to_its_filters(seeded: Harness) -> None:
    async with seeded.mcp() as client:
        data = structured(await client.call_tool("list_time_entries", {"billable": True, "per_page": 5}))
        other = await client.call_tool("list_time_entries", {"billable": False, "cursor": data["next_cursor"]})
        assert other.is_error and "other filters" in other.content[0].text
        same = await client.call_tool("list_time_entries", {"billable": True, "cursor": data["next_cursor"]})
        assert not same.is_error and structured(same)["shown"].startswith("6-")
        junk = await client.call_tool("list_time_entries", {"cursor": "eyJ4Ijo1fQ"})
        assert junk.is_error and "cursor" in junk.content[0].text


async def test_long_page_is_cut_at_a_block_boundary_and_continues(harness: Harness, encoding: Any) -> None:
    blocks = [
        f"## Abschnitt {i}\n\nÄrger über Größe: Absatz {i} mit etwas Text, der sich wiederholt. " * 3
        for i in range(600)
    ]
    markdown = "\n\n".join(blocks)
    async with harness.mcp() as client:
        page = structured(await client.call_tool("create_page", {"title": "Lang", "content": markdown}))
        pieces: list[str] = []
        args: dict[str, Any] = {"page_id": page["id"]}
        for _ in range(40):
            result = await client.call_tool("get_page", args)
            assert not result.is_error, result.content[0].text
            assert tokens(encoding, result.content[0].text) <= BUDGET
            data = structured(result)
            assert tokens(encoding, data) <= BUDGET
            pieces.append(data["content"])
            if "next_cursor" not in data:
                break
            assert data["content"].endswith("\n\n") or data["content"].endswith("\n")
            args = {"page_id": page["id"], "cursor": data["next_cursor"]}
    assert len(pieces) > 2
    async with harness.mcp(settings=Settings(token=Secret(""), result_budget=10**7)) as client:
        whole = structured(await client.call_tool("get_page", {"page_id": page["id"]}))["content"]
    assert "next_cursor" not in whole and "".join(pieces) == whole


# ---- money and dates ----------------------------------------------------------------------------
async def test_cents_with_decimals_are_refused_with_the_euro_hint(seeded: Harness) -> None:
    async with seeded.mcp() as client:
        invoices = structured(await client.call_tool("list_invoices", {"status": "sent"}))["invoices"]
        target = invoices[0]["id"]
        result = await client.call_tool("record_invoice_payment", {"invoice_id": target, "amount_cents": 500.00})
        assert result.is_error
        assert "cents are integers: 500.00 € is 50000" in result.content[0].text
        assert structured(result)["field"] == "amount_cents"
        client_id = invoices[0]["client_id"]
        nested = await client.call_tool(
            "create_invoice",
            {
                "client_id": client_id,
                "line_items": [{"description": "Beratung", "quantity": 1, "unit_price_cents": "12,50", "tax_rate": 19}],
            },
        )
        assert nested.is_error and "12,50 € is 1250" in nested.content[0].text


async def test_a_line_under_one_euro_gets_a_warning(seeded: Harness) -> None:
    async with seeded.mcp() as client:
        client_id = structured(await client.call_tool("list_clients", {}))["clients"][0]["id"]
        line = {"description": "Beratung", "quantity": 8, "unit_price_cents": 95, "tax_rate": 19}
        result = await client.call_tool("create_invoice", {"client_id": client_id, "line_items": [line]})
        assert not result.is_error, result.content[0].text
        text = result.content[0].text
        assert text.startswith("Warning: line_items[0] (Beratung): unit price 95 cents = 0,95 €")
        assert "9500" in text and structured(result)["warnings"]
        fine = await client.call_tool(
            "create_invoice", {"client_id": client_id, "line_items": [{**line, "unit_price_cents": 9500}]}
        )
        assert "warnings" not in structured(fine)


async def test_date_only_windows_are_whole_berlin_days(harness: Harness, registry: Any) -> None:
    schema = registry.tools["summarize_time"].definition.input_schema
    assert "YYYY-MM-DD" in schema["properties"]["from"]["description"]
    assert "format" not in schema["properties"]["from"]
    for tool in ("list_time_entries", "list_calendar_events", "get_booking_slots"):
        assert "Europe/Berlin" in registry.tools[tool].definition.input_schema["properties"]["to"]["description"]
    async with harness.mcp() as client:
        summary = structured(await client.call_tool("summarize_time", {"from": "2026-03-28", "to": "2026-03-29"}))
        assert summary["from"] == "2026-03-27T23:00:00Z"
        assert summary["to"] == "2026-03-29T22:00:00Z"  # the end of the 23-hour DST day
        bad = await client.call_tool("summarize_time", {"from": "2026-02-30", "to": "2026-03-01"})
        assert bad.is_error and "calendar date" in bad.content[0].text
        listed = await client.call_tool("list_time_entries", {"from": "2026-03-28", "to": "2026-03-28"})
        assert not listed.is_error


# ---- booking slots ------------------------------------------------------------------------------
def test_slot_ranges_merge_overlapping_slots_per_berlin_day() -> None:
    def slot(start: datetime, minutes: int = 30) -> dict[str, str]:
        return {
            "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": (start + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    day = datetime(2026, 3, 27, 8, tzinfo=UTC)  # Friday before the DST switch: 09:00 local
    slots = [slot(day + timedelta(minutes=15 * i)) for i in range(7)]  # 09:00-10:00 ... last start 10:30
    slots += [slot(day + timedelta(hours=4, minutes=15 * i)) for i in range(3)]  # 13:00-13:30 ... 13:30 start
    after = datetime(2026, 3, 30, 7, tzinfo=UTC)  # Monday after: 09:00 local is 07:00Z
    slots += [slot(after + timedelta(minutes=15 * i)) for i in range(2)]
    data = slot_ranges(slots)
    assert data["slot_minutes"] == 30 and data["step_minutes"] == 15 and data["slot_count"] == 12
    assert [(d["weekday"], d["date"], d["ranges"]) for d in data["days"]] == [
        ("Fr", "2026-03-27", ["09:00-11:00", "13:00-14:00"]),
        ("Mo", "2026-03-30", ["09:00-09:45"]),
    ]
    assert data["days"][1]["utc"] == [["2026-03-30T07:00:00Z", "2026-03-30T07:45:00Z"]]
    assert slot_ranges([])["days"] == []


async def test_ninety_days_of_slots_fit_and_the_slugs_come_from_get_current_user(
    seeded: Harness, encoding: Any
) -> None:
    async with seeded.mcp() as client:
        me = await client.call_tool("get_current_user", {})
        data = structured(me)
        user_slug, type_slug = data["slug"], data["booking_types"][0]["slug"]
        assert "booking_types" in me.content[0].text
        result = await client.call_tool(
            "get_booking_slots",
            {"user_slug": user_slug, "type_slug": type_slug, "from": "2027-01-04", "to": "2027-04-03"},
        )
        assert not result.is_error, result.content[0].text
        slots = structured(result)
        text = result.content[0].text
        assert tokens(encoding, text) <= 2500 and tokens(encoding, slots) <= BUDGET
        assert slots["slot_minutes"] > 0 and slots["days"][0]["utc"][0][0].endswith("Z")
        assert "Mo 2027-01-04: 09:00-17:00" in text and "T" not in text.splitlines()[3]
    tools = seeded.registry.tools
    for name in ("get_booking_slots", "book_slot", "get_public_booking_type"):
        assert "get_current_user" in tools[name].spec.description


async def test_all_pages_stops_fetching_once_the_answer_is_full(seeded: Harness) -> None:
    async with seeded.mcp() as client:
        before = len(seeded.requests)
        data = structured(await client.call_tool("list_time_entries", {"all_pages": True}))
        pages = [r for r in seeded.requests[before:] if r.url.path.endswith("/time-entries")]
        assert data["total"] > 800 and len(pages) == 1  # 9 pages of 100 exist; the first already fills it
        assert pages[0].url.params["per_page"] == "100"
        before = len(seeded.requests)
        rest = structured(await client.call_tool("list_time_entries", {"cursor": data["next_cursor"]}))
        assert rest["shown"].startswith(f"{len(data['time_entries']) + 1}-")
        assert len(seeded.requests) - before <= 2  # the page with the last item shown, and maybe the next


def test_an_object_too_large_keeps_its_short_fields_and_shortens_its_longest_list() -> None:
    from dversum_mcp.api.calls import Outcome
    from dversum_mcp.server.render import render_outcome

    days = [
        {"date": f"2026-{1 + i // 28:02d}-{1 + i % 28:02d}", "seconds": 3600 * i, "display": f"{i}h"}
        for i in range(330)
    ]
    tasks = [{"task_id": f"t{i:04d}-" + "x" * 30, "name": f"Aufgabe {i}", "seconds": i} for i in range(400)]
    data = {"from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z", "by_day": days, "by_task": tasks}
    result = render_outcome("summarize_time", Outcome(data), sandbox=False, budget=3000)
    text, structured = result["content"][0]["text"], result["structuredContent"]
    assert (
        estimate_tokens(text) <= 3000
        and estimate_tokens(json.dumps(structured, ensure_ascii=False, separators=(",", ":"))) <= 3000
    )
    assert structured["from"] == "2026-01-01T00:00:00Z" and "to: 2027-01-01 00:00Z" in text
    assert 0 < len(structured["by_day"]) < 330 and 0 < len(structured["by_task"]) < 400
    assert structured["by_day"] == days[: len(structured["by_day"])]
    assert any(n.startswith("by_task: only the first") for n in structured["notes"])
    assert "by_day: only the first" in text


def test_an_oversized_object_keeps_its_item_lists_shortened_not_replaced() -> None:
    """Items that carry lists of ids (an audit entry's resource ids) are still the items to shorten;
    only lists of objects inside them (a board column's cards) make a list a container."""
    from dversum_mcp.api.calls import Outcome
    from dversum_mcp.server.render import render_outcome

    entries = [
        {"id": f"e{i}", "tool": "list_clients", "resource_ids": [f"r{i}-{j}" for j in range(3)], "note": "x" * 80}
        for i in range(400)
    ]
    result = render_outcome("list_my_audit_log", Outcome({"entries": entries}), sandbox=True, budget=2000)
    kept = result["structuredContent"]["entries"]
    assert 1 <= len(kept) < 400 and kept[0]["id"] == "e0"
    assert any(n.startswith("entries: only the first") for n in result["structuredContent"]["notes"])
    board = {
        "columns": [
            {"name": f"C{c}", "tasks": [{"id": f"t{c}-{i}", "title": "y" * 60} for i in range(80)]} for c in range(3)
        ]
    }
    shown = render_outcome("show_project_board", Outcome(board), sandbox=True, budget=2000)["structuredContent"]
    assert [c["name"] for c in shown["columns"]] == ["C0", "C1", "C2"]  # every column stays; cards are cut
    assert all(0 < len(c["tasks"]) < 80 for c in shown["columns"])
