"""The timesheet view in headless Chromium: its totals are summarize_time's, each day's bar is
stacked by project from the entries and adds up to that day's total, a click lists the day."""

from __future__ import annotations

import calendar
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.views.conftest import Host, Sandbox, mcp_session, view_host
from tests.views.screenshots import week_window

pytestmark = pytest.mark.anyio


async def _kpis(host: Host) -> dict[str, str]:
    frame = await host.frame()
    return dict(
        await frame.evaluate(
            "() => Object.fromEntries([...document.querySelectorAll('[data-kpi]')]"
            ".map(b => [b.dataset.kpi, b.textContent]))"
        )
    )


async def _bars(host: Host) -> dict[str, dict[str, Any]]:
    frame = await host.frame()
    await frame.wait_for_function("document.querySelectorAll('.seg[data-project]').length > 0")
    rows = await frame.evaluate(
        """() => [...document.querySelectorAll('.day')].map(d => [d.dataset.day, {
            seconds: Number(d.dataset.seconds),
            segments: [...d.querySelectorAll('.seg[data-project]')]
                .map(s => [s.dataset.project, Number(s.dataset.seconds)])
        }])"""
    )
    return {day: value for day, value in rows}


async def test_week_totals_equal_summarize_time(sandbox: Sandbox, browser: Any) -> None:
    window = week_window(date.today())
    async with mcp_session(sandbox) as client, view_host(client, browser) as host:
        result = await host.open("summarize_time", window)
        summary: dict[str, Any] = dict(result.structured_content or {})
        assert summary["entries_counted"] > 0
        await host.view.locator("[data-kpi=total]").wait_for()
        kpis = await _kpis(host)
        assert kpis["total"] == summary["total"]["display"]
        assert kpis["billable"] == summary["billable"]["display"]
        assert kpis["non_billable"] == summary["non_billable"]["display"]
        share = round(100 * summary["billable"]["seconds"] / summary["total"]["seconds"])
        assert kpis["share"] == f"{share} %"
        bars = await _bars(host)
        assert len(bars) == 7  # Monday to Sunday, empty days included
        by_day = {d["date"]: d["seconds"] for d in summary["by_day"]}
        for day, bar in bars.items():
            assert bar["seconds"] == by_day.get(day, 0)
            assert abs(sum(s for _, s in bar["segments"]) - bar["seconds"]) <= 1  # the stack adds up
        per_project: dict[str, float] = {}
        for bar in bars.values():
            for project, seconds in bar["segments"]:
                per_project[project] = per_project.get(project, 0) + seconds
        assert {p["project_id"]: p["seconds"] for p in summary["by_project"]} == {
            k: round(v) for k, v in per_project.items()
        }
        # Clicking a day lists its entries; they add up to the day's total.
        busiest = max(summary["by_day"], key=lambda d: d["seconds"])
        await host.view.locator(f".day[data-day='{busiest['date']}']").focus()  # by keyboard
        await host.page.keyboard.press("Enter")
        await host.view.locator("#entries h2").wait_for()
        frame = await host.frame()
        assert await frame.evaluate("document.activeElement.dataset.day") == busiest["date"]
        heading = await host.view.locator("#entries h2").text_content()
        assert busiest["display"] in heading
        rows = await host.view.locator("#entries tbody tr").count()
        listed = (
            await client.call_tool("list_time_entries", {"from": window["from"], "to": window["to"], "all_pages": True})
        ).structured_content or {}
        zone = ZoneInfo("Europe/Berlin")
        same_day = [
            e
            for e in listed["time_entries"]
            if datetime.fromisoformat(e["started_at"].replace("Z", "+00:00")).astimezone(zone).date().isoformat()
            == busiest["date"]
        ]
        assert rows == len(same_day) > 0
        host.assert_clean()


async def test_month_window_has_a_bar_per_day(sandbox: Sandbox, browser: Any) -> None:
    today = date.today()
    first = today.replace(day=1)
    zone, utc = ZoneInfo("Europe/Berlin"), ZoneInfo("UTC")
    last_day = calendar.monthrange(today.year, today.month)[1]
    end = date(today.year + (today.month == 12), today.month % 12 + 1, 1)

    def instant(day: date) -> str:
        return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    async with mcp_session(sandbox) as client, view_host(client, browser, width=480) as host:
        result = await host.open("summarize_time", {"from": instant(first), "to": instant(end)})
        summary = result.structured_content or {}
        await host.view.locator(".day").first.wait_for()
        assert await host.view.locator(".day").count() == last_day
        assert (await _kpis(host))["total"] == summary["total"]["display"]
        # Narrow pane: the chart scrolls inside, the page does not overflow sideways.
        frame = await host.frame()
        assert await frame.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
