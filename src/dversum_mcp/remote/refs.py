"""Withheld outside text in Redis, so a ref one replica gave out can be revealed on any other.

`--lockdown` replaces outside-written text with a `ref`; `reveal_outside_text(ref)` shows it. On
the multi-user server the value is sealed with the shared keys (AES-GCM, bound to its ref) under
`dv:ot:<ref>` and expires with the ref (an hour). Who may reveal it stays in the sealed record.
"""

from __future__ import annotations

import logging
from typing import Any

from dversum_mcp.auth.keys import KeySet

__all__ = ["RedisRefStore"]

log = logging.getLogger(__name__)
PREFIX = "dv:ot:"


class RedisRefStore:
    def __init__(self, redis: Any, keys: KeySet) -> None:
        self.redis = redis
        self.keys = keys

    async def put(self, ref: str, record: bytes, ttl_s: int) -> None:
        await self.redis.set(PREFIX + ref, self.keys.encrypt(record, "outside-ref/" + ref), ex=ttl_s)

    async def get(self, ref: str) -> bytes | None:
        sealed = await self.redis.get(PREFIX + ref)
        if sealed is None:
            return None
        try:
            return self.keys.decrypt(sealed, "outside-ref/" + ref)
        except Exception:  # sealed under a key dropped since, or tampered with: as good as expired
            log.info("withheld text %s could not be opened", ref)
            return None
