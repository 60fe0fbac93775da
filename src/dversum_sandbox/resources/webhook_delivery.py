"""Webhook delivery: record deliveries in the request's transaction, POST them after commit, retry.

`WebhookSink.record` runs inside the request transaction (so a rolled-back request sends
nothing); `kick` runs after commit and starts a background asyncio task on demand (there is no
lifespan under `httpx2.ASGITransport`), which exits again when nothing is pending. Retry timing
is real monotonic time, not the sandbox clock, so pinned test clocks still see retries happen.
Deliveries only reach loopback hosts unless a host is allowed explicitly: the sandbox must not
become a way to send requests into someone's network. A host name is resolved once per attempt,
the addresses are checked, and the connection goes to the checked address (the URL keeps its
`Host` header and TLS server name), so a name that answers differently the second time (DNS
rebinding) cannot redirect the POST.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2

from dversum_sandbox.clock import iso
from dversum_sandbox.db import Database, loads
from dversum_sandbox.framework import new_id
from dversum_sandbox.settings import SandboxSettings
from dversum_sandbox.signing import hmac_sha256_hex

__all__ = ["NOT_ALLOWED", "Resolver", "WebhookSink", "is_loopback", "resolve_host"]

log = logging.getLogger("dversum_sandbox.resources.webhooks")

NOT_ALLOWED = "destination not allowed in the sandbox (set DVERSUM_SANDBOX_WEBHOOK_HOSTS)"
Resolver = Callable[[str, int], Awaitable[list[str]]]
_BATCH = 20


async def resolve_host(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (the system resolver, at most 5 s)."""
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout=5)
    return [str(info[4][0]) for info in infos]


def is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _pinned(url: str, address: str) -> tuple[str, dict[str, str]]:
    """`url` with its host replaced by `address`, and the `Host` header the URL had."""
    parts = urlsplit(url)
    host_header = parts.netloc.rsplit("@", 1)[-1]
    literal = address.split("%", 1)[0]
    literal = f"[{literal}]" if ":" in literal else literal
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")), {"Host": host_header}


def _sni(url: str) -> dict[str, Any]:
    """TLS keeps the name of the URL (server name and certificate check), not the address."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or _is_ip(parts.hostname):
        return {}
    return {"sni_hostname": parts.hostname}


class WebhookSink:
    """Records deliveries for emitted events and delivers them in a background task."""

    def __init__(self, settings: SandboxSettings, db: Database, resolve: Resolver | None = None) -> None:
        self.settings = settings
        self.db = db
        self.resolve: Resolver = resolve or resolve_host
        """How host names become addresses for the loopback check (tests substitute a stub)."""
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._due: dict[str, float] = {}  # delivery id → monotonic time of its next attempt
        with db.transaction():
            self._dirty = bool(db.scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'"))

    # ---- inside the request ---------------------------------------------------------------------
    def record(self, db: Database, org_id: str, events: list[tuple[str, dict[str, Any]]], now: datetime) -> None:
        """One pending delivery per (event, active subscription of `org_id` to that event)."""
        hooks = db.all("SELECT id, events FROM webhooks WHERE org_id = ? AND active = 1", (org_id,))
        for event, data in events:
            for hook in hooks:
                if event not in loads(hook["events"]):
                    continue
                delivery_id = new_id()
                envelope = {"id": delivery_id, "event": event, "created_at": iso(now), "data": data}
                db.insert(
                    "webhook_deliveries",
                    {
                        "id": delivery_id,
                        "org_id": org_id,
                        "webhook_id": hook["id"],
                        "event": event,
                        "payload": json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), default=str),
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": iso(now),
                        "created_at": iso(now),
                    },
                )
                self._dirty = True

    # ---- after commit -------------------------------------------------------------------------
    def kick(self) -> None:
        """Make sure a worker runs when deliveries are pending (call from the event loop, after commit)."""
        if not self.settings.deliver_webhooks or not (self._dirty or self._due):
            return
        loop = asyncio.get_running_loop()
        if self._task is not None and not self._task.done() and self._task.get_loop() is loop:
            if self._wake is not None:
                self._wake.set()
            return
        self._wake = asyncio.Event()
        self._task = loop.create_task(self._run(self._wake), name="dversum-sandbox-webhooks")

    async def aclose(self) -> None:
        """Stop the worker; undelivered rows stay pending and are picked up by the next worker."""
        task, self._task = self._task, None
        if task is None or task.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if task.get_loop() is loop:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, wake: asyncio.Event) -> None:
        try:
            while True:
                await self._drain(wake)
                if not (self._dirty or self._due):  # no await between this check and the task's end
                    return
        except Exception:
            log.exception("webhook delivery worker stopped")

    async def _drain(self, wake: asyncio.Event) -> None:
        timeout = httpx2.Timeout(self.settings.webhook_timeout_s)
        async with httpx2.AsyncClient(trust_env=False, follow_redirects=False, timeout=timeout) as client:
            while True:
                wake.clear()
                if self._dirty:
                    self._dirty = False
                    with self.db.transaction():
                        rows = self.db.all("SELECT id FROM webhook_deliveries WHERE status = 'pending'")
                    start = time.monotonic()
                    for row in rows:
                        self._due.setdefault(row["id"], start)
                if not self._due:
                    return
                now = time.monotonic()
                ready = [d for d, at in self._due.items() if at <= now][:_BATCH]
                if ready:
                    for delivery_id in ready:
                        del self._due[delivery_id]
                    await asyncio.gather(*(self._attempt(client, d) for d in ready))
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), max(0.0, min(self._due.values()) - now))

    # ---- one attempt --------------------------------------------------------------------------
    async def _attempt(self, client: httpx2.AsyncClient, delivery_id: str) -> None:
        with self.db.transaction():
            row = self.db.one(
                "SELECT d.id, d.event, d.payload, d.attempts, d.status, w.url, w.secret FROM webhook_deliveries d"
                " JOIN webhooks w ON w.id = d.webhook_id WHERE d.id = ?",
                (delivery_id,),
            )
        if row is None or row["status"] != "pending":
            return
        address, refusal = await self.destination(row["url"])
        if refusal is not None or address is None:
            self._save(delivery_id, {"status": "failed", "last_error": refusal, "next_attempt_at": None})
            return
        body = row["payload"].encode()
        url, pinned = _pinned(row["url"], address)
        headers = {
            **pinned,
            "Content-Type": "application/json",
            "User-Agent": "dVersum-Webhooks/1 (sandbox)",
            "X-Dversum-Event": row["event"],
            "X-Dversum-Signature": "sha256=" + hmac_sha256_hex(row["secret"], body),
            "Idempotency-Key": row["id"],
        }
        code: int | None = None
        error: str | None = None
        try:
            async with (
                asyncio.timeout(self.settings.webhook_timeout_s),
                client.stream("POST", url, content=body, headers=headers, extensions=_sni(row["url"])) as response,
            ):
                code = response.status_code
        except Exception as exc:  # any transport failure is one failed attempt, never a crash
            error = f"{type(exc).__name__}: {exc}".rstrip(": ")
        attempts = row["attempts"] + 1
        changes: dict[str, Any] = {"attempts": attempts, "last_status_code": code}
        if code is not None and 200 <= code < 300:
            changes.update(status="delivered", last_error=None, next_attempt_at=None, delivered_at=self._stamp())
        else:
            changes["last_error"] = error or f"HTTP {code}"
            if attempts > self.settings.webhook_max_retries:
                changes.update(status="failed", next_attempt_at=None)
            else:
                delay = self.settings.webhook_backoff_s * 2 ** (attempts - 1)
                changes["next_attempt_at"] = self._stamp(delay)
                self._due[delivery_id] = time.monotonic() + delay
        self._save(delivery_id, changes)

    async def destination_refusal(self, url: str) -> str | None:
        """None when `url` may be delivered to, else the reason (no connection is attempted)."""
        return (await self.destination(url))[1]

    async def destination(self, url: str) -> tuple[str | None, str | None]:
        """`(address, None)`: deliver to `url` by connecting to `address`, the one checked;
        `(None, reason)`: refused. The host name is resolved exactly once here."""
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return None, "invalid URL"
        if not host or parts.scheme not in ("http", "https"):
            return None, "invalid URL"
        allowed = host.lower() in self.settings.webhook_hosts
        if _is_ip(host):
            addresses = [host]
        else:
            try:
                addresses = await self.resolve(host, port)
            except Exception:  # unresolvable: it cannot be shown to be loopback
                addresses = []
        if not addresses:
            # An explicitly allowed name is trusted as a name; anything else must be shown loopback.
            return (host, None) if allowed else (None, NOT_ALLOWED)
        if not allowed and not all(is_loopback(a) for a in addresses):
            return None, NOT_ALLOWED
        return addresses[0], None

    def _stamp(self, delay_s: float = 0.0) -> str:
        return iso(self.settings.clock() + timedelta(seconds=delay_s))

    def _save(self, delivery_id: str, changes: dict[str, Any]) -> None:
        with self.db.transaction():
            self.db.update("webhook_deliveries", delivery_id, changes)
