"""(placeholder: being implemented)"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dversum_sandbox.db import Database
from dversum_sandbox.framework import Endpoint
from dversum_sandbox.settings import SandboxSettings

__all__ = ["ENDPOINTS", "SCHEMA", "WebhookSink"]

SCHEMA = ""
ENDPOINTS: list[Endpoint] = []


class WebhookSink:
    def __init__(self, settings: SandboxSettings, db: Database) -> None:
        self.settings = settings
        self.db = db

    def record(self, db: Database, org_id: str, events: list[tuple[str, dict[str, Any]]], now: datetime) -> None:
        return None

    def kick(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
