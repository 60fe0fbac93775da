"""`summarize_time`: a timesheet computed from listed time entries (all pages, with progress).

Totals per Berlin calendar day, project, task and billable/non-billable for a window; a
running timer counts up to now, also one started days before the window (a timer left running
over the weekend), which the start-based list filter alone would miss. Entries are clipped
to the window and split at Berlin midnights with zoneinfo, so days across a DST switch have
their real 23 or 25 hours. Seconds are exact; hours are rounded only for display. Entries of
one person that overlap are listed (`overlaps`, `overlap_pairs`, `overlap_seconds`) with a
warning: the totals count such time twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dversum_mcp.api.calls import Call, Outcome, list_page
from dversum_mcp.api.errors import ApiError, ArgumentError
from dversum_mcp.api.hooks.timers import _running, format_duration, parse_instant, to_utc_z

__all__ = ["BERLIN", "find_overlaps", "split_by_day", "summarize_entries", "summarize_time"]

BERLIN = ZoneInfo("Europe/Berlin")
_MAX_ENTRIES = 5000
_MAX_OVERLAPS = 20


def split_by_day(start: datetime, end: datetime) -> list[tuple[str, float]]:
    """Seconds of [start, end) per Europe/Berlin calendar day, DST-correct."""
    out: list[tuple[str, float]] = []
    cursor = start
    while cursor < end:
        local = cursor.astimezone(BERLIN)
        next_midnight_local = datetime(local.year, local.month, local.day, tzinfo=BERLIN) + timedelta(days=1)
        next_midnight = datetime(
            next_midnight_local.year, next_midnight_local.month, next_midnight_local.day, tzinfo=BERLIN
        ).astimezone(UTC)
        piece_end = min(end, next_midnight)
        out.append((local.date().isoformat(), (piece_end - cursor).total_seconds()))
        cursor = piece_end
    return out


def _name(entry: dict[str, Any], kind: str) -> str | None:
    nested = entry.get(kind)
    if isinstance(nested, dict):
        value = nested.get("name") or nested.get("title")
        return str(value) if value else None
    value = entry.get(f"{kind}_name") or entry.get(f"{kind}_title")
    return str(value) if value else None


def summarize_entries(
    entries: list[dict[str, Any]], window_start: datetime, window_end: datetime, now: datetime
) -> dict[str, Any]:
    """The timesheet of `entries` clipped to [window_start, window_end)."""
    by_day: dict[str, float] = defaultdict(float)
    by_project: dict[str, dict[str, Any]] = {}
    by_task: dict[str, dict[str, Any]] = {}
    billable = non_billable = 0.0
    running_seconds = 0.0
    counted = 0
    for entry in entries:
        start = parse_instant(str(entry["started_at"]), "started_at")
        ended_at = entry.get("ended_at")
        end = parse_instant(str(ended_at), "ended_at") if ended_at else now
        start, end = max(start, window_start), min(end, window_end)
        if end <= start:
            continue
        counted += 1
        seconds = (end - start).total_seconds()
        for day, part in split_by_day(start, end):
            by_day[day] += part
        if not ended_at:
            running_seconds += seconds
        if entry.get("billable", True):
            billable += seconds
        else:
            non_billable += seconds
        for kind, table in (("project", by_project), ("task", by_task)):
            key = entry.get(f"{kind}_id")
            if not key:
                continue
            row = table.setdefault(str(key), {f"{kind}_id": key, "name": _name(entry, kind), "seconds": 0.0})
            row["seconds"] += seconds
    total = billable + non_billable
    overlaps = find_overlaps(entries, window_start, window_end, now)

    def rows(table: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        return [_hours(r) for r in sorted(table.values(), key=lambda r: -r["seconds"])]

    return {
        "from": to_utc_z(window_start),
        "to": to_utc_z(window_end),
        "entries_counted": counted,
        "total": _hours({"seconds": total}),
        "billable": _hours({"seconds": billable}),
        "non_billable": _hours({"seconds": non_billable}),
        "running_timer_seconds": int(running_seconds),
        "by_day": [_hours({"date": d, "seconds": s}) for d, s in sorted(by_day.items())],
        "by_project": rows(by_project),
        "by_task": rows(by_task),
        **(
            {
                "overlap_seconds": round(sum(o["seconds"] for o in overlaps)),
                "overlap_pairs": len(overlaps),
                "overlaps": overlaps[:_MAX_OVERLAPS],
            }
            if overlaps
            else {}
        ),
    }


def find_overlaps(
    entries: list[dict[str, Any]], window_start: datetime, window_end: datetime, now: datetime
) -> list[dict[str, Any]]:
    """Pairs of one user's entries that overlap inside the window, with the seconds they share
    (counted twice in the totals: a payroll total must not add them up twice)."""
    spans: dict[str, list[tuple[datetime, datetime, str]]] = defaultdict(list)
    for entry in entries:
        start = parse_instant(str(entry["started_at"]), "started_at")
        ended_at = entry.get("ended_at")
        end = parse_instant(str(ended_at), "ended_at") if ended_at else now
        start, end = max(start, window_start), min(end, window_end)
        if end > start:
            spans[str(entry.get("user_id") or "")].append((start, end, str(entry.get("id"))))
    found: list[dict[str, Any]] = []
    for user, items in spans.items():
        items.sort()
        open_spans: list[tuple[datetime, datetime, str]] = []
        for start, end, ident in items:
            open_spans = [s for s in open_spans if s[1] > start]
            for _, other_end, other in open_spans:
                shared = (min(end, other_end) - start).total_seconds()
                row = {"entries": [other, ident], "seconds": round(shared), "display": format_duration(shared)}
                found.append({"user_id": user, **row} if user else row)
            open_spans.append((start, end, ident))
    return found


def _usable_entry(entry: dict[str, Any]) -> bool:
    """An entry the timesheet can count: ISO start, ISO or no end, scalar ids (the API is not trusted)."""
    try:
        parse_instant(str(entry["started_at"]), "started_at")
        if entry.get("ended_at"):
            parse_instant(str(entry["ended_at"]), "ended_at")
    except (KeyError, ArgumentError):
        return False
    return all(isinstance(entry.get(k), str | int | type(None)) for k in ("id", "user_id", "project_id", "task_id"))


async def _running_timer(call: Call, filters: dict[str, Any]) -> dict[str, Any] | None:
    """The current user's running timer if it fits the filters (the list has it only when it started
    in the listed window); None otherwise or when the API has no running-timer endpoint."""
    try:
        entry = await _running(call)
    except ApiError:
        return None
    if entry is None or entry.get("ended_at") or not _usable_entry(entry):
        return None
    if any(entry.get(k) != v for k, v in filters.items()):
        return None
    return entry


def _hours(row: dict[str, Any]) -> dict[str, Any]:
    seconds = row["seconds"]
    return {
        **row,
        "seconds": round(seconds),
        "hours": round(seconds / 3600, 2),
        "display": format_duration(seconds),
    }


async def summarize_time(call: Call, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Outcome:
    start = parse_instant(str(call.query["from"]), "from")
    end = parse_instant(str(call.query["to"]), "to")
    if end <= start:
        raise ArgumentError("to must be after from", field="to")
    base = {k: v for k, v in call.query.items() if k in ("user_id", "project_id") and v is not None}
    # Entries that started up to a day before the window may still run into it.
    query = {**base, "from": to_utc_z(start - timedelta(days=1)), "to": to_utc_z(end), "per_page": 100}
    entries: list[dict[str, Any]] = []
    page = 1
    while len(entries) < _MAX_ENTRIES:
        response = await call.send(*call.endpoint("list_time_entries"), query={**query, "page": page})
        chunk, total = list_page(response, "time_entries")
        entries.extend(e for e in chunk if _usable_entry(e))
        await call.progress(len(entries), total, f"{len(entries)} of {total} time entries")
        if len(chunk) < query["per_page"] or page * query["per_page"] >= total:
            break  # the last page (a short one, or as far as the total goes): never walks on forever
        page += 1
    running = await _running_timer(call, base)
    if running is not None and all(e.get("id") != running.get("id") for e in entries):
        entries.append(running)
    summary = summarize_entries(entries, start, end, now())
    warnings = (
        ["More than 5,000 entries: the summary is partial; narrow the window."] if len(entries) >= _MAX_ENTRIES else []
    )
    if "overlaps" in summary:
        count, shared = summary["overlap_pairs"], format_duration(summary["overlap_seconds"])
        listed = (
            "overlaps lists the entry ids" if count <= _MAX_OVERLAPS else f"overlaps lists the first {_MAX_OVERLAPS}"
        )
        warnings.append(
            f"{count} pair(s) of one person's entries overlap ({shared} in all, counted twice in the totals); "
            f"check them ({listed}) and fix one of each pair with update_time_entry."
        )
    return Outcome(summary, warnings=warnings)
