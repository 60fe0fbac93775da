"""Per-user API clients: the access token's subject → that user's dVersum token → an `ApiClient`.

The token is read (and decrypted) from Redis on every request, so a re-link or an unlink takes
effect at once on every replica; the `ApiClient` (connection pool, rate limiter handle) is
cached per user, bounded (least recently used out), and rebuilt when the token changed.
Every client shares the per-token sliding window in Redis, so 120/min holds across replicas.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import httpx2

from dversum_mcp.api.client import ApiClient
from dversum_mcp.api.redis_limiter import RedisRateLimiter, limiter_key
from dversum_mcp.auth.users import UserStore
from dversum_mcp.config import Settings

__all__ = ["UserClients"]


class UserClients:
    def __init__(
        self,
        users: UserStore,
        redis: Any,
        settings: Settings,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        max_clients: int = 256,
        on_wait: Callable[[float], None] | None = None,
    ) -> None:
        self.users = users
        self.redis = redis
        self.settings = settings
        self.transport = transport
        self.max_clients = max_clients
        self.on_wait = on_wait
        self._clients: OrderedDict[str, tuple[str, ApiClient]] = OrderedDict()
        self._retired: list[tuple[float, ApiClient]] = []
        self.last_seen: dict[str, float] = {}

    def build(self, token: str) -> ApiClient:
        s = self.settings
        # guard 5 % (3 s): between the stamp in Redis and the arrival at the API, a request of a busy replica can
        # wait longer than in one process; with 2 % the load bench saw the API answer 429 (bench/bench_remote.py)
        limiter = RedisRateLimiter(self.redis, limiter_key(token), s.rate_limit, 60.0, guard=0.05, on_wait=self.on_wait)
        return ApiClient(
            base_url=s.base_url,
            token=token,
            transport=self.transport,
            language=s.language,
            timeout_s=s.request_timeout_s,
            max_retries=s.max_retries,
            limiter=limiter,
        )

    async def client_for(self, user_id: str) -> ApiClient | None:
        token = await self.users.token(user_id)
        if token is None:
            return None
        now = time.monotonic()
        self.last_seen[user_id] = now
        fingerprint = hashlib.sha256(token.encode()).hexdigest()
        cached = self._clients.get(user_id)
        if cached is not None and cached[0] == fingerprint:
            self._clients.move_to_end(user_id)
            return cached[1]
        client = self.build(token)
        if cached is not None:
            self._retired.append((now, cached[1]))
        self._clients[user_id] = (fingerprint, client)
        while len(self._clients) > self.max_clients:
            _, (_, old) = self._clients.popitem(last=False)
            self._retired.append((now, old))
        await self._close_retired(now - self.settings.call_timeout_s - 5)
        return client

    def active_users(self, window_s: float = 300.0) -> int:
        cutoff = time.monotonic() - window_s
        for user, seen in list(self.last_seen.items()):
            if seen < cutoff:
                del self.last_seen[user]
        return len(self.last_seen)

    async def _close_retired(self, before: float) -> None:
        """Close clients retired long enough ago that no call can still be using them."""
        keep = []
        for retired_at, client in self._retired:
            if retired_at < before:
                await client.aclose()
            else:
                keep.append((retired_at, client))
        self._retired = keep

    async def aclose(self) -> None:
        for _, client in self._clients.values():
            await client.aclose()
        await self._close_retired(float("inf"))
        self._clients.clear()
