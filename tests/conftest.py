"""Project-wide test settings: anyio on asyncio, and no test may reach a non-loopback address."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("DVERSUM_BASE_URL", "http://127.0.0.1:9/api/v1")  # never the real API from tests
pytest_plugins = ["tests.secret_guard"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
