"""Screenshots of the three views, light and dark, for the README:

    .venv/bin/python -m tests.views.screenshots docs/views

Runs the same host and sandbox as the tests (headless system chromium, no network)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio

from dversum_sandbox import SandboxSettings
from dversum_sandbox.seed.workspace import ensure_seeded
from tests.views.conftest import DARK, LIGHT, Host, Sandbox, launched, mcp_session, view_host

BERLIN = "Europe/Berlin"


def week_window(today: date) -> dict[str, str]:
    """Last full Monday-to-Sunday week, as UTC instants of Berlin midnights."""
    from zoneinfo import ZoneInfo

    monday = today - timedelta(days=today.weekday() + 7)
    zone = ZoneInfo(BERLIN)

    def utc(day: date) -> str:
        instant = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(ZoneInfo("UTC"))
        return instant.strftime("%Y-%m-%dT%H:%M:%SZ")

    return {"from": utc(monday), "to": utc(monday + timedelta(days=7))}


async def _shoot(host: Host, path: Path, wait: str) -> None:
    await host.view.locator(wait).first.wait_for()
    await host.page.wait_for_timeout(400)
    frame = host.page.locator("#view")
    await frame.screenshot(path=str(path))


async def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    data = Path(tempfile.mkdtemp())
    try:
        seeded = await ensure_seeded(SandboxSettings(data_dir=data))
        sandbox = Sandbox(SandboxSettings(data_dir=data), seeded.token)
        async with mcp_session(sandbox) as client, launched() as browser:
            projects = (await client.call_tool("list_projects", {})).structured_content or {}
            project = next(p for p in projects["projects"] if p["name"] == "Website-Relaunch ATAS")
            invoices = (await client.call_tool("list_invoices", {"status": "draft"})).structured_content or {}
            invoice = invoices["invoices"][0]
            views: list[tuple[str, str, dict[str, Any], str]] = [
                ("board", "show_project_board", {"project_id": project["id"]}, ".card"),
                ("invoice", "get_invoice", {"invoice_id": invoice["id"]}, "[data-total=gross]"),
                ("timesheet", "summarize_time", week_window(date.today()), ".seg"),
            ]
            for name, tool, arguments, wait in views:
                for theme, context in (("light", LIGHT), ("dark", DARK)):
                    async with view_host(client, browser, width=1000, height=700) as host:
                        await host.open(tool, arguments, context)
                        if name == "timesheet":
                            await host.view.locator(".day[data-seconds]:not([data-seconds='0'])").first.click()
                        await _shoot(host, out / f"{name}-{theme}.png", wait)
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    anyio.run(main, Path(sys.argv[1] if len(sys.argv) > 1 else "docs/views"))
