"""Client-side rate limiter: at most `limit` requests in any `window_s` seconds for one token.

The same sliding-window rule the API enforces, so a well-behaved caller never sees a 429.
`acquire(deadline)` waits for a free slot, or raises `ApiError` (retryable) when the wait
would run past the call's deadline: the caller gets a clear answer instead of a hang.

We stamp a request when we send it, the API when it arrives. If an early request travels
longer than one a window later, the API would see `limit + 1` requests in its window and
answer 429 (costing a whole Retry-After). So each stamp counts for `guard` (2 %) longer than
the API's window: 1.2 s at 120/minute, enough for network jitter, at ≤ 2 % of the rate.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Awaitable, Callable

import anyio

from dversum_mcp.api.errors import ApiError

__all__ = ["API_RATE_LIMIT", "RateLimiter"]

API_RATE_LIMIT = 120
"""Requests per minute per token that the dVersum API allows (the reference's rate limit)."""


class RateLimiter:
    def __init__(
        self,
        limit: int = API_RATE_LIMIT,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        guard: float = 0.02,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._span = window_s * (1.0 + guard)
        """How long one of our stamps occupies a slot: the API's window plus the guard."""
        self._clock = clock
        self._sleep = sleep
        self._hits: deque[float] = deque()
        self._lock = anyio.Lock()

    def _take(self, now: float) -> float | None:
        """Stamp a free slot (returns None) or return the seconds until the oldest stamp frees one."""
        while self._hits and self._hits[0] <= now - self._span:
            self._hits.popleft()
        if len(self._hits) < self.limit:
            self._hits.append(now)
            return None
        return self._hits[0] + self._span - now

    async def acquire(self, deadline: float | None = None) -> None:
        # nobody waiting: take a free slot without a trip through the event loop
        if not self._lock.locked() and self._take(self._clock()) is None:
            return
        async with self._lock:
            while True:
                now = self._clock()
                wait = self._take(now)
                if wait is None:
                    return
                if deadline is not None and now + wait > deadline:
                    raise ApiError(
                        429,
                        "rate_limited",
                        f"Client-side rate limit: {self.limit} requests per {self.window_s:g} s are used up",
                        retryable=True,
                        retry_after_s=wait,
                        hint=f"Wait about {wait:.0f} s, then retry; batch reads with per_page=100 to need fewer calls.",
                    )
                await self._sleep(max(wait, 0.001))

    def penalize(self, retry_after_s: float) -> None:
        """After a 429 from the API: treat the window as full until Retry-After has passed, for
        at most one window (after that the API's own count has renewed; it can say 429 again).
        An absurd value (`inf`, `1e12`, NaN, negative) never blocks longer than that."""
        now = self._clock()
        wait = retry_after_s if math.isfinite(retry_after_s) else self.window_s
        wait = min(max(wait, 0.0), self.window_s)
        self._hits.clear()
        start = now + wait - self._span
        self._hits.extend([start] * self.limit)
