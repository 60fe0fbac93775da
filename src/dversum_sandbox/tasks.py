"""(placeholder: being implemented)"""

from __future__ import annotations

from dversum_sandbox.framework import Endpoint

__all__ = ["ENDPOINTS", "SCHEMA"]

SCHEMA = ""
ENDPOINTS: list[Endpoint] = []
