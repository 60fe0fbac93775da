"""Timer hooks: start (switching a running timer off first), stop, the running timer, and
time entries logged after the fact with a duration.

At most one timer runs per user. The API refuses a second start with 409 `timer_running`;
`start_timer` with `if_running="switch"` (default) stops the old one and retries, so even
concurrent starts end with exactly one running timer.
"""

from __future__ import annotations

import re
import weakref
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio

from dversum_mcp.api.calls import Call, Outcome
from dversum_mcp.api.client import ApiClient
from dversum_mcp.api.errors import ApiError, ArgumentError

__all__ = [
    "create_time_entry",
    "format_duration",
    "get_running_timer",
    "parse_duration",
    "parse_instant",
    "start_timer",
    "stop_timer",
    "to_utc_z",
]

_ISO_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)
_HUMAN = re.compile(
    r"(?P<n>\d+(?:[.,]\d+)?)\s*(?P<u>hours?|hrs?|std|h|minutes?|mins?|m|seconds?|secs?|s)(?![a-z])", re.IGNORECASE
)
_SWITCH_ATTEMPTS = 5
_MAX_DURATION_S = 366 * 86400
# One switch (look up → stop → start) at a time per API client, so concurrent start_timer calls
# from this server queue up instead of stopping each other's fresh timers. Other clients' races
# are still handled by the retry loop.
_SWITCH_LOCKS: weakref.WeakKeyDictionary[ApiClient, anyio.Lock] = weakref.WeakKeyDictionary()


def _unit_seconds(unit: str) -> int:
    lowered = unit.lower()
    if lowered.startswith("h") or lowered == "std":
        return 3600
    return 60 if lowered.startswith("m") else 1


def parse_duration(text: str) -> timedelta:
    """`PT2H30M`, `2h30m`, `2h 30min`, `90m`, `1.5h`, `1:30` → timedelta (> 0)."""
    value = text.strip()
    iso = _ISO_DURATION.match(value)
    seconds: float | None = None
    if iso and any(iso.group(g) for g in "dhms"):
        seconds = sum(float(iso.group(g) or 0) * f for g, f in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)))
    elif re.fullmatch(r"\d{1,3}:\d{2}", value):
        hours, minutes = value.split(":")
        seconds = int(hours) * 3600 + int(minutes) * 60
    else:
        parts = list(_HUMAN.finditer(value))
        if parts and _HUMAN.sub("", value).strip() == "":
            seconds = 0.0
            for part in parts:
                number = float(part.group("n").replace(",", "."))
                seconds += number * _unit_seconds(part.group("u"))
    if seconds is None or seconds <= 0:
        raise ArgumentError(f"duration {text!r} is not a duration; use e.g. 2h30m, 90m or PT2H30M", field="duration")
    if seconds > _MAX_DURATION_S:
        raise ArgumentError(
            f"duration {text!r} is longer than a year", field="duration", hint="Log long work as several entries."
        )
    return timedelta(seconds=seconds)


def format_duration(seconds: float) -> str:
    """`1h 25m` (minutes rounded down; under a minute: `45s`)."""
    total = int(max(seconds, 0))
    hours, rest = divmod(total, 3600)
    minutes = rest // 60
    if hours and minutes:
        return f"{hours}h {minutes}m"
    if hours:
        return f"{hours}h"
    if minutes:
        return f"{minutes}m"
    return f"{total}s"


def parse_instant(value: str, field: str) -> datetime:
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ArgumentError(f"{field} must be ISO 8601, e.g. 2026-06-04T09:00:00Z", field=field) from None
    if parsed.tzinfo is None:
        raise ArgumentError(f"{field} needs a time zone (Z or +02:00)", field=field)
    return parsed.astimezone(UTC)


def to_utc_z(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _with_duration(entry: dict[str, Any]) -> dict[str, Any]:
    seconds = entry.get("duration_seconds")
    if isinstance(seconds, int | float):
        return {**entry, "duration": format_duration(seconds)}
    return entry


async def _running(call: Call) -> dict[str, Any] | None:
    try:
        response = await call.send(*call.endpoint("get_running_timer"), query={})
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise
    return response.data if isinstance(response.data, dict) else None


async def _stop(call: Call, entry_id: str) -> dict[str, Any]:
    response = await call.send(*call.endpoint("stop_timer", id=entry_id), query={}, body={})
    data = response.data
    return _with_duration(data) if isinstance(data, dict) else {"id": entry_id}


async def start_timer(call: Call) -> Outcome:
    lock = _SWITCH_LOCKS.setdefault(call.client, anyio.Lock())
    async with lock:
        # Shielded: once the old timer is stopped, the new one must start even if the caller
        # cancels, so a cancellation never leaves the user with no timer at all. Every request
        # inside is bounded by the API client's timeouts and the call's deadline.
        with anyio.CancelScope(shield=True):
            outcome = await _start_timer(call)
        return outcome


async def _start_timer(call: Call) -> Outcome:
    mode = call.local.get("if_running", "switch")
    stopped: list[dict[str, Any]] = []
    for _ in range(_SWITCH_ATTEMPTS):
        running = await _running(call)
        if running is not None:
            if mode == "error":
                raise ApiError(
                    409,
                    "timer_running",
                    f"A timer is already running (time entry {running.get('id')}, since {running.get('started_at')})",
                    field="if_running",
                    hint="Stop it with stop_timer, or call start_timer with if_running='switch'.",
                )
            try:
                stopped.append(await _stop(call, str(running["id"])))
            except ApiError as exc:
                if exc.code != "timer_not_running":  # someone else stopped it meanwhile: fine
                    raise
        try:
            response = await call.send()
        except ApiError as exc:
            if exc.code == "timer_running" and mode == "switch":
                continue  # raced with another start: stop that one and try again
            raise
        data: dict[str, Any] = {"started": _with_duration(response.data or {})}
        if stopped:
            data["stopped"] = stopped[-1] if len(stopped) == 1 else stopped
        return Outcome(data)
    raise ApiError(
        409,
        "timer_running",
        "Another timer kept starting at the same time; gave up after several switches",
        retryable=True,
        hint="Call start_timer again.",
    )


async def stop_timer(call: Call) -> Outcome:
    entry_id = call.path_args.get("id")
    if not entry_id:
        running = await _running(call)
        if running is None:
            raise ApiError(404, "no_running_timer", "No timer is running", hint="Start one with start_timer.")
        entry_id = str(running["id"])
    try:
        return Outcome({"stopped": await _stop(call, entry_id)})
    except ApiError as exc:
        if exc.code == "timer_not_running":
            exc.hint = "This entry was already stopped; nothing changed. get_running_timer shows what runs now."
        raise


async def get_running_timer(call: Call) -> Outcome:
    running = await _running(call)
    if running is None:
        return Outcome({"running": False, "message": "No timer is running"})
    seconds = running.get("duration_seconds")
    out: dict[str, Any] = {"running": True, "entry": running}
    if isinstance(seconds, int | float):
        out["elapsed_seconds"] = int(seconds)
        out["elapsed"] = format_duration(seconds)
    return Outcome(out)


async def create_time_entry(call: Call) -> Outcome:
    body = dict(call.body)
    started = parse_instant(str(body["started_at"]), "started_at")
    body["started_at"] = to_utc_z(started)
    duration = call.local.get("duration")
    if duration is not None and "ended_at" in body:
        raise ArgumentError("give either ended_at or duration, not both", field="duration")
    if duration is not None:
        body["ended_at"] = to_utc_z(started + parse_duration(str(duration)))
    elif "ended_at" in body:
        ended = parse_instant(str(body["ended_at"]), "ended_at")
        if ended <= started:
            raise ArgumentError("ended_at must be after started_at", field="ended_at")
        body["ended_at"] = to_utc_z(ended)
    else:
        raise ArgumentError("give ended_at or duration (e.g. 2h30m)", field="ended_at")
    if "task_id" not in body and "project_id" not in body:
        raise ArgumentError("give task_id or project_id", field="task_id")
    response = await call.send(body=body)
    data = _with_duration(response.data or {})
    warnings = []
    overlaps = data.get("overlaps") if isinstance(data, dict) else None
    if overlaps:
        warnings.append(
            f"This entry overlaps {len(overlaps)} other entr{'y' if len(overlaps) == 1 else 'ies'} of the same user: "
            + ", ".join(map(str, overlaps))
            + ". Nothing was merged; adjust or delete one if that was not intended."
        )
    return Outcome(data, warnings=warnings)
