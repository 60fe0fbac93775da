"""Input checks the framework's field readers leave out, shared by storage, bookings and webhooks.

JSON allows escaped lone surrogates (`"\\ud800"`); Python decodes them into strings that SQLite
cannot store, which would surface as a 500. `ensure_text` refuses them up front as a 422.
`moment` reads a date-time like `Ctx.datetime_field`, but refuses years so far out that
converting or shifting them overflows Python's datetime (0001-01-01T00:00:00+01:00).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dversum_sandbox.clock import parse_datetime
from dversum_sandbox.errors import bad_request, validation
from dversum_sandbox.framework import Ctx

__all__ = ["ensure_text", "moment", "required_moment"]

_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _encodable(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, list):
        return all(_encodable(v) for v in value)
    if isinstance(value, dict):
        return all(_encodable(k) and _encodable(v) for k, v in value.items())
    return True


def ensure_text(ctx: Ctx) -> None:
    """422 naming the first body field whose text is not valid Unicode (lone surrogates)."""
    for key, value in ctx.body.items():
        if not _encodable(value):
            field = key if _encodable(key) else None
            raise validation(field, f"{field or 'a field'} contains invalid Unicode (a lone surrogate)")


def moment(ctx: Ctx, name: str, *, query: bool = False) -> datetime | None:
    """The body (or query) date-time `name` in UTC, None when absent; 422 when invalid or out of range."""
    raw = ctx.q(name) if query else ctx.body.get(name)
    if raw is None:
        return None
    try:
        value = parse_datetime(raw, name)
    except OverflowError:
        value = _LATEST
    if not _EARLIEST <= value < _LATEST:
        raise validation(name, f"{name} must lie between the years 1970 and 8999")
    return value


def required_moment(ctx: Ctx, name: str, *, query: bool = False) -> datetime:
    """`moment`, but 400 naming the field when it is absent."""
    value = moment(ctx, name, query=query)
    if value is None:
        raise bad_request(f"{name} is required (ISO 8601, e.g. 2026-06-04T09:00:00Z)", name)
    return value
