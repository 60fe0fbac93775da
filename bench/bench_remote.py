"""Multi-user load: 16 users × 4 concurrent clients through nginx to 2 replicas (then to 1) for 60 s.

    python bench/bench_remote.py [--quick] [--duration 60] [--users 16] [--clients 4] [--out FILE]

Everything real, on loopback: redis-server, the sandbox API (`sandbox_api.py`: one organization per
user, each with its own dVersum token, 120 requests/minute per token enforced), N server processes
(`serve --transport http --multi-user`) behind nginx (round robin, no sticky sessions), and the SDK's
MCP client at 2026-07-28 (stateless: every call may land on another replica). Each user signs in
through the OAuth flow with the linking form. Each client then loops until the end:

- every 1.6 s an API call, alternating `get_current_user` and `list_clients`: 4 clients ask for
  150 calls/minute per user, 25 % over dVersum's 120, so the shared Redis limiter has to hold them
  back across replicas;
- between them, as fast as answers come, `list_my_audit_log` (Redis only, no API request).

Checked on every answer: no error, and no data of another user (the organization id and name from
`get_current_user`, the client names from `list_clients`, the user id of every audit entry). From the
sandbox's own request log: the most API requests per token in any 60 s window (must be ≤ 120) and
the number of 429s. Reported: calls/s, p50/p99 latency per kind, and the 2-replica / 1-replica ratio.
All processes (and this load generator) share the machine's cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_util import BENCH_DIR, PYTHON, ROOT, base_env, machine, summary
from tests.remote.stack import free_port, login, nginx_conf, start_redis, stop, wait_http

__all__ = ["run"]

LIMIT = 120
API_PERIOD_S = 1.6
KEYS = "bench-" + secrets.token_hex(24)


def _max_in_window(times: list[float], window: float = 60.0) -> int:
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


async def _load(base: str, users: list[dict[str, Any]], clients: int, duration: float) -> dict[str, Any]:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    latencies: dict[str, list[float]] = {"api": [], "local": []}
    errors: list[str] = []
    leaks: list[str] = []
    calls = Counter[str]()
    others_orgs = {u["org_id"] for u in users} | {u["org_name"] for u in users}
    start = time.monotonic() + 1.0
    end = start + duration

    def check(user: dict[str, Any], tool: str, data: Any) -> None:
        text = json.dumps(data)
        foreign = [o for o in others_orgs if o in text and o not in (user["org_id"], user["org_name"])]
        if foreign:
            leaks.append(f"{user['org_name']} saw {foreign[:2]} in {tool}")
        if tool == "get_current_user" and (
            data["organization"]["id"] != user["org_id"] or data["id"] != user["user_id"]
        ):
            leaks.append(f"{user['org_name']}: get_current_user answered {data['organization']}")
        if tool == "list_clients" and [c["name"] for c in data["clients"]] != [user["client_name"]]:
            leaks.append(f"{user['org_name']}: list_clients answered {[c['name'] for c in data['clients']]}")
        if tool == "list_my_audit_log" and any(e["user"] != user["user_id"] for e in data["entries"]):
            leaks.append(f"{user['org_name']}: audit entries of another user")

    async def client(user: dict[str, Any], n: int) -> None:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {user['access']}"}, timeout=120)
        async with http, Client(streamable_http_client(base + "/mcp", http_client=http), mode="2026-07-28") as mcp:  # type: ignore[arg-type]
            await anyio.sleep_until(start) if hasattr(anyio, "sleep_until") else await anyio.sleep(
                start - time.monotonic()
            )
            next_api = start + n * API_PERIOD_S / clients
            flip = n % 2
            while (now := time.monotonic()) < end:
                if now >= next_api:
                    tool, args, kind = (
                        ("get_current_user", {}, "api") if flip else ("list_clients", {"per_page": 100}, "api")
                    )
                    flip ^= 1
                    next_api += API_PERIOD_S
                else:
                    tool, args, kind = "list_my_audit_log", {"limit": 5}, "local"
                t0 = time.perf_counter()
                try:
                    result = await mcp.call_tool(tool, args)
                except Exception as exc:  # every failure is counted, none stops the run
                    errors.append(f"{tool}: {type(exc).__name__}: {exc}"[:300])
                    continue
                latencies[kind].append((time.perf_counter() - t0) * 1000)
                calls[tool] += 1
                if result.is_error:
                    errors.append(f"{tool}: {json.dumps([c.model_dump() for c in result.content])[:300]}")
                    continue
                check(user, tool, result.structured_content)

    async with anyio.create_task_group() as tg:
        for user in users:
            for n in range(clients):
                tg.start_soon(client, user, n)
    elapsed = time.monotonic() - start
    total = sum(calls.values())
    return {
        "elapsed_s": round(elapsed, 2),
        "calls": dict(calls),
        "calls_total": total,
        "calls_per_s": round(total / elapsed, 1),
        "api_calls_per_s": round((calls["get_current_user"] + calls["list_clients"]) / elapsed, 2),
        "latency_ms": {
            "all": summary(latencies["api"] + latencies["local"], 1),
            "api": summary(latencies["api"], 1),
            "local": summary(latencies["local"], 1),
        },
        "errors": len(errors),
        "error_samples": errors[:5],
        "cross_user_responses": len(leaks),
        "leak_samples": leaks[:5],
    }


def _variant(replicas: int, users_n: int, clients: int, duration: float) -> dict[str, Any]:
    import httpx2

    tmp = Path(tempfile.mkdtemp(prefix="dversum-bench-remote-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        redis, redis_port = start_redis(tmp)
        procs.append(redis)
        api_port = free_port()
        users_file = tmp / "users.json"
        env = base_env(PYTHONPATH=str(ROOT / "src"))
        procs.append(
            subprocess.Popen(
                [
                    PYTHON,
                    str(BENCH_DIR / "sandbox_api.py"),
                    "--data-dir",
                    str(tmp / "sandbox"),
                    "--port",
                    str(api_port),
                    "--orgs",
                    str(users_n),
                    "--out",
                    str(users_file),
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=(tmp / "sandbox.log").open("wb"),
            )
        )
        origin = f"http://127.0.0.1:{api_port}"
        wait_http(origin + "/api/v1/me", procs[-1], timeout=120)
        users: list[dict[str, Any]] = json.loads(users_file.read_text())
        nginx_port = free_port()
        base = f"http://127.0.0.1:{nginx_port}"
        ports = [free_port() for _ in range(replicas)]
        server_env = base_env(
            PYTHONPATH=str(ROOT / "src"),
            DVERSUM_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
            DVERSUM_MCP_PUBLIC_URL=base,
            DVERSUM_MCP_SECRET_KEYS=KEYS,
            DVERSUM_BASE_URL=origin + "/api/v1",
        )
        for port in ports:
            procs.append(
                subprocess.Popen(
                    [
                        PYTHON,
                        "-m",
                        "dversum_mcp.cli",
                        "serve",
                        "--transport",
                        "http",
                        "--multi-user",
                        "--port",
                        str(port),
                        "--toolsets",
                        "all",
                    ],
                    env=server_env,
                    stdout=subprocess.DEVNULL,
                    stderr=(tmp / f"server{port}.log").open("wb"),
                )
            )
        for port, proc in zip(ports, procs[-replicas:], strict=True):
            wait_http(f"http://127.0.0.1:{port}/healthz", proc)
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        procs.append(
            subprocess.Popen(
                [nginx, "-p", str(tmp), "-c", str(nginx_conf(tmp, nginx_port, ports)), "-g", "daemon off;"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        wait_http(base + "/healthz", procs[-1], timeout=20)
        for i, user in enumerate(users):
            user["access"] = login(base, user["token"], redirect_port=50000 + i).access
        started = time.time()
        result = anyio.run(_load, base, users, clients, duration)
        seen = httpx2.get(origin + "/_bench/requests", timeout=30).json()
        by_key: dict[str, list[float]] = {}
        statuses = Counter[int]()
        for key, at, status in seen:
            statuses[status] += 1
            if at >= started:
                by_key.setdefault(key, []).append(at)
        per_user = [_max_in_window(by_key.get(hashlib.sha256(u["token"].encode()).hexdigest(), [])) for u in users]
        result.update(
            {
                "replicas": replicas,
                "users": users_n,
                "clients_per_user": clients,
                "api_status_counts": {str(k): v for k, v in sorted(statuses.items())},
                "api_429s": statuses[429],
                "max_api_requests_per_user_in_60s": max(per_user),
                "min_api_requests_per_user_in_60s": min(per_user),
                "users_within_limit": sum(n <= LIMIT for n in per_user),
            }
        )
        return result
    finally:
        for proc in reversed(procs):
            stop(proc, grace_s=15)
        shutil.rmtree(tmp, ignore_errors=True)


def run(quick: bool = False, duration: float | None = None, users: int = 16, clients: int = 4) -> dict[str, Any]:
    seconds = duration if duration is not None else (15.0 if quick else 60.0)
    two = _variant(2, users, clients, seconds)
    one = _variant(1, users, clients, seconds)
    ok = all(
        v["errors"] == 0 and v["cross_user_responses"] == 0 and v["api_429s"] == 0 and v["users_within_limit"] == users
        for v in (two, one)
    )
    return {
        "bench": "remote",
        "duration_s": seconds,
        "api_period_per_client_s": API_PERIOD_S,
        "runs": {"2_replicas": two, "1_replica": one},
        "ratio_2_vs_1": {
            "calls_per_s": round(two["calls_per_s"] / one["calls_per_s"], 2) if one["calls_per_s"] else None,
            "p50_ms": round(two["latency_ms"]["all"]["p50"] / one["latency_ms"]["all"]["p50"], 2),
            "p99_ms": round(two["latency_ms"]["all"]["p99"] / one["latency_ms"]["all"]["p99"], 2),
        },
        "all_checks_passed": ok,
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--duration", type=float)
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = run(args.quick, args.duration, args.users, args.clients)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    sys.exit(0 if result["all_checks_passed"] else 1)


if __name__ == "__main__":
    main()
