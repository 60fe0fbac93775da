"""The audit log: one entry per tool call, in a Redis stream per user with a length cap.

An entry says who (user, OAuth client), what (tool, an HMAC-SHA-256 of the canonical
arguments, the resource ids the call named or produced), when, the outcome and the duration.
Never the arguments themselves: a value typed into a tool can be a secret. The hash is keyed
(a key derived from the shared key set), so a short secret cannot be found by guessing and
hashing; the same call by the same server still hashes the same, which is what an auditor
comparing two entries needs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["AuditEntry", "AuditLog", "resource_ids"]

_MAX_IDS = 20


def resource_ids(arguments: Mapping[str, Any] | None, data: Any) -> list[str]:
    """Ids a call named (`id`, `*_id`, `*_ids` arguments) or produced (`id` of the result)."""
    found: list[str] = []

    def add(value: Any) -> None:
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value) not in found:
            found.append(str(value)[:80])

    for key, value in (arguments or {}).items():
        if key == "id" or key.endswith("_id"):
            add(value)
        elif key.endswith("_ids") and isinstance(value, list):
            for item in value:
                add(item)
    if isinstance(data, Mapping):
        add(data.get("id"))
    return found[:_MAX_IDS]


@dataclass
class AuditEntry:
    user: str
    client: str
    tool: str
    args_hmac: str
    outcome: str
    duration_ms: float
    at: str = ""
    resource_ids: list[str] = field(default_factory=list)
    error: str = ""

    def fields(self) -> dict[str, str]:
        out = {k: (json.dumps(v) if isinstance(v, list) else str(v)) for k, v in asdict(self).items()}
        return out

    @classmethod
    def from_fields(cls, raw: Mapping[str, str]) -> AuditEntry:
        return cls(
            user=raw.get("user", ""),
            client=raw.get("client", ""),
            tool=raw.get("tool", ""),
            args_hmac=raw.get("args_hmac", ""),
            outcome=raw.get("outcome", ""),
            duration_ms=float(raw.get("duration_ms", "0") or 0),
            at=raw.get("at", ""),
            resource_ids=json.loads(raw.get("resource_ids", "[]") or "[]"),
            error=raw.get("error", ""),
        )


class AuditLog:
    def __init__(self, redis: Any, key: bytes, maxlen: int = 100_000) -> None:
        self.redis = redis
        self._key = key
        self.maxlen = maxlen

    @staticmethod
    def stream(user: str) -> str:
        return "dv:audit:" + user

    def args_hmac(self, arguments: Mapping[str, Any] | None) -> str:
        canonical = json.dumps(arguments or {}, sort_keys=True, separators=(",", ":"), default=str)
        return hmac.new(self._key, canonical.encode(), hashlib.sha256).hexdigest()[:32]

    async def record(self, entry: AuditEntry) -> None:
        if not entry.at:
            entry.at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        await self.redis.xadd(self.stream(entry.user), entry.fields(), maxlen=self.maxlen, approximate=True)

    async def read(self, user: str, count: int = 50) -> list[AuditEntry]:
        """The user's latest entries, newest first."""
        rows = await self.redis.xrevrange(self.stream(user), count=max(1, min(count, 1000)))
        return [AuditEntry.from_fields({str(k): str(v) for k, v in raw.items()}) for _, raw in rows]
