"""`dversum-mcp sandbox serve|seed|reset|outbox`: the embedded sandbox from the command line.

`serve` runs the sandbox API on loopback (default 127.0.0.1:8080) so any HTTP client can use
it; the token it prints is a local demo credential for that sandbox only.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import anyio

__all__ = ["run_sandbox_command"]


async def _seeded(settings: Any) -> Any:
    from dversum_sandbox.seed.workspace import ensure_seeded

    return await ensure_seeded(settings)


async def _outbox(settings: Any) -> int:
    import httpx2

    from dversum_mcp.cli.backend import SANDBOX_BASE_URL
    from dversum_mcp.tools.endpoints import Endpoints
    from dversum_mcp.tools.manifest import load_manifest
    from dversum_sandbox import create_app

    seeded = await _seeded(settings)
    app = create_app(settings)
    try:
        async with httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app),
            base_url=SANDBOX_BASE_URL,
            headers={"Authorization": f"Bearer {seeded.token}"},
        ) as client:
            method, path = Endpoints(load_manifest())("read_sandbox_outbox")
            response = await client.request(method, path, params={"per_page": 100})
            print(json.dumps(response.json(), indent=2, ensure_ascii=False))
    finally:
        await app.aclose()
    return 0


def run_sandbox_command(args: argparse.Namespace) -> int:
    from dversum_sandbox import SandboxSettings
    from dversum_sandbox.seed.workspace import reset

    settings = SandboxSettings.from_env()
    command = args.sandbox_command
    if command == "reset":
        reset(settings)
        print(f"sandbox reset: {settings.data_dir}", file=sys.stderr)
        return 0
    if command == "seed":
        if args.force:
            reset(settings)
        seeded = anyio.run(_seeded, settings)
        print(f"sandbox seeded in {settings.data_dir}", file=sys.stderr)
        print(seeded.token)
        return 0
    if command == "outbox":
        return anyio.run(_outbox, settings)
    if command == "serve":
        import uvicorn

        from dversum_sandbox import create_app

        seeded = anyio.run(_seeded, settings)
        print(
            f"dVersum sandbox API on http://{args.host}:{args.port}/api/v1\n"
            f"token (sandbox only): {seeded.token}\n"
            f"try: curl -H 'Authorization: Bearer {seeded.token}' http://{args.host}:{args.port}/api/v1/clients",
            file=sys.stderr,
        )
        uvicorn.run(create_app(settings), host=args.host, port=args.port, log_config=None, log_level="warning")
        return 0
    raise SystemExit(f"unknown sandbox command {command}")
