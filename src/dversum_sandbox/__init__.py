"""dVersum sandbox: a faithful local implementation of the dVersum REST API v1 on SQLite.

Its own package: it never imports the MCP server. The server reaches it only through an HTTP
transport (in-process `httpx2.ASGITransport`, or `dversum-mcp sandbox serve` on loopback).
"""

from __future__ import annotations

from dversum_sandbox.app import SandboxApp, create_app
from dversum_sandbox.settings import SandboxSettings

__all__ = ["SandboxApp", "SandboxSettings", "create_app"]
