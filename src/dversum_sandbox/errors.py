"""The sandbox's API errors: what a handler raises to answer `{error, message, field}` with a status.

Raised by resource handlers and the framework; the app turns every `SandboxError` into the
reference's error JSON. Anything else a handler raises is a bug, answered as a 500 with a
generic body (and logged), never with a traceback.
"""

from __future__ import annotations

__all__ = [
    "SandboxError",
    "bad_request",
    "conflict",
    "forbidden",
    "not_found",
    "too_large",
    "unauthorized",
    "validation",
]


class SandboxError(Exception):
    """An API error answer: HTTP status, machine token, human message and optional field."""

    def __init__(
        self, status: int, error: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.field = field
        self.headers = headers or {}

    def body(self) -> dict[str, object]:
        out: dict[str, object] = {"error": self.error, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        return out


def bad_request(message: str, field: str | None = None) -> SandboxError:
    return SandboxError(400, "bad_request", message, field)


def unauthorized(message: str = "Missing or invalid API token") -> SandboxError:
    return SandboxError(401, "unauthorized", message)


def forbidden(message: str) -> SandboxError:
    return SandboxError(403, "forbidden", message)


def not_found(resource: str, resource_id: str | None = None) -> SandboxError:
    what = f"{resource} {resource_id}" if resource_id else resource
    return SandboxError(404, "not_found", f"{what} not found")


def conflict(message: str, field: str | None = None, error: str = "conflict") -> SandboxError:
    return SandboxError(409, error, message, field)


def validation(field: str | None, message: str) -> SandboxError:
    return SandboxError(422, "validation_failed", message, field)


def too_large(message: str) -> SandboxError:
    return SandboxError(413, "payload_too_large", message)
