"""Client ID Metadata Documents: a client_id that is an https URL names its own metadata.

Fetching a URL a stranger chose is a server-side request forgery risk, so the fetch is
fenced: https only (plain http only for hosts the operator allows, e.g. loopback in tests),
no credentials or fragment in the URL, every resolved address must be public (no loopback,
private, link-local, multicast or reserved ranges) unless the host is allowed explicitly, the
connection goes to the address that was checked (no second DNS lookup to rebind), no
redirects, 5 s for the whole fetch, 64 KiB cap. The document must name itself as `client_id` and list its
redirect URIs; it is a public client (`token_endpoint_auth_method = none`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx2

from dversum_mcp.auth.clients import DversumClient, redirect_uri_problem

__all__ = ["MAX_DOCUMENT_BYTES", "CimdError", "fetch_client_metadata", "is_cimd_client_id"]

MAX_DOCUMENT_BYTES = 64 * 1024
FETCH_DEADLINE_S = 5.0


class CimdError(Exception):
    """The client_id URL or its document is not acceptable (said in the message)."""


def is_cimd_client_id(client_id: str) -> bool:
    return client_id.startswith(("https://", "http://"))


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NOT_PUBLIC = (ipaddress.ip_network("192.0.0.0/24"), ipaddress.ip_network("100.64.0.0/10"))
"""Ranges this Python's `is_global` may still call global (RFC 6890 protocol assignments, shared space)."""


def _public(address: str) -> bool:
    """Globally routable, and so is any IPv4 address wrapped inside (mapped, 6to4, NAT64)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if (
        not ip.is_global  # also shared address space (100.64/10), 192.0.0/24 and the rest of RFC 6890
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or any(ip in net for net in _NOT_PUBLIC if net.version == ip.version)
    ):
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local:
            return False
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo or (None, None))[1]
        if inner is None and ip in _NAT64:
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None:
            return _public(str(inner))
    return True


async def _resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def fetch_client_metadata(
    client_id: str, *, allowed_hosts: Sequence[str] = (), transport: httpx2.AsyncBaseTransport | None = None
) -> DversumClient:
    # one deadline for everything (resolving, connecting, every read): httpx's timeout is per
    # operation, so a server sending a byte every few seconds would otherwise hold the fetch for hours
    try:
        with anyio.fail_after(FETCH_DEADLINE_S):
            body, host = await _fetch(client_id, allowed_hosts, transport)
    except TimeoutError:
        raise CimdError(f"the client metadata document took longer than {FETCH_DEADLINE_S:g} s") from None
    return _client(client_id, host, body)


async def _fetch(
    client_id: str, allowed_hosts: Sequence[str], transport: httpx2.AsyncBaseTransport | None
) -> tuple[bytes, str]:
    parts = urlsplit(client_id)
    host = (parts.hostname or "").lower()
    allowed = host in {h.lower() for h in allowed_hosts}
    if parts.scheme != "https" and not (parts.scheme == "http" and allowed):
        raise CimdError("a client_id URL must use https")
    if not host or parts.username or parts.password or parts.fragment or parts.path in ("", "/"):
        raise CimdError("a client_id URL needs a host and a path, and no credentials or fragment")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = await _resolve(host, port)
    except OSError:
        raise CimdError(f"cannot resolve {host}") from None
    if not addresses or (not allowed and not all(_public(a) for a in addresses)):
        raise CimdError(f"{host} resolves to a non-public address")
    pinned = addresses[0]
    netloc = f"[{pinned}]:{port}" if ":" in pinned else f"{pinned}:{port}"
    url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    headers = {"Host": parts.netloc, "Accept": "application/json"}
    try:
        async with (
            httpx2.AsyncClient(transport=transport, timeout=5.0, follow_redirects=False, trust_env=False) as http,
            http.stream("GET", url, headers=headers, extensions={"sni_hostname": host}) as response,
        ):
            if response.status_code != 200:
                raise CimdError(f"the client metadata document answered HTTP {response.status_code}")
            body = b""
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise CimdError("the client metadata document is larger than 64 KiB")
    except httpx2.HTTPError:
        raise CimdError("the client metadata document could not be fetched") from None
    return body, host


def _client(client_id: str, host: str, body: bytes) -> DversumClient:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: brackets nested deeper than the parser goes
        raise CimdError("the client metadata document is not JSON") from None
    if not isinstance(document, dict) or document.get("client_id") != client_id:
        raise CimdError("the client metadata document must name its own URL as client_id")
    uris = document.get("redirect_uris")
    if not isinstance(uris, list) or not uris or not all(isinstance(u, str) for u in uris):
        raise CimdError("the client metadata document must list redirect_uris")
    problems = [p for p in map(redirect_uri_problem, uris) if p is not None]
    if problems:
        raise CimdError(problems[0])
    try:
        return DversumClient(
            client_id=client_id,
            client_name=str(document.get("client_name") or host)[:100],
            redirect_uris=uris,
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",  # noqa: S106 - a method name, not a secret
            scope="mcp",
        )
    except ValueError:
        raise CimdError("the client metadata document has invalid redirect_uris") from None
