"""Time in the sandbox: one clock to read, and the API's ISO 8601 UTC conventions.

Every handler reads `now` from its request context (the settings' clock), so tests can pin
time (overdue invoices, expired quotes, DST weeks) without sleeping.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from dversum_sandbox.errors import validation

__all__ = ["BERLIN", "iso", "parse_date", "parse_datetime", "system_clock", "today_berlin"]

BERLIN = ZoneInfo("Europe/Berlin")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def system_clock() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime) -> str:
    """`2026-06-04T09:00:00Z`: UTC, second precision, with Z."""
    # isoformat() zero-pads the year (strftime's %Y does not below 1000), so texts sort and re-parse.
    return value.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def parse_datetime(value: object, field: str) -> datetime:
    """ISO 8601 with Z or an offset (converted to UTC); a naive time is refused."""
    if not isinstance(value, str):
        raise validation(field, f"{field} must be an ISO 8601 date-time string")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise validation(field, f"{field} must be ISO 8601, e.g. 2026-06-04T09:00:00Z") from None
    if parsed.tzinfo is None:
        raise validation(field, f"{field} needs a time zone, e.g. 2026-06-04T09:00:00Z") from None
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise validation(field, f"{field} is out of range") from None


def parse_date(value: object, field: str) -> date:
    if not isinstance(value, str) or not _DATE.match(value.strip()):
        raise validation(field, f"{field} must be a date YYYY-MM-DD")
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise validation(field, f"{field} is not a valid calendar date") from None


def today_berlin(now: datetime) -> date:
    return now.astimezone(BERLIN).date()
