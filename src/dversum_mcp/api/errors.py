"""The one error root of dversum-mcp, and what each failure tells the model.

    DversumError                 anticipated failure; becomes a tool result with isError
    ├── ApiError                 the API (or the network to it) failed: status, field, retryable
    └── ArgumentError            the call's arguments are invalid; no request was sent

A malformed endpoint table is no tool result: `tools.manifest.ManifestError` stops the start-up.

Misuse of our own code raises TypeError/RuntimeError instead, so `except DversumError` never
hides a bug. `error_payload` is the single mapping to the structured result the model sees.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "ArgumentError", "DversumError", "error_payload"]


class DversumError(Exception):
    """Root of the anticipated failures; its message is safe to show (no secrets)."""

    code = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ApiError(DversumError):
    """The dVersum API answered with an error status, or could not be reached.

    Raised by `api.client.ApiClient`; the model sees `{error, status, message, field,
    retryable, retry_after_s, hint}`. `status` is 0 when no HTTP answer arrived.
    """

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        *,
        field: str | None = None,
        retryable: bool = False,
        retry_after_s: float | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = error
        self.field = field
        self.retryable = retryable
        self.retry_after_s = retry_after_s


class ArgumentError(DversumError):
    """A tool call's arguments break the tool's schema; raised before any request is sent."""

    code = "invalid_arguments"

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.field = field


def error_payload(exc: DversumError) -> dict[str, Any]:
    """The structured form of a failure, as the model receives it."""
    payload: dict[str, Any] = {"error": exc.code, "message": exc.message}
    if isinstance(exc, ApiError):
        payload["status"] = exc.status
        payload["retryable"] = exc.retryable
        if exc.retry_after_s is not None:
            payload["retry_after_s"] = round(exc.retry_after_s, 1)
    field = getattr(exc, "field", None)
    if field:
        payload["field"] = field
    if exc.hint:
        payload["hint"] = exc.hint
    elif isinstance(exc, ArgumentError):  # every failure says what to do next, not only what was wrong
        what = f"{field}" if field else "the arguments"
        payload["hint"] = f"Change {what} as the message says and call again."
    return payload
