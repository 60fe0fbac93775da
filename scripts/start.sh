#!/usr/bin/env bash
# Set up (venv + install, first time only) and start dversum-mcp. Without DVERSUM_API_TOKEN it
# serves the embedded sandbox. Extra arguments go to `dversum-mcp serve`, e.g. --transport http.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/dversum-mcp ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -e .
fi
if [ -t 0 ] && [ "$#" -eq 0 ]; then
  echo "dversum-mcp: serving MCP over stdio (JSON-RPC on stdin/stdout); MCP clients spawn it like this." >&2
  echo "  Connect a client instead (see claude_desktop_config.example.json), or run one tool from the shell:" >&2
  echo "  .venv/bin/dversum-mcp call list_clients '{}'   (Ctrl-C stops this server)" >&2
fi
exec .venv/bin/dversum-mcp serve "$@"
