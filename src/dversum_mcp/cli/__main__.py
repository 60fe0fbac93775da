"""`python -m dversum_mcp.cli`: the same as the `dversum-mcp` command."""

from __future__ import annotations

import sys

from dversum_mcp.cli.main import main

sys.exit(main())
