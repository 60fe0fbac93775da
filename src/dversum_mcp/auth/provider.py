"""The OAuth 2.1 authorization server behind the SDK's auth routes, with all state in Redis.

Implements the SDK's `OAuthAuthorizationServerProvider` protocol. What the SDK's handlers
already check (PKCE S256, client authentication, redirect URI of the code, scope subset) is
not repeated here; what they leave to the provider is done here:

- `resource` (RFC 8707): an authorization request may only name this server's MCP endpoint;
  every token is bound to it (its audience), and the bearer check refuses any other.
- codes are single use (GETDEL), tokens and codes are stored only as SHA-256 hashes.
- refresh tokens rotate on every use; presenting a used one again (reuse) revokes its whole
  family, every access and refresh token that descends from the same authorization.
- revocation (RFC 7009) revokes the family of the token presented.
- the authorization page is this server's account-linking page (`link.py`); `authorize`
  parks the validated request in Redis and sends the browser there.

Redis keys (prefix `dv:`): `client:{id}`, `authreq:{id}`, `code:{sha}`, `at:{sha}`, `rt:{sha}`,
`rtclaim:{sha}`, `fam:{id}` (members), `famx:{id}` (revoked), `user:{id}` (see `users.py`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from typing import Any

from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    AuthorizeError,
    OAuthAuthorizationServerProvider,
    RefreshToken,
    RegistrationError,
    TokenError,
    construct_redirect_uri,
)
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from redis.asyncio import Redis

from dversum_mcp.auth.cimd import CimdError, fetch_client_metadata, is_cimd_client_id
from dversum_mcp.auth.clients import DversumClient, redirect_uri_problem
from dversum_mcp.auth.keys import KeyError_
from dversum_mcp.auth.settings import RemoteSettings

__all__ = ["DversumAccessToken", "DversumRefreshToken", "PendingAuthorization", "RedisOAuthProvider", "token_hash"]

log = logging.getLogger("dversum_mcp.auth")
SCOPE = "mcp"
P = "dv:"
UNUSED_CLIENT_TTL_S = 24 * 3600  # a registration no token was issued to: gone after a day


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _same_resource(a: str, b: str) -> bool:
    return a.rstrip("/").lower() == b.rstrip("/").lower()


class DversumAccessToken(AccessToken):
    family: str = ""


class DversumRefreshToken(RefreshToken):
    family: str = ""


class PendingAuthorization:
    """A validated /authorize request waiting for the user on the linking page."""

    def __init__(self, request_id: str, client_id: str, client_name: str, data: dict[str, Any]) -> None:
        self.request_id = request_id
        self.client_id = client_id
        self.client_name = client_name
        self.data = data

    @property
    def redirect_uri(self) -> str:
        return str(self.data["redirect_uri"])

    @property
    def state(self) -> str | None:
        state = self.data.get("state")
        return state if isinstance(state, str) else None


class RedisOAuthProvider(
    OAuthAuthorizationServerProvider[AuthorizationCode, "DversumRefreshToken", "DversumAccessToken"]
):
    def __init__(self, redis: Redis, settings: RemoteSettings) -> None:
        self.redis = redis
        self.settings = settings

    # ---- clients -----------------------------------------------------------------------------
    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        if is_cimd_client_id(client_id):
            return await self._cimd_client(client_id)
        raw = await self.redis.get(P + "client:" + client_id)  # a token issued to it renews it (_mint), not a look
        if raw is None:
            return None
        record = json.loads(raw)
        secret = record.pop("client_secret_sealed", None)
        if isinstance(secret, str):
            try:
                record["client_secret"] = self.settings.keys.decrypt(secret, "client:" + client_id).decode()
            except KeyError_:  # sealed under a key dropped from the set: an unknown client, it registers again
                log.warning("client %s: its secret decrypts under no configured key; treated as unknown", client_id)
                return None
        return DversumClient.model_validate(record)

    async def _cimd_client(self, client_id: str) -> DversumClient | None:
        key = P + "cimd:" + token_hash(client_id)
        cached = await self.redis.get(key)
        if cached is not None:
            return DversumClient.model_validate_json(cached)
        try:
            client = await fetch_client_metadata(client_id, allowed_hosts=self.settings.cimd_hosts)
        except CimdError as exc:
            log.info("client metadata document refused: %s", exc)
            return None
        await self.redis.set(key, client.model_dump_json(exclude_none=True), ex=300)
        return client

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        if client_info.client_id is None or is_cimd_client_id(client_info.client_id):
            raise RegistrationError("invalid_client_metadata", "client_id must not be a URL")
        for uri in client_info.redirect_uris or []:
            problem = redirect_uri_problem(str(uri))
            if problem is not None:
                raise RegistrationError("invalid_redirect_uri", problem)
        record = client_info.model_dump(mode="json", exclude_none=True)
        secret = record.pop("client_secret", None)
        if isinstance(secret, str):
            record["client_secret_sealed"] = self.settings.keys.encrypt(
                secret.encode(), "client:" + client_info.client_id
            )
        # a stranger can register: an unused record lives a day at most; each token issued to the client
        # (_mint: sign-in and refresh) renews it to a refresh token's lifetime, so abandoned ones leave Redis
        ttl = min(UNUSED_CLIENT_TTL_S, self.settings.refresh_ttl_s)
        await self.redis.set(P + "client:" + client_info.client_id, json.dumps(record), ex=ttl)

    # ---- authorization -----------------------------------------------------------------------
    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        if params.resource is not None and not _same_resource(params.resource, self.settings.resource_url):
            raise AuthorizeError("invalid_target", f"this server only issues tokens for {self.settings.resource_url}")
        request_id = secrets.token_urlsafe(24)
        data = {
            "client_id": client.client_id,
            "client_name": client.client_name or client.client_id,
            "state": params.state,
            "scopes": params.scopes or [SCOPE],
            "code_challenge": params.code_challenge,
            "redirect_uri": str(params.redirect_uri),
            "redirect_uri_provided_explicitly": params.redirect_uri_provided_explicitly,
            "resource": self.settings.resource_url,
        }
        await self.redis.set(P + "authreq:" + request_id, json.dumps(data), ex=self.settings.code_ttl_s)
        return f"{self.settings.public_url}/link?req={request_id}"

    async def pending(self, request_id: str) -> PendingAuthorization | None:
        raw = await self.redis.get(P + "authreq:" + request_id) if request_id else None
        if raw is None:
            return None
        data = json.loads(raw)
        return PendingAuthorization(request_id, data["client_id"], data["client_name"], data)

    async def finish(self, pending: PendingAuthorization, subject: str | None) -> str:
        """The user decided: a redirect back to the client with a code (or access_denied)."""
        if await self.redis.getdel(P + "authreq:" + pending.request_id) is None:
            raise AuthorizeError("invalid_request", "this authorization request was already used or has expired")
        if subject is None:
            return construct_redirect_uri(pending.redirect_uri, error="access_denied", state=pending.state)
        code = secrets.token_urlsafe(32)
        record = {**pending.data, "subject": subject, "expires_at": time.time() + self.settings.code_ttl_s}
        await self.redis.set(P + "code:" + token_hash(code), json.dumps(record), ex=self.settings.code_ttl_s)
        return construct_redirect_uri(pending.redirect_uri, code=code, state=pending.state)

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> AuthorizationCode | None:
        raw = await self.redis.get(P + "code:" + token_hash(authorization_code))
        if raw is None:
            return None
        data = json.loads(raw)
        if data["client_id"] != client.client_id:
            return None
        return AuthorizationCode(
            code=authorization_code,
            scopes=data["scopes"],
            expires_at=data["expires_at"],
            client_id=data["client_id"],
            code_challenge=data["code_challenge"],
            redirect_uri=data["redirect_uri"],
            redirect_uri_provided_explicitly=data["redirect_uri_provided_explicitly"],
            resource=data["resource"],
            subject=data["subject"],
        )

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> OAuthToken:
        if await self.redis.getdel(P + "code:" + token_hash(authorization_code.code)) is None:
            raise TokenError("invalid_grant", "authorization code already used or expired")
        resource = authorization_code.resource or self.settings.resource_url
        if not _same_resource(resource, self.settings.resource_url):
            raise TokenError("invalid_target", "the code was issued for another resource")
        assert client.client_id is not None and authorization_code.subject is not None
        return await self._mint(
            client.client_id, authorization_code.scopes, authorization_code.subject, secrets.token_urlsafe(16)
        )

    async def _mint(self, client_id: str, scopes: list[str], subject: str, family: str) -> OAuthToken:
        if await self.redis.exists(P + "famx:" + family):
            raise TokenError("invalid_grant", "this grant was revoked")
        now = int(time.time())
        access, refresh = "dvat_" + secrets.token_urlsafe(32), "dvrt_" + secrets.token_urlsafe(32)
        s = self.settings
        base = {"client_id": client_id, "scopes": scopes, "subject": subject, "family": family}
        at = {**base, "expires_at": now + s.access_ttl_s, "resource": s.resource_url}
        rt = {**base, "expires_at": now + s.refresh_ttl_s, "resource": s.resource_url, "used": False}
        at_key, rt_key = P + "at:" + token_hash(access), P + "rt:" + token_hash(refresh)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(at_key, json.dumps(at), ex=s.access_ttl_s)
            pipe.set(rt_key, json.dumps(rt), ex=s.refresh_ttl_s)
            pipe.sadd(P + "fam:" + family, at_key, rt_key)
            pipe.expire(P + "fam:" + family, s.refresh_ttl_s)
            pipe.expire(P + "client:" + client_id, s.refresh_ttl_s)  # in use: kept while its refresh token lives
            await pipe.execute()
        return OAuthToken(
            access_token=access,
            token_type="Bearer",  # noqa: S106 - a token type, not a secret
            expires_in=s.access_ttl_s,
            scope=" ".join(scopes),
            refresh_token=refresh,
        )

    # ---- refresh: rotation and reuse detection -----------------------------------------------
    async def load_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: str
    ) -> DversumRefreshToken | None:
        raw = await self.redis.get(P + "rt:" + token_hash(refresh_token))
        if raw is None:
            return None
        data = json.loads(raw)
        if data.get("used"):
            log.warning("refresh token reused: revoking its grant (client %s)", data["client_id"])
            await self.revoke_family(data["family"])
            return None
        if data["client_id"] != client.client_id:
            return None
        return DversumRefreshToken(
            token=refresh_token,
            client_id=data["client_id"],
            scopes=data["scopes"],
            expires_at=data["expires_at"],
            resource=data["resource"],
            subject=data["subject"],
            family=data["family"],
        )

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: DversumRefreshToken, scopes: list[str]
    ) -> OAuthToken:
        key = P + "rt:" + token_hash(refresh_token.token)
        claimed = await self.redis.set(
            P + "rtclaim:" + token_hash(refresh_token.token), "1", nx=True, ex=self.settings.refresh_ttl_s
        )
        if not claimed:  # two uses racing: the loser is a reuse
            await self.revoke_family(refresh_token.family)
            raise TokenError("invalid_grant", "refresh token already used; the grant is revoked")
        raw = await self.redis.get(key)
        if raw is not None:
            data = json.loads(raw)
            data["used"] = True
            await self.redis.set(key, json.dumps(data), keepttl=True)
        assert refresh_token.subject is not None and client.client_id is not None
        return await self._mint(
            client.client_id, scopes or refresh_token.scopes, refresh_token.subject, refresh_token.family
        )

    # ---- access tokens and revocation --------------------------------------------------------
    async def load_access_token(self, token: str) -> DversumAccessToken | None:
        raw = await self.redis.get(P + "at:" + token_hash(token))
        if raw is None:
            return None
        data = json.loads(raw)
        if data["expires_at"] < time.time():
            return None
        return DversumAccessToken(
            token=token,
            client_id=data["client_id"],
            scopes=data["scopes"],
            expires_at=data["expires_at"],
            resource=data["resource"],
            subject=data["subject"],
            family=data["family"],
        )

    async def revoke_token(self, token: DversumAccessToken | DversumRefreshToken) -> None:
        await self.revoke_family(token.family)

    async def revoke_family(self, family: str) -> None:
        members = await self.redis.smembers(P + "fam:" + family)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(P + "famx:" + family, "1", ex=self.settings.refresh_ttl_s)
            if members:
                pipe.delete(*members)
            pipe.delete(P + "fam:" + family)
            await pipe.execute()
