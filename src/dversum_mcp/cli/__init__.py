"""The command line: argument parsing; serve, tools and call; the sandbox, webhook, openapi and docs commands.

`backend.py` is the one module in `dversum_mcp` that imports the sandbox.
"""

from __future__ import annotations

from dversum_mcp.cli.main import main

__all__ = ["main"]
