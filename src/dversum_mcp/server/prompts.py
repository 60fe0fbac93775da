"""MCP prompts that encode real workflows, with the workspace data they need already fetched.

    weekly_timesheet_review   the week's timesheet, ready to review
    overdue_invoice_dunning   overdue invoices, ready to draft reminders
    project_status_report     a project's tasks and recent time, ready to report
    meeting_notes_to_tasks    meeting notes + the project's columns and people, ready to become tasks

Client and project arguments take a name (or id); `completion/complete` suggests names.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import mcp_types as types
from mcp.shared.exceptions import MCPError

from dversum_mcp.api.client import ApiClient
from dversum_mcp.api.errors import ApiError
from dversum_mcp.tools.registry import CallEnv, Registry
from dversum_mcp.tools.schema import ID_PATTERN

__all__ = ["PromptBook"]

BERLIN = ZoneInfo("Europe/Berlin")
_INVALID_PARAMS = -32602
_LOOKUP = {"project": ("list_projects", "get_project"), "client": ("list_clients", "get_client")}
"""Prompt argument kind → the tools that search and read it."""

_PROMPTS = [
    types.Prompt(
        name="weekly_timesheet_review",
        title="Weekly timesheet review",
        description="Review a week's tracked time: gaps, non-billable share, missing descriptions.",
        arguments=[
            types.PromptArgument(name="week_of", description="Any date in the week, YYYY-MM-DD (default: this week)"),
            types.PromptArgument(name="project", description="Only this project (name or id)"),
        ],
    ),
    types.Prompt(
        name="overdue_invoice_dunning",
        title="Overdue invoice dunning",
        description="Draft polite, correct payment reminders for overdue invoices.",
        arguments=[types.PromptArgument(name="client", description="Only this client (name or id)")],
    ),
    types.Prompt(
        name="project_status_report",
        title="Project status report",
        description="A status report of a project from its tasks and the last 30 days of time.",
        arguments=[types.PromptArgument(name="project", description="Project name or id", required=True)],
    ),
    types.Prompt(
        name="meeting_notes_to_tasks",
        title="Meeting notes → tasks",
        description="Turn meeting notes into kanban tasks with owners and due dates.",
        arguments=[
            types.PromptArgument(name="project", description="Project name or id", required=True),
            types.PromptArgument(name="notes", description="The meeting notes", required=True),
        ],
    ),
]


def _dump(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


class PromptBook:
    def __init__(self, client: ApiClient, registry: Registry) -> None:
        self.client = client
        self.registry = registry
        self.endpoint = registry.endpoint

    def listing(self) -> list[types.Prompt]:
        return list(_PROMPTS)

    async def _find(self, kind: str, value: str) -> dict[str, Any]:
        """A project/client by id or by (case-insensitive) name."""
        plural = f"{kind}s"
        listing, reading = _LOOKUP[kind]
        try:
            response = await self.client.request(*self.endpoint(listing), query={"search": value, "per_page": 20})
        except ApiError as exc:
            raise MCPError(_INVALID_PARAMS, f"Could not look up {kind} {value!r}: {exc.message}") from None
        items = [
            i for i in (response.data.get(plural, []) if isinstance(response.data, dict) else []) if isinstance(i, dict)
        ]
        exact = [i for i in items if str(i.get("name", "")).lower() == value.lower() or i.get("id") == value]
        found = (exact or items)[0] if exact or items else None
        if found is None and ID_PATTERN.match(value):  # maybe an id the search does not match
            try:
                data = (await self.client.request(*self.endpoint(reading, id=value))).data
                found = data if isinstance(data, dict) else None
            except ApiError:
                found = None
        if found is None or not isinstance(found.get("id"), str):
            raise MCPError(_INVALID_PARAMS, f"No {kind} named {value!r}")
        return dict(found)

    async def complete(self, argument: str, prefix: str) -> list[str]:
        if argument not in _LOOKUP:
            return []
        listing = self.endpoint(_LOOKUP[argument][0])
        try:
            response = await self.client.request(*listing, query={"search": prefix, "per_page": 20})
        except ApiError:
            return []
        items = response.data.get(f"{argument}s", []) if isinstance(response.data, dict) else []
        return [str(i["name"]) for i in items if isinstance(i, dict) and i.get("name")][:20]

    async def get(self, name: str, arguments: dict[str, str] | None) -> types.GetPromptResult:
        args = arguments or {}
        if name == "weekly_timesheet_review":
            text = await self._timesheet(args)
        elif name == "overdue_invoice_dunning":
            text = await self._dunning(args)
        elif name == "project_status_report":
            text = await self._status(self._required(args, "project"))
        elif name == "meeting_notes_to_tasks":
            text = await self._notes(self._required(args, "project"), self._required(args, "notes"))
        else:
            raise MCPError(_INVALID_PARAMS, f"Unknown prompt {name!r}")
        return types.GetPromptResult(
            description=next(p.description for p in _PROMPTS if p.name == name),
            messages=[types.PromptMessage(role="user", content=types.TextContent(text=text))],
        )

    @staticmethod
    def _required(args: dict[str, str], key: str) -> str:
        value = (args.get(key) or "").strip()
        if not value:
            raise MCPError(_INVALID_PARAMS, f"Argument {key!r} is required")
        return value

    async def _summary(self, start: datetime, end: datetime, project_id: str | None) -> dict[str, Any]:
        tool = self.registry.tools["summarize_time"]
        arguments = {"from": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "to": end.strftime("%Y-%m-%dT%H:%M:%SZ")}
        if project_id:
            arguments["project_id"] = project_id
        outcome = await self.registry.execute(tool, arguments, CallEnv(client=self.client))
        return outcome.data

    async def _timesheet(self, args: dict[str, str]) -> str:
        try:
            day = date.fromisoformat(args["week_of"]) if args.get("week_of") else datetime.now(BERLIN).date()
        except ValueError:
            raise MCPError(_INVALID_PARAMS, "week_of must be a date YYYY-MM-DD") from None
        monday = day - timedelta(days=day.weekday())
        start = datetime(monday.year, monday.month, monday.day, tzinfo=BERLIN).astimezone(UTC)
        end = (datetime(monday.year, monday.month, monday.day, tzinfo=BERLIN) + timedelta(days=7)).astimezone(UTC)
        project = await self._find("project", args["project"]) if args.get("project") else None
        summary = await self._summary(start, end, project["id"] if project else None)
        scope = f" for project {project['name']}" if project else ""
        return (
            f"Review my timesheet for the week of {monday.isoformat()} (Europe/Berlin){scope}.\n"
            "Point out days with no or unusually little time, the non-billable share, entries that look too long, "
            "and anything to fix before invoicing. Use update_time_entry / create_time_entry only after I agree.\n\n"
            f"Timesheet (seconds and hours):\n{_dump(summary)}"
        )

    async def _dunning(self, args: dict[str, str]) -> str:
        query: dict[str, Any] = {"status": "overdue", "per_page": 100}
        if args.get("client"):
            query["client_id"] = (await self._find("client", args["client"]))["id"]
        data = (await self.client.request(*self.endpoint("list_invoices"), query=query)).data or {}
        invoices = data.get("invoices", []) if isinstance(data, dict) else []
        return (
            "Draft payment reminders for these overdue invoices, in German (Sie-Form), polite and factual: "
            "invoice number, amount, original due date, a new payment deadline of 7 days. Then ask me which ones to "
            "send with send_invoice_reminder (one call per invoice; it sends the next dunning level).\n\n"
            f"Overdue invoices ({len(invoices)}):\n{_dump(invoices)}"
        )

    async def _status(self, project_arg: str) -> str:
        project = await self._find("project", project_arg)
        listing = self.endpoint("list_project_tasks", id=project["id"])
        tasks = (await self.client.request(*listing, query={"per_page": 100})).data
        now = datetime.now(UTC)
        summary = await self._summary(now - timedelta(days=30), now, project["id"])
        return (
            f"Write a concise status report for the project {project.get('name')}: progress by column, what is "
            "overdue or blocked, who works on what, time spent in the last 30 days vs. budget if set, next steps.\n\n"
            f"Project:\n{_dump(project)}\n\nTasks:\n{_dump(tasks)}\n\nTime, last 30 days:\n{_dump(summary)}"
        )

    async def _notes(self, project_arg: str, notes: str) -> str:
        project = await self._find("project", project_arg)
        columns = (await self.client.request(*self.endpoint("list_project_columns", id=project["id"]))).data
        users = (await self.client.request(*self.endpoint("list_users"), query={"per_page": 100})).data
        return (
            f"Turn these meeting notes into tasks in the project {project.get('name')} (id {project['id']}). "
            "Propose a list first (title, assignee, due date YYYY-MM-DD, column); after I confirm, create each with "
            "create_task using the ids below. Skip items that are not actionable.\n\n"
            f"Columns:\n{_dump(columns)}\n\nPeople:\n{_dump(users)}\n\nNotes:\n{notes}"
        )
