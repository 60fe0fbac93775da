"""The rate limiter shared by every replica: one sliding window per dVersum token, in Redis.

Same rule as `RateLimiter` (at most `limit` requests in any `window_s`, each stamp held 2 %
longer than the API's window), made atomic across processes by one Lua script: prune stamps
older than the span, then either stamp a free slot or answer how long until the oldest stamp
frees one. The clock is Redis's own (`TIME`), so replicas with skewed clocks agree. After a 429
from the API, a penalty key blocks the window until Retry-After has passed.

The key is `dv:rl:<sha256 of the token>`: never the token itself.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from dversum_mcp.api.errors import ApiError
from dversum_mcp.api.limiter import RateLimiter

__all__ = ["SLIDING_WINDOW_LUA", "RedisRateLimiter", "limiter_key"]

SLIDING_WINDOW_LUA = """
local key, penalty = KEYS[1], KEYS[2]
local span, limit, member = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local blocked = redis.call('PTTL', penalty)
if blocked > 0 then return blocked end
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - span)
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, span)
  return -1
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + span - now)
"""


def limiter_key(token: str) -> str:
    return "dv:rl:" + hashlib.sha256(token.encode()).hexdigest()


class RedisRateLimiter(RateLimiter):
    def __init__(
        self,
        redis: Any,
        key: str,
        limit: int = 120,
        window_s: float = 60.0,
        *,
        guard: float = 0.02,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        on_wait: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__(limit, window_s, sleep=sleep, guard=guard)
        self.redis = redis
        self.key = key
        self.on_wait = on_wait
        self._script = redis.register_script(SLIDING_WINDOW_LUA)
        self._penalty_ms = 0

    async def _try(self) -> float | None:
        member = secrets.token_hex(8)
        keys = [self.key, self.key + ":penalty"]
        wait_ms = int(await self._script(keys=keys, args=[int(self._span * 1000), self.limit, member]))
        return None if wait_ms < 0 else wait_ms / 1000

    async def acquire(self, deadline: float | None = None) -> None:
        if self._penalty_ms:
            penalty, self._penalty_ms = self._penalty_ms, 0
            await self.redis.set(self.key + ":penalty", "1", px=penalty)
        while True:
            wait = await self._try()
            if wait is None:
                return
            now = self._clock()
            if deadline is not None and now + wait > deadline:
                raise ApiError(
                    429,
                    "rate_limited",
                    f"Rate limit: {self.limit} requests per {self.window_s:g} s for this dVersum token are used up",
                    retryable=True,
                    retry_after_s=wait,
                    hint=f"Wait about {wait:.0f} s, then retry; batch reads with per_page=100 to need fewer calls.",
                )
            if self.on_wait is not None:
                self.on_wait(wait)
            await self._sleep(max(wait, 0.001))

    def penalize(self, retry_after_s: float) -> None:
        """After a 429 from the API: the next `acquire` blocks every replica until Retry-After has passed."""
        self._penalty_ms = max(1, int(retry_after_s * 1000))
