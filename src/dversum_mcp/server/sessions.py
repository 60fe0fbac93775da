"""Per-session state (enabled toolsets, resource subscriptions, the session for notifications),
bounded and evicted, and the key that says whose state a request may touch.

The key is never a bare client-supplied value: on stateful Streamable HTTP it is the
`Mcp-Session-Id` the SDK has already matched to a live session (unknown ids get 404 before any
handler runs); on stdio and in-process connections it is a random token per connection. On
stateless HTTP and on 2026-07-28 HTTP requests there is no session, so there is no key and no
state: nothing one client does can change what another sees. The store holds at most
`max_sessions` entries, drops the least recently used first, and forgets HTTP sessions idle for
`idle_s` seconds.
"""

from __future__ import annotations

import secrets
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

__all__ = ["SessionData", "SessionStore", "session_key"]

MAX_SESSIONS = 1000
IDLE_S = 3600.0


@dataclass
class SessionData:
    """What one session has: its enabled toolsets, its subscriptions, its session object."""

    enabled: set[str] = field(default_factory=set)
    subscriptions: set[str] = field(default_factory=set)
    session: Any = None
    seen: float = 0.0


class SessionStore:
    """At most `max_sessions` sessions' state; least recently used out first; idle ones expire."""

    def __init__(
        self, max_sessions: int = MAX_SESSIONS, idle_s: float = IDLE_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_sessions < 1 or not idle_s > 0:
            raise ValueError("max_sessions must be >= 1 and idle_s > 0")
        self.max_sessions = max_sessions
        self.idle_s = idle_s
        self._clock = clock
        self._data: OrderedDict[str, SessionData] = OrderedDict()
        self._swept = float("-inf")

    def get(self, key: str | None) -> SessionData:
        """The state of session `key` (created on first use); for no key, a throwaway one."""
        if key is None:
            return SessionData()
        now = self._clock()
        self._expire(now)
        data = self._data.get(key)
        if data is None:
            data = self._data[key] = SessionData()
            while len(self._data) > self.max_sessions:
                self._data.popitem(last=False)
        self._data.move_to_end(key)
        data.seen = now
        return data

    def peek(self, key: str | None) -> SessionData | None:
        """The state of `key` if kept, without creating or refreshing it."""
        if key is None:
            return None
        self._expire(self._clock())
        return self._data.get(key)

    def items(self) -> list[tuple[str, SessionData]]:
        self._expire(self._clock())
        return list(self._data.items())

    def drop(self, key: str) -> None:
        self._data.pop(key, None)

    def __len__(self) -> int:
        return len(self._data)

    def _expire(self, now: float) -> None:
        """Forget HTTP sessions idle for `idle_s` (the SDK ends them sooner). A local connection
        (stdio: the one client of this process) is never dropped for idling: a client left open
        overnight keeps its toolsets and subscriptions."""
        if now - self._swept < min(1.0, self.idle_s):
            return  # at most one sweep a second: a request must not pay for the whole store
        self._swept = now
        stale = [k for k, d in self._data.items() if k.startswith("http:") and now - d.seen >= self.idle_s]
        for key in stale:
            del self._data[key]


_CONNECTIONS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def session_key(ctx: ServerRequestContext[Any, Any], *, stateless: bool = False) -> str | None:
    """Whose state this request may touch; None when the request belongs to no session."""
    headers = getattr(ctx.request, "headers", None)
    if ctx.request is not None:
        if stateless or ctx.protocol_version in MODERN_PROTOCOL_VERSIONS or headers is None:
            return None
        sid = headers.get("mcp-session-id")
        return f"http:{sid}" if sid else None
    if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
        return "local"  # stdio / in-process 2026-07-28: one peer per process, no connection to key
    connection = getattr(ctx.session, "_connection", None)
    if connection is None:
        return "local"
    try:
        token = _CONNECTIONS.get(connection)
        if token is None:
            token = _CONNECTIONS[connection] = secrets.token_hex(8)
    except TypeError:  # not weak-referenceable: fall back to its identity
        token = f"id{id(connection):x}"
    return f"conn:{token}"
