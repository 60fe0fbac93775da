"""`list_my_audit_log`: the calling user's own audit entries (multi-user server only).

The server that records the log sets `AUDIT_READER` for the request to a reader bound to the
user the request acts for; this hook can read no one else's entries, and elsewhere (stdio,
single-user HTTP) there is no reader and the tool is not offered.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from typing import Any

from dversum_mcp.api.calls import Call, Outcome
from dversum_mcp.api.errors import ApiError

__all__ = ["AUDIT_READER", "AuditReader", "list_my_audit_log"]

AuditReader = Callable[[int], Awaitable[list[dict[str, Any]]]]
AUDIT_READER: contextvars.ContextVar[AuditReader | None] = contextvars.ContextVar("dversum_audit_reader", default=None)


async def list_my_audit_log(call: Call) -> Outcome:
    reader = AUDIT_READER.get()
    if reader is None:
        raise ApiError(
            404, "not_available", "This server keeps no audit log", hint="Only the multi-user server records calls."
        )
    limit = int(call.query.get("limit") or 50)
    tool = call.query.get("tool")
    entries = await reader(200 if tool else limit)
    if tool:
        entries = [e for e in entries if e.get("tool") == tool][:limit]
    return Outcome({"entries": entries, "count": len(entries)})
