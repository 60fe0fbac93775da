"""The sandbox API for bench_remote.py, with one organization per bench user and a request log.

    python bench/sandbox_api.py --data-dir DIR --port PORT --orgs 16 --out users.json

Sandbox-side only (imports dversum_sandbox, never dversum_mcp). The sandbox seeds two tokens and its
API cannot create organizations, so this helper makes `--orgs` more workspaces the way the seed
does (`accounts.create_workspace`: an organization, its owner, a token), gives each one client named
after its organization (through the sandbox API, on a throwaway app instance so the served one starts
with an empty rate window), writes `[{token, org_id, org_name, user_id, client_name}]` to `--out`, and
serves the API on 127.0.0.1 with dVersum's 120 requests/minute per token. `GET /_bench/requests`
answers every API request seen so far as `[sha256(token), unix time, status]` (the bench computes the
per-token rate and counts 429s from it; the tokens themselves are never in it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
import uvicorn
from starlette.types import Message, Receive, Scope, Send

from dversum_sandbox import SandboxSettings, create_app
from dversum_sandbox.resources import accounts
from dversum_sandbox.seed.workspace import ensure_seeded


async def _prepare(settings: SandboxSettings, orgs: int) -> list[dict[str, str]]:
    await ensure_seeded(settings)
    app = create_app(settings)
    users: list[dict[str, str]] = []
    try:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for i in range(orgs):
            name = f"Bench Org {i:02d} GmbH"
            with app.db.transaction():
                org_id, user_id, token = accounts.create_workspace(
                    app.db,
                    name,
                    f"Bench User {i:02d}",
                    f"user{i:02d}@bench-org-{i:02d}.example",
                    f"bench{i:02d}",
                    stamp,
                )
            users.append(
                {
                    "token": token,
                    "org_id": org_id,
                    "org_name": name,
                    "user_id": user_id,
                    "client_name": f"Kunde of {name}",
                }
            )
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://sandbox") as http:
            for user in users:
                response = await http.post(
                    "/api/v1/clients",
                    json={"name": user["client_name"]},
                    headers={"Authorization": f"Bearer {user['token']}"},
                )
                assert response.status_code == 201, response.text
    finally:
        await app.aclose()
    return users


class Recording:
    """ASGI wrapper: remembers (sha256 of the bearer token, time, status) of every /api/ request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[tuple[str, float, int]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/_bench/requests":
            body = json.dumps(self.seen).encode()
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
            )
            await send({"type": "http.response.body", "body": body})
            return
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        auth = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        key = hashlib.sha256(auth[7:].strip().encode()).hexdigest() if auth.lower().startswith("bearer ") else ""
        arrived = time.time()

        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.seen.append((key, arrived, int(message["status"])))
            await send(message)

        await self.app(scope, receive, record)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--orgs", type=int, default=16)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    settings = SandboxSettings(data_dir=args.data_dir, deliver_webhooks=False)
    users = anyio.run(_prepare, settings, args.orgs)
    args.out.write_text(json.dumps(users))
    uvicorn.run(Recording(create_app(settings)), host="127.0.0.1", port=args.port, log_config=None, log_level="warning")


if __name__ == "__main__":
    main()
