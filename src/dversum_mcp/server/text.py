"""The text a model reads: lists as tables with the column names once, objects as `key: value`
lines, money in euros beside the cents, timestamps in their shortest unambiguous form.

Everything here is presentation only; `structuredContent` keeps the API's fields. A nested
object is shown by what identifies it (`project: SEO & Content Grünwerk`): in a list its id
is left to `structuredContent` and to `fields`; in a single object it is shown in brackets.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

import pydantic_core

__all__ = [
    "cell",
    "columns_for",
    "euros",
    "object_lines",
    "short_time",
    "table_header",
    "table_row",
    "whole_characters",
]

_INSTANT = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(:\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")
_NAME_KEYS = ("name", "title", "number", "filename", "email", "slug")
_MAX_CELL = 120
_BREAK = re.compile("[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")  # what str.splitlines() splits at
_QUIET = frozenset({"created_at", "updated_at"})
_DIGIT = frozenset("0123456789")

# The columns a list shows by default where showing all would cost too much; `fields` picks others.
DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "time_entries": ("id", "started_at", "ended_at", "duration_seconds", "project", "task", "description", "billable"),
    "invoices": ("id", "number", "status", "client", "issue_date", "due_date", "total_gross_cents", "open_cents"),
    "quotes": ("id", "number", "status", "client", "issue_date", "valid_until", "total_gross_cents"),
    "tasks": ("id", "title", "column", "project", "due_date", "priority", "done", "assignees", "subtask_count"),
    "contracts": ("id", "title", "status", "client", "start_date", "end_date", "value_cents", "interval"),
    "events": ("id", "title", "start", "end", "all_day", "location"),
    "bookings": ("id", "start_time", "end_time", "guest_name", "guest_email", "status", "booking_type"),
    "booking_types": ("id", "name", "slug", "duration_minutes", "active"),
}


def euros(cents: int, currency: str | None = None) -> str:
    """German format: 119000 → 1.190,00 €."""
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(cents), 100)
    unit = "€" if currency in (None, "", "EUR") else currency
    return f"{sign}{whole:,}".replace(",", ".") + f",{rest:02d} {unit}"


def short_time(value: str, same_day: str | None = None) -> str:
    """2026-11-03T07:30:00Z → 2026-11-03 07:30Z; seconds only when not zero; only the time when
    the date is `same_day` (the date already shown in that row)."""
    match = _INSTANT.match(value)
    return value if match is None else _short(match, same_day)


def _short(match: re.Match[str], same_day: str | None) -> str:
    day, hm, seconds, zone = match.groups()
    clock = hm + (seconds if seconds and seconds != ":00" else "")
    return f"{clock}{zone}" if day == same_day else f"{day} {clock}{zone}"


def _identify(value: dict[str, Any]) -> str | None:
    for key in _NAME_KEYS:
        item = value.get(key)
        if isinstance(item, str | int) and not isinstance(item, bool) and item != "":
            return str(item)
    return None


def cell(key: str, value: Any, *, currency: str | None = None, same_day: str | None = None, limit: bool = True) -> str:
    """One value as text: money with euros, times short, nested objects by name."""
    if type(value) is str and value[:1] not in _DIGIT and len(value) <= _MAX_CELL and not _BREAK.search(value):
        return value.replace("|", "¦") if "|" in value else value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and key.endswith("_cents"):
        return f"{value} ({euros(value, currency)})"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        text = short_time(value, same_day) if value[:1].isdigit() else value
        if limit:
            text = " ".join(text.splitlines()).replace("|", "¦")  # every line break, not only \n
            if len(text) > _MAX_CELL:
                text = text[: whole_characters(text, _MAX_CELL - 1)] + "…"
        return text
    if isinstance(value, dict):
        name = _identify(value)
        if name is not None:
            return name
        return _json(value)  # no name to show it by: all of it, compactly
    if isinstance(value, list):
        if all(isinstance(v, dict) for v in value):
            names = [_identify(v) for v in value]
            if all(names):
                return ", ".join(str(n) for n in names)
            return f"({len(value)})"
        return ", ".join(cell(key, v, currency=currency) for v in value)
    return str(value)


def columns_for(key: str, items: Sequence[dict[str, Any]], fields: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """(shown, other) columns of a list: `fields` when given, else the defaults; empty ones left out."""
    seen: dict[str, None] = {}
    for item in items:
        for name, value in item.items():
            if value not in (None, "", [], {}):
                seen.setdefault(name)
    present = list(seen)
    if fields:
        wanted = ["id", *[f for f in fields if f != "id"]] if "id" in present else list(fields)
        shown = [f for f in wanted if f in seen]
    else:
        default = DEFAULT_COLUMNS.get(key)
        if default is not None:
            shown = [c for c in default if c in seen]
        else:
            nested = {n for n in present if isinstance(_first(items, n), dict | list)}
            shown = [
                n
                for n in present
                if n not in _QUIET
                and not (n.endswith("_id") and n[:-3] in nested)
                and not (n.endswith("_ids") and n[:-4] + "s" in nested)
            ]
    other = [n for n in present if n not in shown]
    return shown, other


def _first(items: Iterable[dict[str, Any]], name: str) -> Any:
    return next((item[name] for item in items if item.get(name) not in (None, "", [], {})), None)


def _json(value: Any) -> str:
    return pydantic_core.to_json(value, fallback=str).decode()


def table_header(columns: Sequence[str]) -> str:
    return " | ".join(columns)


def table_row(item: dict[str, Any], columns: Sequence[str]) -> str:
    currency = item.get("currency") if isinstance(item.get("currency"), str) else None
    out = []
    day: str | None = None  # the date already shown in this row: later times on it show the time only
    for name in columns:
        value = item.get(name)
        if type(value) is str:  # the common cells first, without the general path
            if value[:1] in _DIGIT:
                match = _INSTANT.match(value)
                if match is not None:
                    out.append(_short(match, day))
                    day = match.group(1)
                    continue
            elif len(value) <= _MAX_CELL and "|" not in value and not _BREAK.search(value):
                out.append(value)
                continue
        out.append(cell(name, value, currency=currency, same_day=day))
    return " | ".join(out)


def object_lines(value: dict[str, Any], indent: str = "") -> list[str]:
    """An object as `key: value` lines; nested objects indented, lists of objects as small tables."""
    currency = value.get("currency") if isinstance(value.get("currency"), str) else None
    lines: list[str] = []
    for key, item in value.items():
        if item in (None, "", [], {}):
            continue
        if isinstance(item, dict):
            name = _identify(item)
            ident = item.get("id")
            if name is not None and set(item) <= {"id", *_NAME_KEYS}:
                lines.append(f"{indent}{key}: {name}" + (f" ({ident})" if ident and ident != name else ""))
            else:
                lines.append(f"{indent}{key}:")
                lines.extend(object_lines(item, indent + "  "))
        elif isinstance(item, list) and item and all(isinstance(v, dict) for v in item):
            cols: dict[str, None] = {}
            for row in item:
                for name, v in row.items():
                    if v not in (None, "", [], {}):
                        cols.setdefault(name)
            lines.append(f"{indent}{key} ({len(item)}): {table_header(list(cols))}")
            lines.extend(f"{indent}  {table_row(row, list(cols))}" for row in item)
        elif isinstance(item, str) and len(item.splitlines()) > 1:
            # indented under its key, so no line of the text (a guest's agenda, say) can pass for a
            # field; every line break counts (\r, \u2028 …), not only \n
            lines.append(f"{indent}{key}:")
            lines.extend(f"{indent}  {line}" if line else "" for line in item.splitlines())
        else:
            lines.append(f"{indent}{key}: {cell(key, item, currency=currency, limit=False)}")
    return lines


def _joins(text: str, i: int) -> bool:
    """True when text[i] belongs to the same user-perceived character as text[i - 1]."""
    char, before = text[i], text[i - 1]
    code = ord(char)
    if unicodedata.category(char) in ("Mn", "Me", "Mc") or char in "\u200d\ufe0e\ufe0f" or before == "\u200d":
        return True
    if 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F:  # skin tones, tag sequences
        return True
    if _regional(char) and _regional(before):  # a flag is a pair: count the run before
        run = 0
        while i - 1 - run >= 0 and _regional(text[i - 1 - run]):
            run += 1
        return run % 2 == 1
    return char == "\n" and before == "\r"


def _regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def whole_characters(text: str, cut: int) -> int:
    """`cut` moved back until it falls between two user-perceived characters."""
    while 1 < cut < len(text) and _joins(text, cut):
        cut -= 1
    return cut
