"""Settings of the multi-user server, from the environment (secrets never from flags).

| variable | meaning | default |
| --- | --- | --- |
| `DVERSUM_REDIS_URL` | Redis every replica shares | `redis://127.0.0.1:6379/0` |
| `DVERSUM_MCP_PUBLIC_URL` | public base URL: OAuth issuer; the resource is `<url>/mcp` | `http://127.0.0.1:8000` |
| `DVERSUM_MCP_SECRET_KEYS` | comma-separated keys (32+ chars); first encrypts/seals, all decrypt | required |
| `DVERSUM_MCP_ACCESS_TOKEN_TTL` | access token lifetime, seconds | 3600 |
| `DVERSUM_MCP_REFRESH_TOKEN_TTL` | refresh token lifetime, seconds (rotated on every use) | 2592000 (30 days) |
| `DVERSUM_MCP_CODE_TTL` | authorization code and linking page lifetime, seconds | 600 |
| `DVERSUM_MCP_AUDIT_MAXLEN` | audit stream entries kept (approximate) | 100000 |
| `DVERSUM_MCP_METRICS_TOKEN` | when set, `/metrics` needs `Authorization: Bearer <it>` | unset: keep it off the proxy |
| `DVERSUM_MCP_CIMD_HOSTS` | extra hosts whose client metadata documents may be fetched (tests: 127.0.0.1) | none |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from dversum_mcp.auth.keys import KeySet

__all__ = ["RemoteSettings"]


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name, "").strip()
    return int(value) if value else default


@dataclass(frozen=True)
class RemoteSettings:
    redis_url: str
    public_url: str
    keys: KeySet
    access_ttl_s: int = 3600
    refresh_ttl_s: int = 30 * 24 * 3600
    code_ttl_s: int = 600
    audit_maxlen: int = 100_000
    cimd_hosts: tuple[str, ...] = ()
    metrics_token: str = field(default="", repr=False)

    @property
    def resource_url(self) -> str:
        """The MCP endpoint: the RFC 8707 resource and audience of every access token."""
        return self.public_url + "/mcp"

    @property
    def secure(self) -> bool:
        return self.public_url.startswith("https://")

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None) -> RemoteSettings:
        env = os.environ if env is None else env
        return cls(
            redis_url=env.get("DVERSUM_REDIS_URL", "redis://127.0.0.1:6379/0").strip(),
            public_url=env.get("DVERSUM_MCP_PUBLIC_URL", "http://127.0.0.1:8000").strip().rstrip("/"),
            keys=KeySet.from_env(env.get("DVERSUM_MCP_SECRET_KEYS")),
            access_ttl_s=_int(env, "DVERSUM_MCP_ACCESS_TOKEN_TTL", 3600),
            refresh_ttl_s=_int(env, "DVERSUM_MCP_REFRESH_TOKEN_TTL", 30 * 24 * 3600),
            code_ttl_s=_int(env, "DVERSUM_MCP_CODE_TTL", 600),
            audit_maxlen=_int(env, "DVERSUM_MCP_AUDIT_MAXLEN", 100_000),
            metrics_token=env.get("DVERSUM_MCP_METRICS_TOKEN", "").strip(),
            cimd_hosts=tuple(h.strip() for h in env.get("DVERSUM_MCP_CIMD_HOSTS", "").split(",") if h.strip()),
        )
