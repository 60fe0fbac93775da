"""Shared by the attack suites: the MCP harness (real server, sandbox on SQLite, SDK client)
outside tests/dversum_mcp, and the per-class attack tally printed in the hardening summary."""

from __future__ import annotations

from pathlib import Path

from dversum_mcp.tools.registry import Registry
from dversum_sandbox import SandboxSettings, create_app
from dversum_sandbox.resources import accounts
from tests.dversum_mcp.conftest import Harness
from tests.hardening.conftest import SUMMARY

__all__ = ["REGISTRY", "Tally", "make_harness"]

REGISTRY = Registry()


def make_harness(tmp_path: Path) -> Harness:
    app = create_app(SandboxSettings(data_dir=tmp_path / "sandbox", rate_limit=100_000, webhook_backoff_s=0.01))
    with app.db.transaction():
        org_id, user_id, token = accounts.create_workspace(
            app.db, "Muster GmbH", "Anna Admin", "anna@muster.de", "anna", "2026-01-01T00:00:00Z"
        )
        # the seller data §14 Abs. 4 UStG requires before an invoice can be sent
        address = {"street": "Musterstraße 1", "postal_code": "10115", "city": "Berlin", "vat_id": "DE111111111"}
        app.db.update("orgs", org_id, address)
    return Harness(app, token, org_id, user_id, [], REGISTRY)


class Tally:
    """Attacks run and held for one class, reported as `SUMMARY[<class> attacks]`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.run = 0
        self.held = 0

    def count(self, held: bool) -> bool:
        self.run += 1
        self.held += int(held)
        SUMMARY[f"{self.name} attacks"] = f"{self.run} run, {self.held} held"
        return held
