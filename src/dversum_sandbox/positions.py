"""Dense ordering (0..n-1) of rows within a scope: kanban columns, tasks in a column, sibling pages.

Every change renumbers the whole scope inside the request's transaction, so positions stay
dense and unique even when many moves arrive at once (requests are serialized per transaction).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dversum_sandbox.db import Database

__all__ = ["compact", "ordered_ids", "place", "write_order"]


def ordered_ids(db: Database, table: str, scope: str, params: Sequence[Any], exclude: str | None = None) -> list[str]:
    """Ids in the scope (`scope` is a WHERE condition) in their current order."""
    rows = db.all(f"SELECT id FROM {table} WHERE {scope} ORDER BY position, rowid", params)  # noqa: S608
    return [r["id"] for r in rows if r["id"] != exclude]


def write_order(db: Database, table: str, ids: list[str]) -> None:
    for position, row_id in enumerate(ids):
        db.execute(f"UPDATE {table} SET position = ? WHERE id = ? AND position IS NOT ?", (position, row_id, position))  # noqa: S608


def place(db: Database, table: str, scope: str, params: Sequence[Any], row_id: str, position: int | None) -> int:
    """Put `row_id` (already in the scope) at `position` (None or past the end: last); returns where it landed."""
    ids = ordered_ids(db, table, scope, params, exclude=row_id)
    index = len(ids) if position is None else max(0, min(position, len(ids)))
    ids.insert(index, row_id)
    write_order(db, table, ids)
    return index


def compact(db: Database, table: str, scope: str, params: Sequence[Any]) -> None:
    """Close the gap a row left when it moved out of or was deleted from the scope."""
    write_order(db, table, ordered_ids(db, table, scope, params))
