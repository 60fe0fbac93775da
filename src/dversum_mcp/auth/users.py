"""Linked users: who a subject is, and their dVersum token, encrypted at rest in Redis.

`dv:user:{id}` is a hash: `name`, `email`, `org_id`, `org_name`, `linked_at` and `token`,
the dVersum API token sealed with the key set (AES-256-GCM, the user id bound as associated
data). The subject of every access token is this id: the dVersum user id from `GET /me`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from dversum_mcp.auth.keys import KeyError_, KeySet

__all__ = ["LinkedUser", "UserStore"]

P = "dv:"
log = logging.getLogger("dversum_mcp.auth")


@dataclass(frozen=True)
class LinkedUser:
    id: str
    name: str
    email: str
    org_id: str
    org_name: str

    @classmethod
    def from_me(cls, me: dict[str, Any]) -> LinkedUser:
        org = me.get("organization") or {}
        return cls(
            id=str(me["id"]),
            name=str(me.get("name") or ""),
            email=str(me.get("email") or ""),
            org_id=str(org.get("id") or ""),
            org_name=str(org.get("name") or ""),
        )


class UserStore:
    def __init__(self, redis: Redis, keys: KeySet) -> None:
        self.redis = redis
        self.keys = keys

    async def link(self, user: LinkedUser, dversum_token: str) -> None:
        sealed = self.keys.encrypt(dversum_token.encode(), "user:" + user.id)
        await self.redis.hset(
            P + "user:" + user.id,
            mapping={
                "name": user.name,
                "email": user.email,
                "org_id": user.org_id,
                "org_name": user.org_name,
                "linked_at": str(int(time.time())),
                "token": sealed,
            },
        )

    async def get(self, user_id: str) -> LinkedUser | None:
        data = await self.redis.hgetall(P + "user:" + user_id)
        if not data:
            return None
        text = {str(k): str(v) for k, v in data.items()}
        return LinkedUser(
            user_id, text.get("name", ""), text.get("email", ""), text["org_id"], text.get("org_name", "")
        )

    async def token(self, user_id: str) -> str | None:
        sealed = await self.redis.hget(P + "user:" + user_id, "token")
        if sealed is None:
            return None
        try:
            token = self.keys.decrypt(sealed, "user:" + user_id).decode()
        except KeyError_:  # sealed under a key dropped from the set: the user links again (not_linked)
            log.warning("the token of user %s decrypts under no configured key; they must link again", user_id)
            return None
        if not self.keys.is_current(str(sealed)):  # sealed under an older key: re-seal under the current one
            resealed = self.keys.encrypt(token.encode(), "user:" + user_id)
            await self.redis.hset(P + "user:" + user_id, "token", resealed)
        return token
