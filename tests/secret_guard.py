"""pytest plugin: no secret may appear in any transcript of the whole test session.

Secrets are learned as they appear: DVERSUM_API_TOKEN / DVERSUM_MCP_AUTH_TOKEN from the
environment, every `Secret(...)`, every token an `ApiClient` or `BearerGuard` is built with,
every sandbox workspace token, and the webhook `secret` of each `create_webhook` result.
Shapes are caught even when never learned: `dvk_…` API tokens and `whsec_…` webhook secrets.
Each learned secret is also looked for encoded: percent-encoded byte by byte, hex, and
base64 / base64url at each of the three alignments (the part the secret alone decides).

Transcripts scanned: every result and notification an MCP client session receives (tool
results, resources, prompts, log messages), every log record (raw, before any redaction),
the captured stdout/stderr of each test (subprocesses that inherit the test's fds included)
and each failure's exception text. The one permitted appearance is the `secret` in the
`create_webhook` result that hands it out. A leak fails the test it happened in, and the session.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest

__all__ = ["GUARD", "SecretGuard"]

_SHAPES = (re.compile(r"dvk_[A-Za-z0-9_-]{20,}"), re.compile(r"whsec_[A-Za-z0-9_-]{20,}"))
# What the sandbox CLI prints on purpose: its own local demo token (documented in its help).
_ALLOWED_LINES = re.compile(r"token \(sandbox only\): \S+|curl -H 'Authorization: Bearer \S+'")
_MIN_LENGTH = 8


def encoded_forms(secret: str) -> set[str]:
    """How `secret` looks percent-encoded, hex-encoded and inside base64 text (any alignment)."""
    raw = secret.encode()
    forms = {"".join(f"%{b:02X}" for b in raw), "".join(f"%{b:02x}" for b in raw), raw.hex()}
    forms |= {quote(secret, safe=""), quote(secret)} - {secret}
    for shift in range(3):
        text = base64.b64encode(b"\0" * shift + raw + b"\0\0").decode()
        core = text[-(-8 * shift // 6) : 8 * (shift + len(raw)) // 6]
        forms |= {core, core.replace("+", "-").replace("/", "_")}
    return forms


@dataclass
class SecretGuard:
    secrets: set[str] = field(default_factory=set)
    forms: dict[str, str] = field(default_factory=dict)
    """encoded form -> the secret it encodes"""
    leaks: list[str] = field(default_factory=list)
    scanned: int = 0
    current: str = "session"
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def learn(self, value: object) -> None:
        if isinstance(value, str) and len(value.strip()) >= _MIN_LENGTH:
            with self._lock:
                self.secrets.add(value.strip())
                for form in encoded_forms(value.strip()):
                    self.forms[form] = value.strip()

    def find(self, text: str, exempt: Iterable[str] = ()) -> list[str]:
        """The secrets (or secret-shaped strings) in `text`, except `exempt` ones."""
        allowed = set(exempt)
        found = [s for s in list(self.secrets) if s not in allowed and s in text]
        found += [f for f, s in list(self.forms.items()) if s not in allowed and f in text]
        for shape in _SHAPES:
            found += [m for m in shape.findall(text) if m not in allowed and not any(m in a for a in allowed)]
        return sorted(set(found))

    def mask(self, text: str) -> str:
        for found in self.find(text):
            text = text.replace(found, found[:6] + "…(masked)")
        return text

    def scan(self, text: str, where: str, exempt: Iterable[str] = ()) -> None:
        self.scanned += 1
        found = self.find(text, exempt)
        if found:
            preview = ", ".join(f"{s[:6]}…({len(s)} chars)" for s in found)
            with self._lock:
                self.leaks.append(f"{self.current}: {where}: {preview}")


GUARD = SecretGuard()


class _LogScanner(logging.Handler):
    """Sees every record the root logger handles, unformatted and unredacted."""

    def __init__(self) -> None:
        super().__init__(level=0)
        self._formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + self._formatter.formatException(record.exc_info)
            GUARD.scan(text, f"log record {record.name}")
        except Exception:
            pass


_HANDLER = _LogScanner()


def _dump(value: Any) -> str:
    dump = getattr(value, "model_dump_json", None)
    return dump() if callable(dump) else repr(value)


def _call_target(request: Any) -> str | None:
    """The tool a tools/call request runs (through call_write_tool too)."""
    try:
        data = request.model_dump(by_alias=True, mode="json", exclude_none=True)
    except Exception:
        return None
    if data.get("method") != "tools/call":
        return None
    params = data.get("params") or {}
    name = params.get("name")
    if name in ("call_write_tool", "call_read_tool"):
        inner = (params.get("arguments") or {}).get("name")
        return inner if isinstance(inner, str) else None
    return name if isinstance(name, str) else None


def _webhook_secret(result: Any) -> str | None:
    content = getattr(result, "structured_content", None)
    secret = content.get("secret") if isinstance(content, dict) else None
    return secret if isinstance(secret, str) else None


def _install() -> None:
    from mcp.client.session import ClientSession

    from dversum_mcp.api.client import ApiClient
    from dversum_mcp.config import Secret
    from dversum_mcp.transports.http import BearerGuard
    from dversum_sandbox.resources import accounts

    send_request = ClientSession.send_request

    async def guarded_send_request(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        result = await send_request(self, request, *args, **kwargs)
        exempt: list[str] = []
        if _call_target(request) == "create_webhook" and (secret := _webhook_secret(result)):
            GUARD.learn(secret)
            exempt.append(secret)  # handed out once, here, by design
        GUARD.scan(_dump(result), "MCP result", exempt)
        return result

    on_notify = ClientSession._on_notify

    async def guarded_on_notify(self: Any, dctx: Any, method: str, params: Any) -> None:
        GUARD.scan(repr(params), f"MCP notification {method}")
        await on_notify(self, dctx, method, params)

    api_init = ApiClient.__init__

    def guarded_api_init(self: Any, *args: Any, **kwargs: Any) -> None:
        GUARD.learn(kwargs.get("token"))
        api_init(self, *args, **kwargs)

    secret_init = Secret.__init__

    def guarded_secret_init(self: Any, value: str) -> None:
        GUARD.learn(value)
        secret_init(self, value)

    bearer_init = BearerGuard.__init__

    def guarded_bearer_init(self: Any, app: Any, token: str) -> None:
        GUARD.learn(token)
        bearer_init(self, app, token)

    create_workspace = accounts.create_workspace

    def guarded_create_workspace(*args: Any, **kwargs: Any) -> Any:
        out = create_workspace(*args, **kwargs)
        GUARD.learn(out[2])
        return out

    hash_token = accounts.hash_token

    def guarded_hash_token(token: str) -> str:
        if token.startswith("dvk_"):
            GUARD.learn(token)
        return hash_token(token)

    ClientSession.send_request = guarded_send_request  # type: ignore[method-assign]
    ClientSession._on_notify = guarded_on_notify  # type: ignore[method-assign]
    ApiClient.__init__ = guarded_api_init  # type: ignore[method-assign]
    Secret.__init__ = guarded_secret_init  # type: ignore[method-assign]
    BearerGuard.__init__ = guarded_bearer_init  # type: ignore[method-assign]
    accounts.create_workspace = guarded_create_workspace
    accounts.hash_token = guarded_hash_token
    for name in ("DVERSUM_API_TOKEN", "DVERSUM_MCP_AUTH_TOKEN", "DVERSUM_WEBHOOK_SECRET"):
        GUARD.learn(os.environ.get(name))


def _ensure_handler() -> None:
    root = logging.getLogger()
    if _HANDLER not in root.handlers:  # `configure_logging` (cli.main) replaces the root handlers
        root.addHandler(_HANDLER)


def pytest_configure(config: pytest.Config) -> None:
    _install()
    _ensure_handler()


def pytest_runtest_setup(item: pytest.Item) -> None:
    GUARD.current = item.nodeid
    _ensure_handler()


_REPORTED: set[int] = set()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    _ensure_handler()
    for title, text in report.sections:
        GUARD.scan(_ALLOWED_LINES.sub("", text), title)
    if report.longrepr is not None:
        GUARD.scan(str(report.longreprtext), "exception text")
    mine = [i for i, leak in enumerate(GUARD.leaks) if i not in _REPORTED and leak.startswith(item.nodeid + ":")]
    if mine:
        _REPORTED.update(mine)
        original = GUARD.mask(str(report.longreprtext)) if report.longrepr is not None else ""
        report.outcome = "failed"
        report.longrepr = (
            "secret guard: a secret appeared in a transcript:\n"
            + "\n".join(GUARD.leaks[i] for i in mine)
            + (f"\n\n(the test's own report, secrets masked)\n{original}" if original else "")
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if GUARD.leaks and session.exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    verdict = f"{len(GUARD.leaks)} leak(s)" if GUARD.leaks else "0 leaks"
    terminalreporter.write_line(
        f"secret guard: {len(GUARD.secrets)} secrets learned, {GUARD.scanned} transcripts scanned, {verdict}"
    )
    for leak in GUARD.leaks[:20]:
        terminalreporter.write_line(f"  LEAK {leak}")
