"""Opaque continuation cursors for lists and long texts.

A list cursor says where the next answer starts: the position in the API's order, the id
of the last item already shown, the list's total at that time, and the page size and mode
(`all_pages`) the walk was started with. It is bound to the tool and its filters by a short
hash, so a cursor from another list or other filters is refused instead of silently walking
the wrong list. A text cursor is the character offset of the rest of a long text.

Cursors are short dotted strings (a cursor is paid for in tokens twice per answer): opaque to
the model, and nothing secret is in them. The last items shown (up to three, the last first) are
named by 8-hex tags of their ids: if the last one was deleted meanwhile, the walk goes on after the
one before it instead of guessing from the totals.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dversum_mcp.api.errors import ArgumentError

__all__ = ["ListCursor", "TextCursor", "decode_list_cursor", "decode_text_cursor", "filter_key", "id_tag"]

_IGNORED = frozenset({"page", "per_page", "all_pages", "cursor", "fields"})
_MAX_ANCHORS = 3
_TAG = re.compile(r"^[0-9a-f]{8}$")
_HINT = "Call the tool again without cursor to start from the beginning."


def filter_key(tool: str, query: Mapping[str, Any]) -> str:
    """A short hash of the tool and its filters (paging arguments excluded)."""
    filters = {k: v for k, v in sorted(query.items()) if k not in _IGNORED and v is not None}
    raw = json.dumps([tool, filters], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:6]


def id_tag(item_id: str) -> str:
    """8 hex digits standing for an item id in a cursor (ids are long; a cursor is read in tokens)."""
    return hashlib.sha256(item_id.encode()).hexdigest()[:8]


def _bad(text: str) -> ArgumentError:
    return ArgumentError(
        f"cursor {text[:40]!r} is not a cursor this server gave out; pass next_cursor as it came. {_HINT}",
        field="cursor",
    )


@dataclass(frozen=True)
class ListCursor:
    """Where a list walk continues: `pos` is the index of the next item in the API's order."""

    key: str
    pos: int
    anchors: tuple[str, ...]  # id tags of the last items shown, the last first
    total: int
    per_page: int
    all_pages: bool

    def encode(self) -> str:
        """`L<key>.<pos>.<total>.<per_page><a|p>.<tag>_<tag>_<tag>`: short, so it costs few tokens."""
        mode = "a" if self.all_pages else "p"
        return f"L{self.key}.{self.pos}.{self.total}.{self.per_page}{mode}.{'_'.join(self.anchors) or '-'}"


def decode_list_cursor(text: str, key: str) -> ListCursor:
    """Parse a list cursor; `anchors` come back as the ids' tags (`id_tag`)."""
    parts = text.strip().split(".")
    if len(parts) != 5 or not parts[0].startswith("L") or parts[3][-1:] not in ("a", "p"):
        raise _bad(text)
    try:
        cursor = ListCursor(
            key=parts[0][1:],
            pos=int(parts[1]),
            anchors=() if parts[4] == "-" else tuple(parts[4].split("_")),
            total=int(parts[2]),
            per_page=int(parts[3][:-1]),
            all_pages=parts[3].endswith("a"),
        )
    except ValueError:
        raise _bad(text) from None
    if cursor.key != key:
        raise ArgumentError(
            f"cursor belongs to another list or other filters; keep the filters of the first call. {_HINT}",
            field="cursor",
        )
    if (
        not 0 <= cursor.pos <= cursor.total
        or not 1 <= cursor.per_page <= 100
        or len(cursor.anchors) > _MAX_ANCHORS
        or not all(_TAG.match(tag) for tag in cursor.anchors)
    ):
        raise ArgumentError(f"cursor is damaged. {_HINT}", field="cursor")
    return cursor


@dataclass(frozen=True)
class TextCursor:
    """The rest of a long text starts at character `offset` of field `field`."""

    field: str
    offset: int

    def encode(self) -> str:
        return f"T{self.field}.{self.offset}"


def decode_text_cursor(text: str) -> TextCursor:
    field, _, offset = text.strip()[1:].rpartition(".")
    if not text.startswith("T") or not field or not offset.isdigit():
        raise _bad(text)
    cursor = TextCursor(field=field, offset=int(offset))
    if cursor.offset < 0:
        raise ArgumentError(f"cursor is damaged. {_HINT}", field="cursor")
    return cursor
