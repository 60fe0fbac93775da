"""SQLite storage: one file, WAL, one transaction per request, schema from the resource modules.

`Database` owns a single connection used from the event loop thread; requests are served one
at a time inside `transaction()`, which makes every request atomic and keeps concurrent writes
(200 tool calls on one invoice) consistent without row locks.

`CREATE TABLE IF NOT EXISTS` never migrates, so the database records which schema made it: a
fingerprint of all the DDL in `PRAGMA user_version`. `schema_matches` tells an upgrade's caller
(`seed.workspace.ensure_seeded`) to reset and reseed instead of running handlers on old tables.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["Database", "Row", "dumps", "loads", "schema_fingerprint", "schema_matches"]

Row = dict[str, Any]


def dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def schema_fingerprint(schema: Sequence[str]) -> int:
    """A positive 31-bit hash of all the DDL (what fits `PRAGMA user_version`): another schema, another number."""
    digest = hashlib.sha256("\n;\n".join(schema).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF or 1


def _stamp(conn: sqlite3.Connection) -> tuple[int, int]:
    """(number of tables, stored fingerprint) of an open database."""
    tables = conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
    return int(tables), int(conn.execute("PRAGMA user_version").fetchone()[0])


def schema_matches(path: Path | str, schema: Sequence[str]) -> bool:
    """Whether the database at `path` was made with this schema (no database, or an empty one, matches)."""
    if str(path) == ":memory:" or not Path(path).exists():
        return True
    conn = sqlite3.connect(str(path))
    try:
        tables, stored = _stamp(conn)
    finally:
        conn.close()
    return tables == 0 or stored == schema_fingerprint(schema)


class Database:
    """A SQLite database file with the sandbox schema applied and its fingerprint stored."""

    def __init__(self, path: Path | str, schema: Sequence[str]) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute("PRAGMA busy_timeout=5000")
        fingerprint = schema_fingerprint(schema)
        with self.transaction():
            tables, stored = _stamp(self.conn)
            for ddl in schema:
                for statement in _split(ddl):
                    self.conn.execute(statement)
        if tables == 0 or stored == fingerprint:  # an outdated database keeps its old stamp: reset it
            self.conn.execute(f"PRAGMA user_version = {fingerprint}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any exception."""
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    # Small query helpers shared by the resource modules.
    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row = self.conn.execute(sql, params).fetchone()
        return dict(row) if row is not None else None

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return [dict(r) for r in self.conn.execute(sql, params).fetchall()]

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def insert(self, table: str, values: Row) -> None:
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        self.conn.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", list(values.values()))  # noqa: S608

    def update(self, table: str, row_id: str, values: Row) -> None:
        if not values:
            return
        sets = ", ".join(f"{k} = ?" for k in values)
        self.conn.execute(f"UPDATE {table} SET {sets} WHERE id = ?", [*values.values(), row_id])  # noqa: S608


def _split(ddl: str) -> list[str]:
    return [s.strip() for s in ddl.split(";") if s.strip()]
