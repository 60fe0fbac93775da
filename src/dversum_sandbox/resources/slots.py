"""Free slots of a booking type: working hours in Berlin time, the host's busy time, free slots.

Working hours are local Europe/Berlin wall-clock times, so each day's hours are converted to
UTC with zoneinfo on that day (09:00 is 08:00Z in winter and 07:00Z in summer). Slots start on
the quarter hour; a slot is free when it overlaps no busy interval (calendar events and
confirmed bookings, each widened by the booking type's buffer). The arithmetic is pure; the
last three functions read the host's busy time from the database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from dversum_sandbox.clock import BERLIN, iso, parse_datetime
from dversum_sandbox.db import Row, loads
from dversum_sandbox.errors import SandboxError, conflict, validation
from dversum_sandbox.framework import Ctx

__all__ = [
    "SLOT_STEP",
    "Interval",
    "candidate_starts",
    "check_slot",
    "free_slots",
    "free_starts",
    "merge",
    "parse_working_hours",
]

Interval = tuple[datetime, datetime]
SLOT_STEP = timedelta(minutes=15)
_HHMM = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$")


def parse_working_hours(value: Any, field: str = "working_hours") -> list[dict[str, Any]]:
    """Validate `[{weekday 1-7, start "HH:MM", end "HH:MM"}]` (end may be "24:00"; start < end)."""
    if not isinstance(value, list):
        raise validation(field, f"{field} must be a list of {{weekday, start, end}} objects")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        where = f"{field}[{i}]"
        if not isinstance(item, dict):
            raise validation(where, f"{where} must be an object with weekday, start and end")
        weekday, start, end = item.get("weekday"), item.get("start"), item.get("end")
        if isinstance(weekday, bool) or not isinstance(weekday, int) or not 1 <= weekday <= 7:
            raise validation(f"{where}.weekday", f"{where}.weekday must be an integer 1 (Monday) to 7 (Sunday)")
        if not isinstance(start, str) or not _HHMM.match(start):
            raise validation(f"{where}.start", f"{where}.start must be a time HH:MM")
        if not isinstance(end, str) or not (_HHMM.match(end) or end == "24:00"):
            raise validation(f"{where}.end", f"{where}.end must be a time HH:MM (or 24:00)")
        if end <= start:
            raise validation(f"{where}.end", f"{where}.end must be after start")
        out.append({"weekday": weekday, "start": start, "end": end})
    return out


def _local(day: date, hhmm: str) -> datetime:
    """The UTC instant of a Berlin wall-clock time on `day` ("24:00" is the next midnight)."""
    if hhmm == "24:00":
        day, hhmm = day + timedelta(days=1), "00:00"
    hour, minute = int(hhmm[:2]), int(hhmm[3:])
    return datetime.combine(day, time(hour, minute), tzinfo=BERLIN).astimezone(UTC)


def _ceil_quarter(value: datetime) -> datetime:
    # Berlin's offsets are whole hours, so UTC quarter hours are local quarter hours too.
    rest = int(value.timestamp()) % int(SLOT_STEP.total_seconds())
    return value if rest == 0 else value + timedelta(seconds=int(SLOT_STEP.total_seconds()) - rest)


def candidate_starts(
    hours: Iterable[dict[str, Any]], duration: timedelta, lo: datetime, hi: datetime
) -> list[datetime]:
    """Sorted quarter-hour slot starts inside the working hours, with `lo <= start` and `end <= hi`."""
    hours = list(hours)
    found: set[datetime] = set()
    day, last = lo.astimezone(BERLIN).date() - timedelta(days=1), hi.astimezone(BERLIN).date()
    while day <= last:
        for span in hours:
            if span["weekday"] != day.isoweekday():
                continue
            start, end = _ceil_quarter(_local(day, span["start"])), _local(day, span["end"])
            while start + duration <= end:
                if start >= lo and start + duration <= hi:
                    found.add(start)
                start += SLOT_STEP
        day += timedelta(days=1)
    return sorted(found)


def merge(intervals: Iterable[Interval], pad: timedelta) -> list[Interval]:
    """Busy intervals widened by `pad` on both sides, sorted and merged into disjoint ones."""
    merged: list[Interval] = []
    for start, end in sorted((s - pad, e + pad) for s, e in intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def free_starts(starts: list[datetime], duration: timedelta, busy: list[Interval]) -> list[datetime]:
    """The sorted `starts` whose slot overlaps none of the disjoint, sorted `busy` intervals."""
    out: list[datetime] = []
    j = 0
    for start in starts:
        end = start + duration
        while j < len(busy) and busy[j][1] <= start:
            j += 1
        if j < len(busy) and busy[j][0] < end:
            continue
        out.append(start)
    return out


# ---- against the database ---------------------------------------------------------------------
def _busy(ctx: Ctx, host: Row, lo: datetime, hi: datetime, pad: timedelta, ignore: str = "") -> list[Interval]:
    """The host's calendar events and confirmed bookings overlapping [lo, hi], widened by `pad`."""
    window = (iso(lo - pad), iso(hi + pad))
    rows = ctx.db.all(
        "SELECT start_time, end_time FROM calendar_events WHERE org_id = ? AND user_id = ?"
        " AND start_time < ? AND end_time > ? AND (booking_id IS NULL OR booking_id != ?)",
        (host["org_id"], host["id"], window[1], window[0], ignore),
    ) + ctx.db.all(
        "SELECT start_time, end_time FROM bookings WHERE org_id = ? AND user_id = ? AND status = 'confirmed'"
        " AND start_time < ? AND end_time > ? AND id != ?",
        (host["org_id"], host["id"], window[1], window[0], ignore),
    )
    spans: list[Interval] = []
    for r in rows:
        try:
            spans.append((parse_datetime(r["start_time"], "start_time"), parse_datetime(r["end_time"], "end_time")))
        except SandboxError:
            continue  # a malformed row elsewhere must not break booking
    return merge(spans, pad)


def free_slots(ctx: Ctx, host: Row, btype: Row, lo: datetime, hi: datetime, ignore: str = "") -> list[datetime]:
    duration = timedelta(minutes=btype["duration_minutes"])
    starts = [s for s in candidate_starts(loads(btype["working_hours"]), duration, lo, hi) if s >= ctx.now]
    busy = _busy(ctx, host, lo, hi, timedelta(minutes=btype["buffer_minutes"]), ignore)
    return free_starts(starts, duration, busy)


def check_slot(ctx: Ctx, host: Row, btype: Row, start: datetime, ignore: str = "") -> datetime:
    """The end of the slot at `start`: 422 when `start` is no slot start, 409 `slot_taken` when busy."""
    duration = timedelta(minutes=btype["duration_minutes"])
    end = start + duration
    if start < ctx.now or not candidate_starts(loads(btype["working_hours"]), duration, start, end):
        raise validation(
            "start",
            "start is not a slot of this booking type (slots start on the quarter hour within the working"
            " hours, Europe/Berlin); pick one from the /slots list",
        )
    if not free_slots(ctx, host, btype, start, end, ignore):
        raise conflict("That slot is no longer free; pick another from the /slots list", "start", "slot_taken")
    return end
