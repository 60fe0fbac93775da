"""Rate-limited bulk: 500 tool calls against a sandbox that enforces dVersum's 120 requests/minute.

    python bench/bench_ratelimit.py [--calls N] [--concurrency C]

Time is scaled down 50×: the sandbox allows 120 requests per 1.2 s (`SandboxSettings(rate_limit=120,
rate_window_s=1.2)`) and the server's client-side limiter is `RateLimiter(120, 1.2)`, so 500
calls take ~5 s instead of ~4 minutes; everything else is the real path (server, SDK
in-memory client, API client, in-process sandbox). Reported:

- results the model would see with error `rate_limited` (target: 0);
- 429 answers the sandbox sent (the client retries those after Retry-After; they cost time);
- achieved rate = calls / elapsed, against the allowed 100/s (target ≥ 95 %), and against the
  best possible schedule from an empty window (the first 120 at once, then 120 per window).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_util import machine, summary

__all__ = ["run"]

LIMIT = 120
WINDOW_S = 1.2


async def _bulk(calls: int, concurrency: int) -> dict[str, Any]:
    import httpx2
    from mcp import Client

    from dversum_mcp.api.client import ApiClient
    from dversum_mcp.api.limiter import RateLimiter
    from dversum_mcp.cli.backend import SANDBOX_BASE_URL
    from dversum_mcp.config import Secret, Settings
    from dversum_mcp.server.handlers import ServerState, build_server
    from dversum_mcp.tools.registry import Registry, Selection
    from dversum_sandbox import SandboxSettings, create_app
    from dversum_sandbox.seed.workspace import ensure_seeded

    tmp = Path(tempfile.mkdtemp(prefix="dversum-bench-rate-"))
    statuses: list[int] = []

    class Counting(httpx2.AsyncBaseTransport):
        def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
            self.inner = inner

        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            response = await self.inner.handle_async_request(request)
            statuses.append(response.status_code)
            return response

    try:
        seeded = await ensure_seeded(SandboxSettings(data_dir=tmp, rate_limit=1_000_000))  # seeding is not measured
        app = create_app(SandboxSettings(data_dir=tmp, rate_limit=LIMIT, rate_window_s=WINDOW_S))
        api = ApiClient(
            base_url=SANDBOX_BASE_URL,
            token=seeded.token,
            transport=Counting(httpx2.ASGITransport(app=app)),
            limiter=RateLimiter(LIMIT, WINDOW_S),
        )
        state = ServerState(Settings(token=Secret("")), Registry(), api, Selection(sandbox=True))
        outcomes: list[tuple[bool, str | None]] = []
        latencies: list[float] = []
        done: list[float] = []
        started = 0.0
        async with api, Client(build_server(state), mode="legacy") as client:
            first = await api.request("GET", "/clients", query={"per_page": 5})
            ids = [c["id"] for c in first.data["clients"]]
            # a fresh window for the measured run: the probe request above must age out
            await anyio.sleep(WINDOW_S + 0.05)
            statuses.clear()
            todo = iter(range(calls))

            async def caller() -> None:
                for i in todo:
                    if i % 2:
                        name, args = "get_client", {"client_id": ids[i % len(ids)]}
                    else:
                        name, args = "list_clients", {"per_page": 10}
                    t0 = time.perf_counter()
                    result = await client.call_tool(name, args)
                    t1 = time.perf_counter()
                    latencies.append((t1 - t0) * 1000)
                    done.append(t1 - started)
                    error = (result.structured_content or {}).get("error") if result.is_error else None
                    outcomes.append((bool(result.is_error), error))

            started = time.perf_counter()
            async with anyio.create_task_group() as group:
                for _ in range(concurrency):
                    group.start_soon(caller)
            elapsed = time.perf_counter() - started
        await app.aclose()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    allowed = LIMIT / WINDOW_S
    ideal = ((calls - 1) // LIMIT) * WINDOW_S  # last call may start at this time from an empty window
    achieved = calls / elapsed
    return {
        "calls": calls,
        "concurrency": concurrency,
        "limit": LIMIT,
        "window_s": WINDOW_S,
        "elapsed_s": round(elapsed, 3),
        "allowed_rate_per_s": round(allowed, 1),
        "achieved_rate_per_s": round(achieved, 1),
        "achieved_vs_allowed": round(achieved / allowed, 3),
        "ideal_elapsed_s": round(ideal, 3),
        "vs_ideal_schedule": round(ideal / elapsed, 3) if elapsed else None,
        "rate_limited_results": sum(1 for _, e in outcomes if e == "rate_limited"),
        "error_results": sum(1 for failed, _ in outcomes if failed),
        "sandbox_429s": statuses.count(429),
        "requests_sent": len(statuses),
        "latency_ms": summary(latencies, 2),
        "completed_at_s": [round(t, 3) for t in sorted(done)],
    }


def run(quick: bool = False, calls: int = 500, concurrency: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"machine": machine(), "runs": {}}
    for c in (1,) if quick else (1, 8):
        if concurrency is not None and c != concurrency:
            continue
        out["runs"][f"concurrency_{c}"] = anyio.run(_bulk, calls, c)
    if concurrency is not None and not out["runs"]:
        out["runs"][f"concurrency_{concurrency}"] = anyio.run(_bulk, calls, concurrency)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--concurrency", type=int)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(json.dumps(run(args.quick, args.calls, args.concurrency), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
