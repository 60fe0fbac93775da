"""Billing: invoices (§14 UStG, ZUGFeRD), payments and dunning, quotes, contracts, money, PDF.

This group registers its endpoints through `MODULES`; `app.py` joins it with `resources.MODULES`.
"""

from __future__ import annotations

from dversum_sandbox.billing import contracts, invoices, quotes

__all__ = ["MODULES"]

MODULES = (invoices, quotes, contracts)
