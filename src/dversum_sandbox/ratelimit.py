"""Per-key sliding-window rate limit (120 requests / 60 s by default), with the reference's headers."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RateLimiter", "Verdict"]


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_epoch: int
    retry_after_s: int

    def headers(self) -> dict[str, str]:
        out = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_epoch),
        }
        if not self.allowed:
            out["Retry-After"] = str(self.retry_after_s)
        return out


class RateLimiter:
    """At most `limit` requests in any `window_s` seconds per key."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}

    def check(self, key: str) -> Verdict:
        now = self._clock()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        wall = time.time()
        if len(hits) >= self.limit:
            wait = hits[0] + self.window_s - now
            return Verdict(False, self.limit, 0, math.ceil(wall + wait), max(1, math.ceil(wait)))
        hits.append(now)
        reset_in = hits[0] + self.window_s - now
        return Verdict(True, self.limit, self.limit - len(hits), math.ceil(wall + reset_in), 0)


class FailureLimiter:
    """At most `limit` failures per key in any `window_s` seconds; then the key is locked until
    the oldest failure leaves the window. Keeps at most `max_keys` keys (oldest dropped first)."""

    def __init__(
        self, limit: int, window_s: float, max_keys: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def locked_for(self, key: str) -> int:
        """0 when `key` may try again, else the seconds until it may."""
        now = self._clock()
        hits = self._failures.get(key)
        if hits is None:
            return 0
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        if not hits:
            del self._failures[key]
            return 0
        if len(hits) < self.limit:
            return 0
        return max(1, math.ceil(hits[0] + self.window_s - now))

    def fail(self, key: str) -> None:
        hits = self._failures.pop(key, None) or deque()
        hits.append(self._clock())
        self._failures[key] = hits  # re-inserted: most recently failed last
        while len(self._failures) > self.max_keys:
            del self._failures[next(iter(self._failures))]
