"""The authorization server's and the protected resource's HTTP surface, from the SDK's parts.

- RFC 8414 metadata at `/.well-known/oauth-authorization-server` (the SDK's, plus CIMD support
  and the public-client auth method `none`), `/authorize`, `/token`, `/register` (RFC 7591),
  `/revoke` (RFC 7009) from `create_auth_routes`;
- RFC 9728 metadata at `/.well-known/oauth-protected-resource` and its `/mcp` path variant;
- the account-linking page (`link.py`);
- `/token` refuses a `resource` parameter that is not this server's MCP endpoint
  (`invalid_target`): the SDK parses it but leaves the check to the server.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from mcp.server.auth.handlers.metadata import MetadataHandler, ProtectedResourceMetadataHandler
from mcp.server.auth.routes import build_metadata, cors_middleware, create_auth_routes
from mcp.server.auth.settings import ClientRegistrationOptions, RevocationOptions
from mcp.shared.auth import ProtectedResourceMetadata
from pydantic import AnyHttpUrl
from starlette.routing import Route

from dversum_mcp.auth.link import CheckToken, link_routes
from dversum_mcp.auth.provider import SCOPE, RedisOAuthProvider
from dversum_mcp.auth.users import UserStore

__all__ = ["auth_routes", "replay_body"]

_CLIENT_AUTH_METHODS = ["none", "client_secret_post", "client_secret_basic"]


class _FormGuard:
    """ASGI wrapper for /token and /revoke. /token: a `resource` other than ours is
    `invalid_target` (RFC 8707 §2). /revoke: a public client sends no `client_secret`
    (RFC 7009 with `none` auth), which the SDK's request model requires; it is added empty."""

    def __init__(self, app: Any, resource: str | None, blank_secret: bool = False) -> None:
        self.app = app
        self.resource = resource.rstrip("/").lower() if resource else None
        self.blank_secret = blank_secret

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > 64 * 1024:
                await _answer(send, 413, {"error": "invalid_request", "error_description": "request body too large"})
                return
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        form = parse_qs(body.decode("latin-1"))
        if self.blank_secret and "client_secret" not in form:
            body += b"&client_secret=" if body else b"client_secret="
        resources = form.get("resource", []) if self.resource else []
        if any(r.rstrip("/").lower() != self.resource for r in resources):
            description = f"tokens are issued only for {self.resource}"
            await _answer(send, 400, {"error": "invalid_target", "error_description": description})
            return
        await self.app(scope, replay_body(body, receive), send)


def replay_body(body: bytes, receive: Any) -> Any:
    """An ASGI `receive` that hands on `body`, already read, as the whole request, then `receive`'s
    own messages (a disconnect)."""
    sent = False

    async def replayed() -> dict[str, Any]:
        nonlocal sent
        if sent:
            message: dict[str, Any] = await receive()
            return message
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


async def _answer(send: Any, status: int, body: dict[str, str]) -> None:
    headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


def auth_routes(provider: RedisOAuthProvider, users: UserStore, check: CheckToken) -> list[Route]:
    settings = provider.settings
    issuer = AnyHttpUrl(settings.public_url)
    registration = ClientRegistrationOptions(enabled=True, valid_scopes=[SCOPE], default_scopes=[SCOPE])
    revocation = RevocationOptions(enabled=True)
    routes = create_auth_routes(provider, issuer, None, registration, revocation)
    metadata = build_metadata(issuer, None, registration, revocation)
    metadata.client_id_metadata_document_supported = True
    metadata.token_endpoint_auth_methods_supported = _CLIENT_AUTH_METHODS
    metadata.revocation_endpoint_auth_methods_supported = _CLIENT_AUTH_METHODS
    out: list[Route] = []
    for route in routes:
        if route.path == "/.well-known/oauth-authorization-server":
            handler = cors_middleware(MetadataHandler(metadata).handle, ["GET", "OPTIONS"])
            route = Route(route.path, endpoint=handler, methods=["GET", "OPTIONS"])
        elif route.path == "/token":
            route = Route(
                route.path, endpoint=_FormGuard(route.app, settings.resource_url), methods=["POST", "OPTIONS"]
            )
        elif route.path == "/revoke":
            route = Route(route.path, endpoint=_FormGuard(route.app, None, True), methods=["POST", "OPTIONS"])
        out.append(route)
    prm = ProtectedResourceMetadata(
        resource=AnyHttpUrl(settings.resource_url),
        authorization_servers=[issuer],
        scopes_supported=[SCOPE],
        resource_name="dVersum",
    )
    prm_handler = cors_middleware(ProtectedResourceMetadataHandler(prm).handle, ["GET", "OPTIONS"])
    for path in ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"):
        out.append(Route(path, endpoint=prm_handler, methods=["GET", "OPTIONS"]))
    return out + link_routes(provider, users, check)
