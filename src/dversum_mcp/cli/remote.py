"""`serve --transport http --multi-user` and `audit --user`: the team server from the command line.

The server runs under uvicorn through the ASGI factory `dversum_mcp.remote.app:create_app`, so
`--workers N` gives N processes; selection flags are handed to the workers as the environment
variables they stand for (never secrets: those come from the environment already).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import anyio

from dversum_mcp.config import Settings

__all__ = ["print_audit", "serve_multi_user"]


def serve_multi_user(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from dversum_mcp.auth.keys import KeyError_
    from dversum_mcp.auth.settings import RemoteSettings

    if args.transport != "http":
        print("dversum-mcp: --multi-user needs --transport http", file=sys.stderr)
        return 2
    if settings.dynamic:
        print("dversum-mcp: --multi-user lists a fixed tool set; --dynamic is not available", file=sys.stderr)
        return 2
    if settings.token:
        print("dversum-mcp: --multi-user uses each user's own token; unset DVERSUM_API_TOKEN", file=sys.stderr)
        return 2
    try:
        RemoteSettings.load()
    except KeyError_ as exc:
        print(f"dversum-mcp: {exc}", file=sys.stderr)
        return 2
    if settings.file_roots:
        print(
            "dversum-mcp: --multi-user never reads or writes the server's disk for its users (one shared folder "
            "would mix their files); unset DVERSUM_FILE_ROOTS",
            file=sys.stderr,
        )
        return 2
    if settings.extra_manifests:
        from dversum_mcp.api.hooks import HOOKS
        from dversum_mcp.tools.manifest import ManifestError, check_hooks, load_manifest

        try:
            check_hooks(load_manifest(extra=settings.extra_manifests), HOOKS)
        except ManifestError as exc:
            print(f"dversum-mcp: the endpoint table is malformed: {exc}", file=sys.stderr)
            return 2
    env = {
        "DVERSUM_TOOLSETS": ",".join(settings.toolsets),
        "DVERSUM_TOOLS": ",".join(settings.tools),
        "DVERSUM_EXCLUDE_TOOLS": ",".join(settings.exclude_tools),
        "DVERSUM_READ_ONLY": "1" if settings.read_only else "",
        "DVERSUM_DOCUMENTED_ONLY": "1" if settings.documented_only else "",
        "DVERSUM_NO_CONFIRM": "" if settings.confirm else "1",
        "DVERSUM_MCP_JSON_RESPONSE": "1" if args.json_response else "",
    }
    os.environ.update({k: v for k, v in env.items() if v})
    uvicorn.run(
        "dversum_mcp.remote.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=max(1, args.workers),
        log_config=None,
        log_level="warning",
        lifespan="on",
        proxy_headers=True,
        forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),  # the proxy's address
        timeout_graceful_shutdown=int(settings.call_timeout_s) + 5,
    )
    return 0


async def _audit(user: str, limit: int) -> list[dict[str, object]]:
    from dataclasses import asdict

    from redis.asyncio import Redis

    from dversum_mcp.auth.settings import RemoteSettings
    from dversum_mcp.remote.audit import AuditLog

    remote = RemoteSettings.load()
    redis = Redis.from_url(remote.redis_url, decode_responses=True)
    try:
        entries = await AuditLog(redis, remote.keys.derive("audit-args/v1")).read(user, limit)
    finally:
        await redis.aclose()
    return [asdict(e) for e in entries]


def print_audit(args: argparse.Namespace) -> int:
    rows = anyio.run(_audit, args.user, args.limit)
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    for row in rows:
        ids = ",".join(str(i) for i in row["resource_ids"]) if isinstance(row["resource_ids"], list) else ""
        error = f" ({row['error']})" if row["error"] else ""
        print(
            f"{row['at']}  {row['tool']:<28} {row['outcome']}{error:<16} {row['duration_ms']:>8} ms"
            f"  client={row['client']}  args={row['args_hmac'][:12] if isinstance(row['args_hmac'], str) else ''}"
            f"  ids={ids}"
        )
    if not rows:
        print(f"no audit entries for {args.user}", file=sys.stderr)
    return 0
