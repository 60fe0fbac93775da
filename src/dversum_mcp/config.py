"""Settings from the environment and a `.env` file. Secrets never come from command-line flags.

`Settings.load()` reads `.env` (python-dotenv, without overriding the real environment) and
the `DVERSUM_*` variables. The token is held in a `Secret` so it cannot leak through repr().
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dversum_mcp.api.limiter import API_RATE_LIMIT

__all__ = ["DEFAULT_BASE_URL", "Secret", "Settings"]

DEFAULT_BASE_URL = "https://api.dversum.com/api/v1"
_TRUE = {"1", "true", "yes", "on"}


class Secret:
    """A string that never shows itself in repr/str (logs, tracebacks, error texts)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in _TRUE


def _size(env: Mapping[str, str], name: str, default: int) -> int:
    """A positive byte count; unset, empty or not a positive whole number means the default."""
    value = env.get(name, "").strip().replace("_", "")
    return int(value) if value.isdigit() and int(value) > 0 else default


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


@dataclass(frozen=True)
class Settings:
    token: Secret = field(default_factory=lambda: Secret(""))
    base_url: str = DEFAULT_BASE_URL
    language: str = "de"
    file_roots: tuple[Path, ...] = ()
    extra_manifests: tuple[Path, ...] = ()
    """Further tool-table directories (`DVERSUM_EXTRA_MANIFESTS`), loaded and validated like the built-in one."""
    toolsets: tuple[str, ...] = ()
    """Empty: the default selection. ("all",) lists every tool."""
    tools: tuple[str, ...] = ()
    exclude_tools: tuple[str, ...] = ()
    read_only: bool = False
    documented_only: bool = False
    dynamic: bool = False
    output_schemas: bool = False
    confirm: bool = True
    rate_limit: int = API_RATE_LIMIT
    call_timeout_s: float = 50.0
    request_timeout_s: float = 20.0
    max_retries: int = 3
    mcp_auth_token: Secret = field(default_factory=lambda: Secret(""))
    log_level: str = "INFO"
    webhook_port: int | None = None
    """Receive webhooks on 127.0.0.1:PORT inside the server; shown as dversum://webhooks/events."""
    webhook_secret: Secret = field(default_factory=lambda: Secret(""))
    max_message_bytes: int = 256 * 1024 * 1024
    """The longest stdin line (one JSON-RPC message) the stdio server reads; longer ones are answered."""
    max_response_bytes: int = 8 * 1024 * 1024
    """The largest JSON answer read from the API; a larger one is a `response_too_large` error."""
    max_download_bytes: int = 100 * 1024 * 1024
    """The largest binary download (a PDF, a file) read from the API."""
    lockdown: bool = False
    """Withhold text written outside the organization from results (length and origin instead)."""
    result_budget: int = 6000
    """Tokens each tool result (text and structuredContent alike) may use; lists go on with a cursor."""

    @property
    def sandbox(self) -> bool:
        """No token: the embedded sandbox serves every call."""
        return not self.token

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, *, dotenv: bool = True) -> Settings:
        if env is None:
            if dotenv:
                from dotenv import find_dotenv, load_dotenv

                # usecwd: the user's project folder, not the installed package's directory.
                load_dotenv(find_dotenv(usecwd=True), override=False)
            env = os.environ
        language = env.get("DVERSUM_LANGUAGE", "de").strip().lower()
        roots = tuple(Path(p).expanduser() for p in env.get("DVERSUM_FILE_ROOTS", "").split(os.pathsep) if p.strip())
        return cls(
            token=Secret(env.get("DVERSUM_API_TOKEN", "").strip()),
            base_url=env.get("DVERSUM_BASE_URL", DEFAULT_BASE_URL).strip().rstrip("/"),
            language=language if language in ("de", "en") else "de",
            file_roots=roots,
            extra_manifests=tuple(
                Path(p).expanduser() for p in env.get("DVERSUM_EXTRA_MANIFESTS", "").split(os.pathsep) if p.strip()
            ),
            toolsets=_csv(env.get("DVERSUM_TOOLSETS")),
            tools=_csv(env.get("DVERSUM_TOOLS")),
            exclude_tools=_csv(env.get("DVERSUM_EXCLUDE_TOOLS")),
            read_only=_flag(env, "DVERSUM_READ_ONLY"),
            documented_only=_flag(env, "DVERSUM_DOCUMENTED_ONLY"),
            dynamic=_flag(env, "DVERSUM_DYNAMIC"),
            output_schemas=_flag(env, "DVERSUM_OUTPUT_SCHEMAS"),
            confirm=not _flag(env, "DVERSUM_NO_CONFIRM"),
            rate_limit=int(env.get("DVERSUM_RATE_LIMIT", "") or API_RATE_LIMIT),
            call_timeout_s=float(env.get("DVERSUM_CALL_TIMEOUT", "50") or 50),
            mcp_auth_token=Secret(env.get("DVERSUM_MCP_AUTH_TOKEN", "").strip()),
            log_level=env.get("DVERSUM_LOG_LEVEL", "INFO").strip().upper() or "INFO",
            webhook_port=int(env["DVERSUM_WEBHOOK_PORT"]) if env.get("DVERSUM_WEBHOOK_PORT", "").strip() else None,
            webhook_secret=Secret(env.get("DVERSUM_WEBHOOK_SECRET", "").strip()),
            max_message_bytes=_size(env, "DVERSUM_MAX_MESSAGE_BYTES", cls.max_message_bytes),
            max_response_bytes=_size(env, "DVERSUM_MAX_RESPONSE_BYTES", cls.max_response_bytes),
            max_download_bytes=_size(env, "DVERSUM_MAX_DOWNLOAD_BYTES", cls.max_download_bytes),
            lockdown=_flag(env, "DVERSUM_LOCKDOWN"),
            result_budget=max(1000, int(env.get("DVERSUM_RESULT_BUDGET", "6000") or 6000)),
        )
