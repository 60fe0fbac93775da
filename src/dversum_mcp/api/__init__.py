"""The API layer: one HTTP client for dVersum (real or sandbox), its errors, and the hooks
for behaviour that is more than one request (timers, pages, files, summaries)."""

from __future__ import annotations

__all__: list[str] = []
