"""Booking hooks: free slots as time ranges per Berlin day, and the slugs a booking page needs.

The API answers free slots one by one (a 30-minute type, starting every 15 minutes, is 146
overlapping slots a week, in UTC); a model reads ranges per local day far better, and 90 days
of ranges fit one answer. `structuredContent` keeps the slot length, the step and the UTC
bounds of every range. `get_current_user` adds the booking types' slugs, so the public
booking tools can be called without guessing.
"""

from __future__ import annotations

import itertools
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dversum_mcp.api.calls import Call, Outcome, list_key
from dversum_mcp.api.errors import ApiError, ArgumentError
from dversum_mcp.api.hooks.timers import parse_instant, to_utc_z

__all__ = ["booking_slots", "current_user", "slot_ranges"]

BERLIN = ZoneInfo("Europe/Berlin")
_WEEKDAYS = ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So")


def slot_ranges(slots: list[dict[str, Any]]) -> dict[str, Any]:
    """Slots (UTC start/end) → {slot_minutes, step_minutes, days: [{date, weekday, ranges, utc}]}.

    A range runs from its first start to the end of its last slot; slots whose start lies
    within one step of the previous slot's start belong to the same range."""
    spans = sorted((parse_instant(str(s["start"]), "start"), parse_instant(str(s["end"]), "end")) for s in slots)
    if not spans:
        return {"timezone": "Europe/Berlin", "slot_count": 0, "days": []}
    length = spans[0][1] - spans[0][0]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(spans) if b[0] > a[0]]
    step = min(gaps) if gaps else length
    ranges: list[tuple[datetime, datetime]] = []
    for start, end in spans:
        same_day = ranges and start.astimezone(BERLIN).date() == ranges[-1][0].astimezone(BERLIN).date()
        if ranges and same_day and start <= ranges[-1][1] - length + step:
            ranges[-1] = (ranges[-1][0], max(ranges[-1][1], end))
        else:
            ranges.append((start, end))
    days: dict[str, dict[str, Any]] = {}
    for start, end in ranges:
        local_start, local_end = start.astimezone(BERLIN), end.astimezone(BERLIN)
        key = local_start.date().isoformat()
        day = days.setdefault(key, {"date": key, "weekday": _WEEKDAYS[local_start.weekday()], "ranges": [], "utc": []})
        day["ranges"].append(f"{local_start:%H:%M}-{local_end:%H:%M}")
        day["utc"].append([to_utc_z(start), to_utc_z(end)])
    return {
        "timezone": "Europe/Berlin",
        "slot_minutes": int(length / timedelta(minutes=1)),
        "step_minutes": int(step / timedelta(minutes=1)),
        "slot_count": len(spans),
        "days": list(days.values()),
    }


def _text(data: dict[str, Any]) -> str:
    days = data["days"]
    if not days:
        return "No free slots in this window."
    first = days[0]
    lines = [
        f"Free times, Europe/Berlin local time: a {data['slot_minutes']}-minute booking can start every "
        f"{data['step_minutes']} minutes inside each range and must end by its end.",
        f"book_slot takes start in UTC, e.g. {first['date']} {first['ranges'][0][:5]} local = {first['utc'][0][0]}.",
    ]
    lines.extend(f"{d['weekday']} {d['date']}: {', '.join(d['ranges'])}" for d in days)
    return "\n".join(lines)


_MAX_WINDOW = timedelta(days=90)


def _capped_window(call: Call) -> str | None:
    """90 Berlin days that include the autumn clock change are 90 days and 1 hour, one hour over
    the API's limit: such a window (from and to at Berlin midnights) loses its last hour, with a
    note, instead of being refused."""
    try:
        start = parse_instant(str(call.query["from"]), "from")
        end = parse_instant(str(call.query["to"]), "to")
    except (KeyError, ArgumentError):
        return None
    over = end - start - _MAX_WINDOW
    midnights = all(t.astimezone(BERLIN).time() == time(0) for t in (start, end))
    if not (timedelta(0) < over <= timedelta(hours=1)) or not midnights:
        return None
    call.query["to"] = to_utc_z(start + _MAX_WINDOW)
    last = (end - timedelta(hours=1)).astimezone(BERLIN)
    return (
        f"90 Berlin days across the autumn clock change are 90 days and 1 hour; the API takes at most "
        f"90 days, so {last:%Y-%m-%d} 23:00-24:00 is left out."
    )


async def booking_slots(call: Call) -> Outcome:
    note = _capped_window(call)
    response = await call.send()
    key = list_key(response.data)
    slots = response.data.get(key) if key is not None and isinstance(response.data, dict) else None
    if not isinstance(slots, list):
        raise ApiError(response.status, "invalid_response", "Expected a slots list from the API")
    data = slot_ranges([s for s in slots if isinstance(s, dict)])
    return Outcome(data, text=_text(data), warnings=[note] if note else [])


async def current_user(call: Call) -> Outcome:
    """/me plus the user's booking types (name, slug, duration): the public booking page is
    /public/booking/{slug}/{type slug}."""
    response = await call.send()
    user = response.data if isinstance(response.data, dict) else {}
    out = dict(user)
    try:
        types = await call.send(*call.endpoint("list_booking_types"), query={"per_page": 100})
    except ApiError:
        return Outcome(out)  # a token without access to booking types still gets who it is
    listed = types.data.get("booking_types") if isinstance(types.data, dict) else None
    if isinstance(listed, list):
        out["booking_types"] = [
            {"name": t.get("name"), "slug": t.get("slug"), "duration_minutes": t.get("duration_minutes")}
            for t in listed
            if isinstance(t, dict) and t.get("user_id") in (None, user.get("id"))
        ]
        if user.get("slug"):
            out["booking_slugs"] = (
                f"user_slug = {user['slug']}; type_slug = a booking_types slug (get_booking_slots, book_slot)"
            )
    return Outcome(out)
