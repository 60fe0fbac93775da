"""Logging to stderr only (stdout is the JSON-RPC channel in stdio mode), with secrets redacted.

Every formatted line — message, arguments and traceback — passes through the redactor, so a
token can reach the log neither by accident nor through an exception text.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import Iterable
from typing import Any

__all__ = ["QUIET_LOGGERS", "REQUEST_SECRETS", "RedactingFormatter", "configure_logging", "quiet_libraries", "redact"]

REQUEST_SECRETS: contextvars.ContextVar[Any] = contextvars.ContextVar("dversum_request_secrets", default=None)
"""A `Scrubber` for secrets known only during one request (the multi-user server: that user's
token); every log line written in that request passes it too."""

QUIET_LOGGERS = ("httpx2", "httpcore2", "httpx", "httpcore", "mcp", "uvicorn.access", "sse_starlette")
"""Libraries that log wire details (httpcore2 logs response headers at DEBUG): WARNING and up only."""


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` without the secrets, raw or encoded (the server's scrubber: percent, base64, escapes)."""
    from dversum_mcp.server.scrub import Scrubber

    return Scrubber(secrets).text(text)


class RedactingFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str], fmt: str) -> None:
        from dversum_mcp.server.scrub import Scrubber

        super().__init__(fmt)
        self.secrets = [s for s in secrets if s]
        self._scrubber = Scrubber(self.secrets)

    def format(self, record: logging.LogRecord) -> str:
        text = self._scrubber.text(super().format(record))
        extra = REQUEST_SECRETS.get()
        return extra.text(text) if extra else text


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """stderr; a record that cannot be written (stderr closed) is dropped without the standard
    library's "--- Logging error ---" dump, which prints the active exception unredacted."""

    def handleError(self, record: logging.LogRecord) -> None:
        return None


def configure_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    handler = _StderrHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(secrets, "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    quiet_libraries(root.level)


def quiet_libraries(level: int = logging.INFO) -> None:
    """Keep wire-level library logs (headers, bodies) out even at DEBUG."""
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
