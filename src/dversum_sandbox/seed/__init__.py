"""The demo workspace: its data (`data.py`) and the code that creates it through the API (`workspace.py`)."""

from __future__ import annotations

from dversum_sandbox.seed.workspace import SeedError, SeedResult, ensure_seeded, reset, seed

__all__ = ["SeedError", "SeedResult", "ensure_seeded", "reset", "seed"]
