"""The workspace's resource families, each a module with its `SCHEMA` and `ENDPOINTS`.

This group registers its endpoints through `MODULES`; `app.py` joins it with `billing.MODULES`.
"""

from __future__ import annotations

from dversum_sandbox.resources import (
    absences,
    accounts,
    bookings,
    calendar,
    clients,
    outbox,
    pages,
    projects,
    storage,
    tasks,
    time_entries,
    webhooks,
)

__all__ = ["MODULES"]

MODULES = (
    accounts,
    outbox,
    clients,
    projects,
    tasks,
    time_entries,
    calendar,
    absences,
    pages,
    storage,
    bookings,
    webhooks,
)
