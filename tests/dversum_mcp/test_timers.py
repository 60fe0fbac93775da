"""Time tracking through the MCP tools against the sandbox: timers, entries, timesheets, DST."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import anyio
import pytest

from dversum_mcp.api.hooks.timers import format_duration, parse_duration
from dversum_mcp.api.hooks.timesheets import split_by_day
from tests.dversum_mcp.conftest import Harness, structured

pytestmark = pytest.mark.anyio


async def _task(client: Any, project: str = "Relaunch", title: str = "Landing page") -> tuple[str, str]:
    created = structured(await client.call_tool("create_project", {"name": project}))
    task = structured(await client.call_tool("create_task", {"project_id": created["id"], "title": title}))
    return str(created["id"]), str(task["id"])


def _events(harness: Harness) -> list[str]:
    seen: list[str] = []
    original = harness.app.sink.record

    def record(db: Any, org_id: str, events: list[tuple[str, dict[str, Any]]], now: Any) -> None:
        seen.extend(name for name, _ in events)
        original(db, org_id, events, now)

    harness.app.sink.record = record  # type: ignore[method-assign]
    return seen


async def test_start_switches_a_running_timer_and_reports_it(harness: Harness) -> None:
    events = _events(harness)
    async with harness.mcp() as client:
        _, first = await _task(client)
        _, second = await _task(client, "Intern", "Buchhaltung")
        one = structured(await client.call_tool("start_timer", {"task_id": first, "description": "Mockup"}))
        assert one["started"]["running"] is True and "stopped" not in one
        two = structured(await client.call_tool("start_timer", {"task_id": second}))
        assert two["stopped"]["id"] == one["started"]["id"]
        assert two["stopped"]["running"] is False and "duration" in two["stopped"]
        running = structured(await client.call_tool("get_running_timer", {}))
        assert running["running"] is True and running["entry"]["id"] == two["started"]["id"]
        assert isinstance(running["elapsed_seconds"], int)
    assert events.count("time_entry.started") == 2 and events.count("time_entry.stopped") == 1


async def test_if_running_error_refuses_and_keeps_the_old_timer(harness: Harness) -> None:
    async with harness.mcp() as client:
        _, task = await _task(client)
        first = structured(await client.call_tool("start_timer", {"task_id": task}))
        refused = await client.call_tool("start_timer", {"task_id": task, "if_running": "error"})
        assert refused.is_error
        payload = structured(refused)
        assert payload["error"] == "timer_running" and first["started"]["id"] in payload["message"]
        running = structured(await client.call_tool("get_running_timer", {}))
        assert running["entry"]["id"] == first["started"]["id"]


async def test_stop_without_id_and_double_stop(harness: Harness) -> None:
    async with harness.mcp() as client:
        none = structured(await client.call_tool("get_running_timer", {}))
        assert none == {"running": False, "message": "No timer is running"}
        nothing = await client.call_tool("stop_timer", {})
        assert nothing.is_error and structured(nothing)["error"] == "no_running_timer"
        _, task = await _task(client)
        started = structured(await client.call_tool("start_timer", {"task_id": task}))["started"]
        stopped = structured(await client.call_tool("stop_timer", {}))["stopped"]
        assert stopped["id"] == started["id"] and stopped["running"] is False
        assert isinstance(stopped["duration_seconds"], int) and stopped["duration"].endswith(("s", "m", "h"))
        again = await client.call_tool("stop_timer", {"time_entry_id": started["id"]})
        assert again.is_error
        assert structured(again)["error"] == "timer_not_running"
        assert "already stopped" in structured(again)["hint"]


async def test_fifty_concurrent_starts_leave_exactly_one_running(harness: Harness) -> None:
    async with harness.mcp() as client:
        _, task = await _task(client)
        results: list[Any] = []

        async def start() -> None:
            results.append(await client.call_tool("start_timer", {"task_id": task}))

        async with anyio.create_task_group() as group:
            for _ in range(50):
                group.start_soon(start)
        ok = [r for r in results if not r.is_error]
        assert len(ok) == 50, [r.content[0].text for r in results if r.is_error][:3]
        assert sum(1 for r in ok if "stopped" in structured(r)) == 49  # each start switched the previous one off
    with harness.app.db.transaction():
        running = harness.app.db.scalar("SELECT COUNT(*) FROM time_entries WHERE ended_at IS NULL")
        total = harness.app.db.scalar("SELECT COUNT(*) FROM time_entries")
    assert running == 1
    assert total == len(ok)


async def test_entries_after_the_fact(harness: Harness) -> None:
    async with harness.mcp() as client:
        _, task = await _task(client)
        made = structured(
            await client.call_tool(
                "create_time_entry",
                {"task_id": task, "started_at": "2026-06-04T11:00:00+02:00", "duration": "2h30m", "billable": False},
            )
        )
        assert made["started_at"] == "2026-06-04T09:00:00Z" and made["ended_at"] == "2026-06-04T11:30:00Z"
        assert made["duration_seconds"] == 9000 and made["duration"] == "2h 30m"
        before = len(harness.requests)
        backwards = await client.call_tool(
            "create_time_entry",
            {"task_id": task, "started_at": "2026-06-04T12:00:00Z", "ended_at": "2026-06-04T11:00:00Z"},
        )
        assert backwards.is_error and structured(backwards)["field"] == "ended_at"
        both = await client.call_tool(
            "create_time_entry",
            {
                "task_id": task,
                "started_at": "2026-06-04T12:00:00Z",
                "ended_at": "2026-06-04T13:00:00Z",
                "duration": "1h",
            },
        )
        assert both.is_error and structured(both)["field"] == "duration"
        assert len(harness.requests) == before  # refused before any request
        overlap = await client.call_tool(
            "create_time_entry", {"task_id": task, "started_at": "2026-06-04T10:00:00Z", "duration": "PT1H"}
        )
        assert not overlap.is_error
        assert any("overlaps 1 other entry" in w for w in structured(overlap)["warnings"])


async def test_running_entry_end_cannot_be_set_but_start_can(harness: Harness) -> None:
    async with harness.mcp() as client:
        _, task = await _task(client)
        entry = structured(await client.call_tool("start_timer", {"task_id": task}))["started"]
        moved = await client.call_tool(
            "update_time_entry", {"time_entry_id": entry["id"], "started_at": "2026-01-01T08:00:00Z"}
        )
        assert not moved.is_error
        ended = await client.call_tool(
            "update_time_entry", {"time_entry_id": entry["id"], "ended_at": "2030-01-01T08:00:00Z"}
        )
        assert ended.is_error and structured(ended)["status"] == 409


async def test_summary_of_a_week_matches_the_hand_computed_table(harness: Harness) -> None:
    async with harness.mcp() as client:
        relaunch, landing = await _task(client, "Relaunch", "Landing page")
        intern, books = await _task(client, "Intern", "Buchhaltung")
        week = [  # (task, start UTC, hours, billable)
            (landing, "2026-06-01T07:00:00Z", "3h", True),
            (landing, "2026-06-01T12:00:00Z", "1h30m", True),
            (books, "2026-06-02T08:00:00Z", "45m", False),
            (landing, "2026-06-03T06:30:00Z", "4h", True),
            (books, "2026-06-05T13:00:00Z", "2h15m", False),
            (landing, "2026-06-08T08:00:00Z", "1h", True),  # next week: outside the window
        ]
        for task, start, duration, billable in week:
            result = await client.call_tool(
                "create_time_entry", {"task_id": task, "started_at": start, "duration": duration, "billable": billable}
            )
            assert not result.is_error, result.content
        summary = structured(
            await client.call_tool("summarize_time", {"from": "2026-05-31T22:00:00Z", "to": "2026-06-07T22:00:00Z"})
        )
    assert summary["total"]["seconds"] == (3 * 60 + 90 + 45 + 240 + 135) * 60  # 11.5 h
    assert summary["total"]["hours"] == 11.5
    assert summary["billable"]["seconds"] == (180 + 90 + 240) * 60
    assert summary["non_billable"]["seconds"] == (45 + 135) * 60
    assert {d["date"]: d["seconds"] for d in summary["by_day"]} == {
        "2026-06-01": 270 * 60,
        "2026-06-02": 45 * 60,
        "2026-06-03": 240 * 60,
        "2026-06-05": 135 * 60,
    }
    assert {p["project_id"]: p["seconds"] for p in summary["by_project"]} == {relaunch: 510 * 60, intern: 180 * 60}
    assert {t["task_id"]: t["hours"] for t in summary["by_task"]} == {landing: 8.5, books: 3.0}
    assert [p["name"] for p in summary["by_project"]] == ["Relaunch", "Intern"]
    assert [t["name"] for t in summary["by_task"]] == ["Landing page", "Buchhaltung"]
    assert summary["entries_counted"] == 5


async def test_dst_days_have_their_real_length(harness: Harness) -> None:
    async with harness.mcp() as client:
        _, task = await _task(client)
        for start, end in (
            ("2026-03-28T22:00:00Z", "2026-03-29T04:00:00Z"),  # across spring-forward night
            ("2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z"),  # the whole 25-hour Berlin day of Oct 25
        ):
            result = await client.call_tool(
                "create_time_entry", {"task_id": task, "started_at": start, "ended_at": end}
            )
            assert not result.is_error, result.content
        spring = structured(
            await client.call_tool("summarize_time", {"from": "2026-03-27T23:00:00Z", "to": "2026-03-29T22:00:00Z"})
        )
        autumn = structured(
            await client.call_tool("summarize_time", {"from": "2026-10-24T00:00:00Z", "to": "2026-10-26T23:00:00Z"})
        )
    assert {d["date"]: d["seconds"] for d in spring["by_day"]} == {"2026-03-28": 3600, "2026-03-29": 5 * 3600}
    assert spring["total"]["seconds"] == 6 * 3600
    assert {d["date"]: d["seconds"] for d in autumn["by_day"]} == {"2026-10-25": 25 * 3600}


def test_duration_parsing_and_formatting() -> None:
    assert parse_duration("2h30m").total_seconds() == 9000
    assert parse_duration("PT1H15M").total_seconds() == 4500
    assert parse_duration("90 min").total_seconds() == 5400
    assert parse_duration("1,5 Std").total_seconds() == 5400
    assert parse_duration("1:45").total_seconds() == 6300
    for bad in ("", "soon", "-1h", "0m", "PT"):
        with pytest.raises(Exception, match="duration"):
            parse_duration(bad)
    assert format_duration(5100) == "1h 25m" and format_duration(59) == "59s" and format_duration(7200) == "2h"


def test_split_by_day_is_dst_correct() -> None:
    start = datetime(2026, 3, 28, 22, tzinfo=UTC)
    end = datetime(2026, 3, 29, 22, tzinfo=UTC)
    assert split_by_day(start, end) == [("2026-03-28", 3600.0), ("2026-03-29", 23 * 3600.0)]
