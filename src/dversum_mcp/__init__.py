"""dversum-mcp: an MCP server for the dVersum business platform API v1.

Kept import-light on purpose: the CLI imports only what the chosen transport needs.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
