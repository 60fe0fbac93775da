"""What a resource module needs to implement endpoints: `Endpoint`, the request `Ctx`, field readers.

A resource module declares `SCHEMA` (its CREATE TABLE statements) and `ENDPOINTS` (a list of
`Endpoint` values); `app.py` collects them into one route table. A handler is a plain
synchronous function `handler(ctx) -> result` that runs inside the request's transaction:

- return a JSON-able value (dict/list) → 200 (or the endpoint's `status`), `None` → 204,
  `Raw(...)` → bytes with a media type (PDFs, file downloads, redirects);
- raise `SandboxError` (see `errors.py`) → the reference's `{error, message, field}` JSON.

Field readers on `Ctx` (`ctx.string("name", required=True)` …) raise the right 400/422 with
the field named, so handlers stay short and every input error looks the same. They are typed:
`required=True` gives the value's type (`str`), otherwise the type or `Missing` (the field was
absent or null), so `if value is not MISSING:` narrows it and mypy checks what handlers do.
"""

from __future__ import annotations

import enum
import math
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final, Literal, TypeVar, overload

from dversum_sandbox.clock import iso, parse_date, parse_datetime
from dversum_sandbox.db import Database, Row
from dversum_sandbox.errors import bad_request, not_found, validation
from dversum_sandbox.settings import SandboxSettings

__all__ = [
    "MISSING",
    "Ctx",
    "Endpoint",
    "Missing",
    "Raw",
    "UploadedFile",
    "new_id",
]

_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
T = TypeVar("T")


class Missing(enum.Enum):
    """The type of `MISSING`: a body field that was absent (or null) — distinct from every value."""

    MISSING = "missing"

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = Missing.MISSING


def new_id() -> str:
    """A fresh UUIDv4 string, the API's id format."""
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Endpoint:
    """One route: method, path (relative to /api/v1, `{name}` placeholders), handler."""

    method: str
    path: str
    handler: Callable[[Ctx], Any]
    public: bool = False
    status: int = 200


@dataclass(frozen=True)
class Raw:
    """A non-JSON answer: bytes (PDF, file) or a redirect via headers."""

    content: bytes
    media_type: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Ctx:
    """Everything a handler may use: the database, who is calling, the parsed request."""

    db: Database
    settings: SandboxSettings
    org_id: str
    user_id: str
    path: dict[str, str]
    query: dict[str, str]
    body: dict[str, Any]
    now: datetime
    lang: str
    base_url: str
    """Absolute URL of the API root, e.g. http://127.0.0.1:8080/api/v1 (for links it hands out)."""
    files: dict[str, UploadedFile] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    # ---- side effects -------------------------------------------------------------------
    def emit(self, event: str, data: dict[str, Any]) -> None:
        """Queue a webhook event; recorded in this transaction, delivered after commit."""
        self.events.append((event, data))

    def email(self, to: str, subject: str, body: str, kind: str, related_id: str | None = None) -> str:
        """Record an e-mail the real service would send; it lands in the outbox, never on the network."""
        email_id = new_id()
        self.db.insert(
            "outbox",
            {
                "id": email_id,
                "org_id": self.org_id,
                "to_addr": to,
                "subject": subject,
                "body": body,
                "kind": kind,
                "related_id": related_id,
                "created_at": iso(self.now),
            },
        )
        return email_id

    def update_and_emit(
        self,
        table: str,
        row: Row,
        values: dict[str, Any],
        serialize: Callable[[Ctx, Row], dict[str, Any]],
        event: str | None,
    ) -> dict[str, Any]:
        """The tail of an update handler: write `values`, serialize the updated row, queue `event` with it."""
        self.db.update(table, row["id"], values)
        out = serialize(self, {**row, **values})
        if event is not None:
            self.emit(event, out)
        return out

    @property
    def files_dir(self) -> Path:
        return self.settings.files_dir

    def timestamp(self) -> str:
        return iso(self.now)

    # ---- path and lookup ----------------------------------------------------------------
    def path_id(self, name: str = "id") -> str:
        value = self.path[name]
        if not _ID.match(value):
            raise not_found("resource", None)
        return value

    def fetch(self, table: str, resource: str, row_id: str | None = None) -> Row:
        """The row of this organization with that id, else 404 (other orgs' rows are invisible)."""
        rid = row_id if row_id is not None else self.path_id()
        row = self.db.one(f"SELECT * FROM {table} WHERE id = ? AND org_id = ?", (rid, self.org_id))  # noqa: S608
        if row is None:
            raise not_found(resource, rid)
        return row

    # ---- body field readers -------------------------------------------------------------
    def has(self, name: str) -> bool:
        return name in self.body and self.body[name] is not None

    def _get(self, name: str, required: bool, source: dict[str, Any] | None = None) -> object:
        """The raw JSON value, or MISSING (absent or null); 400 naming the field when required."""
        src = self.body if source is None else source
        value = src.get(name)
        if value is None:
            if required:
                raise bad_request(f"{name} is required", name)
            return MISSING
        return value

    @overload
    def string(self, name: str, *, required: Literal[True], max_length: int = ..., allow_empty: bool = ...) -> str: ...
    @overload
    def string(
        self, name: str, *, required: bool = ..., max_length: int = ..., allow_empty: bool = ...
    ) -> str | Missing: ...
    def string(
        self, name: str, *, required: bool = False, max_length: int = 10_000, allow_empty: bool = False
    ) -> str | Missing:
        value = self._get(name, required)
        if value is MISSING:
            return MISSING
        if not isinstance(value, str):
            raise validation(name, f"{name} must be a string")
        if not allow_empty and not value.strip():
            raise validation(name, f"{name} must not be empty")
        if len(value) > max_length:
            raise validation(name, f"{name} is longer than {max_length} characters")
        return value

    @overload
    def integer(
        self, name: str, *, required: Literal[True], minimum: int | None = ..., maximum: int | None = ...
    ) -> int: ...
    @overload
    def integer(
        self, name: str, *, required: bool = ..., minimum: int | None = ..., maximum: int | None = ...
    ) -> int | Missing: ...
    def integer(
        self, name: str, *, required: bool = False, minimum: int | None = None, maximum: int | None = None
    ) -> int | Missing:
        value = self._get(name, required)
        if value is MISSING:
            return MISSING
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # JSON Schema counts 100.0 as an integer
        if isinstance(value, bool) or not isinstance(value, int):
            raise validation(name, f"{name} must be an integer")
        if minimum is not None and value < minimum:
            raise validation(name, f"{name} must be at least {minimum}")
        if maximum is not None and value > maximum:
            raise validation(name, f"{name} must be at most {maximum}")
        return value

    @overload
    def number(self, name: str, *, required: Literal[True], minimum: float | None = ...) -> float: ...
    @overload
    def number(self, name: str, *, required: bool = ..., minimum: float | None = ...) -> float | Missing: ...
    def number(self, name: str, *, required: bool = False, minimum: float | None = None) -> float | Missing:
        value = self._get(name, required)
        if value is MISSING:
            return MISSING
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise validation(name, f"{name} must be a number")
        if minimum is not None and value < minimum:
            raise validation(name, f"{name} must be at least {minimum}")
        return value

    @overload
    def boolean(self, name: str, *, required: Literal[True]) -> bool: ...
    @overload
    def boolean(self, name: str, *, required: bool = ...) -> bool | Missing: ...
    def boolean(self, name: str, *, required: bool = False) -> bool | Missing:
        value = self._get(name, required)
        if value is MISSING:
            return MISSING
        if not isinstance(value, bool):
            raise validation(name, f"{name} must be true or false")
        return value

    @overload
    def choice(self, name: str, options: Sequence[str], *, required: Literal[True]) -> str: ...
    @overload
    def choice(self, name: str, options: Sequence[str], *, required: bool = ...) -> str | Missing: ...
    def choice(self, name: str, options: Sequence[str], *, required: bool = False) -> str | Missing:
        value = self._get(name, required)
        if value is MISSING:
            return MISSING
        if value not in options:
            raise validation(name, f"{name} must be one of: {', '.join(options)}")
        return str(value)

    @overload
    def date_field(self, name: str, *, required: Literal[True]) -> date: ...
    @overload
    def date_field(self, name: str, *, required: bool = ...) -> date | Missing: ...
    def date_field(self, name: str, *, required: bool = False) -> date | Missing:
        value = self._get(name, required)
        return MISSING if value is MISSING else parse_date(value, name)

    @overload
    def datetime_field(self, name: str, *, required: Literal[True]) -> datetime: ...
    @overload
    def datetime_field(self, name: str, *, required: bool = ...) -> datetime | Missing: ...
    def datetime_field(self, name: str, *, required: bool = False) -> datetime | Missing:
        value = self._get(name, required)
        return MISSING if value is MISSING else parse_datetime(value, name)

    @overload
    def id_field(self, name: str, *, required: Literal[True]) -> str: ...
    @overload
    def id_field(self, name: str, *, required: bool = ...) -> str | Missing: ...
    def id_field(self, name: str, *, required: bool = False) -> str | Missing:
        value = self._get(name, required)
        if value is MISSING:
            return MISSING
        if not isinstance(value, str) or not _ID.match(value):
            raise validation(name, f"{name} must be an id")
        return value

    @overload
    def id_list(self, name: str, *, required: Literal[True]) -> list[str]: ...
    @overload
    def id_list(self, name: str, *, required: bool = ...) -> list[str] | Missing: ...
    def id_list(self, name: str, *, required: bool = False) -> list[str] | Missing:
        value = self._get(name, required)
        if value is MISSING:
            return MISSING
        if not isinstance(value, list) or not all(isinstance(v, str) and _ID.match(v) for v in value):
            raise validation(name, f"{name} must be a list of ids")
        return list(dict.fromkeys(value))

    @overload
    def string_list(self, name: str, *, required: Literal[True]) -> list[str]: ...
    @overload
    def string_list(self, name: str, *, required: bool = ...) -> list[str] | Missing: ...
    def string_list(self, name: str, *, required: bool = False) -> list[str] | Missing:
        value = self._get(name, required)
        if value is MISSING:
            return MISSING
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise validation(name, f"{name} must be a list of strings")
        return value

    # ---- query readers ------------------------------------------------------------------
    def q(self, name: str) -> str | None:
        value = self.query.get(name)
        return value if value not in (None, "") else None

    def q_bool(self, name: str) -> bool | None:
        value = self.q(name)
        if value is None:
            return None
        if value.lower() in ("true", "1", "yes"):
            return True
        if value.lower() in ("false", "0", "no"):
            return False
        raise validation(name, f"{name} must be true or false")

    def q_date(self, name: str) -> date | None:
        value = self.q(name)
        return None if value is None else parse_date(value, name)

    def q_datetime(self, name: str) -> datetime | None:
        value = self.q(name)
        return None if value is None else parse_datetime(value, name)

    def q_choice(self, name: str, options: Sequence[str]) -> str | None:
        """A query filter that must be one of `options` (422 naming them), or None when absent."""
        value = self.q(name)
        if value is not None and value not in options:
            raise validation(name, f"{name} must be one of: {', '.join(options)}")
        return value

    def q_id(self, name: str) -> str | None:
        value = self.q(name)
        if value is not None and not _ID.match(value):
            raise validation(name, f"{name} must be an id")
        return value

    def page(self) -> tuple[int, int]:
        """`page` (≥1, default 1) and `per_page` (1–100, default 25)."""
        out = []
        for name, default, maximum in (("page", 1, 1_000_000), ("per_page", 25, 100)):
            raw = self.q(name)
            if raw is None:
                out.append(default)
                continue
            try:
                number = int(raw)
            except ValueError:
                raise validation(name, f"{name} must be an integer") from None
            if number < 1 or number > maximum:
                raise validation(name, f"{name} must be between 1 and {maximum}")
            out.append(number)
        return out[0], out[1]

    def paginate(
        self,
        key: str,
        table_sql: str,
        params: Sequence[Any],
        order_by: str,
        serialize: Callable[[Row], dict[str, Any]],
    ) -> dict[str, Any]:
        """`SELECT * {table_sql} ORDER BY … LIMIT/OFFSET` → `{key: [...], total, page, per_page}`.

        `table_sql` is the `FROM … WHERE …` part, with `?` parameters in `params`.
        """
        page, per_page = self.page()
        total = self.db.scalar(f"SELECT COUNT(*) {table_sql}", params)
        rows = self.db.all(
            f"SELECT * {table_sql} ORDER BY {order_by} LIMIT ? OFFSET ?",
            [*params, per_page, (page - 1) * per_page],
        )
        return {key: [serialize(r) for r in rows], "total": total, "page": page, "per_page": per_page}
