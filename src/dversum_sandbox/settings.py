"""Sandbox configuration: where data lives, the rate limit, the clock and webhook reach."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from dversum_sandbox.clock import system_clock

__all__ = ["RATE_LIMIT", "SandboxSettings", "default_data_dir"]


def default_data_dir() -> Path:
    """`DVERSUM_SANDBOX_DIR`, else the per-user data directory (platformdirs)."""
    override = os.environ.get("DVERSUM_SANDBOX_DIR")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("dversum-mcp", appauthor=False)) / "sandbox"


RATE_LIMIT = 120
"""Requests per minute per token, as the real API allows (DVERSUM_SANDBOX_RATE_LIMIT overrides it)."""


@dataclass
class SandboxSettings:
    data_dir: Path = field(default_factory=default_data_dir)
    rate_limit: int = RATE_LIMIT
    rate_window_s: float = 60.0
    clock: Callable[[], datetime] = system_clock
    max_upload_bytes: int = 100 * 1024 * 1024
    webhook_hosts: frozenset[str] = frozenset()
    """Hosts beyond loopback that webhook deliveries may reach (DVERSUM_SANDBOX_WEBHOOK_HOSTS)."""
    webhook_timeout_s: float = 5.0
    webhook_max_retries: int = 5
    webhook_backoff_s: float = 1.0
    deliver_webhooks: bool = True
    in_memory: bool = False
    """Use a private in-memory database (tests); files still go under data_dir."""

    @property
    def db_path(self) -> Path | str:
        return ":memory:" if self.in_memory else self.data_dir / "sandbox.sqlite3"

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

    @classmethod
    def from_env(cls) -> SandboxSettings:
        hosts = os.environ.get("DVERSUM_SANDBOX_WEBHOOK_HOSTS", "")
        limit = os.environ.get("DVERSUM_SANDBOX_RATE_LIMIT")
        return cls(
            webhook_hosts=frozenset(h.strip().lower() for h in hosts.split(",") if h.strip()),
            rate_limit=int(limit) if limit else RATE_LIMIT,
        )
