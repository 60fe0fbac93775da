"""Memory: resident set size of the server process, idle and after 1,000 and 10,000 tool calls.

    python bench/bench_memory.py [--calls N]

`dversum-mcp` over stdio with the in-process sandbox (no token), read tools in rotation
(list_clients, get_client, list_projects, list_invoices, get_current_user). VmRSS (current)
and VmHWM (peak) come from /proc/<pid>/status after `tools/list` (idle) and every 1,000
calls. Growth between 1,000 and the last sample beyond noise (2 MiB or 3 %) would be a leak.
The real-API mode (token set, nothing sent) is measured idle only.

Expected, bounded growth: the rate limits are lifted for the bench, so the server's and the
sandbox's sliding windows each keep every stamp of the last 60 s (≈ 32 B per call each,
≈ 0.5 MiB at 10,000 calls in < 60 s); at the real 120/minute they hold 120 stamps.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_startup import server_cmd
from bench_util import StdioPeer, base_env, machine, rss_kib

__all__ = ["run"]

UNLIMITED = "1000000"
NOISE_KIB = 2048
NOISE_FRACTION = 0.03


def _idle_real() -> dict[str, int]:
    env = base_env(DVERSUM_API_TOKEN="dummy", DVERSUM_BASE_URL="http://127.0.0.1:9/api/v1")
    with StdioPeer(server_cmd(), env) as peer:
        peer.initialize()
        peer.request("tools/list", {})
        return rss_kib(peer.pid)


def run(quick: bool = False, calls: int | None = None) -> dict[str, Any]:
    calls = calls or (2000 if quick else 10_000)
    tmp = Path(tempfile.mkdtemp(prefix="dversum-bench-memory-"))
    env = base_env(
        DVERSUM_SANDBOX_DIR=str(tmp / "sandbox"),
        DVERSUM_RATE_LIMIT=UNLIMITED,
        DVERSUM_SANDBOX_RATE_LIMIT=UNLIMITED,
    )
    samples: list[dict[str, int]] = []
    try:
        with StdioPeer(server_cmd(), env) as peer:
            peer.initialize()
            peer.request("tools/list", {})
            idle = rss_kib(peer.pid)
            client_id = peer.call("list_clients", {"per_page": 1})["structuredContent"]["clients"][0]["id"]
            rotation: list[tuple[str, dict[str, Any]]] = [
                ("list_clients", {"per_page": 25}),
                ("get_client", {"client_id": client_id}),
                ("list_projects", {}),
                ("list_invoices", {"per_page": 10}),
                ("get_current_user", {}),
            ]
            errors = 0
            for i in range(1, calls + 1):
                name, args = rotation[i % len(rotation)]
                if peer.call(name, args).get("isError"):
                    errors += 1
                if i % 1000 == 0:
                    samples.append({"calls": i, **rss_kib(peer.pid)})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    at_1k = next(s for s in samples if s["calls"] == 1000)
    last = samples[-1]
    growth = last["VmRSS"] - at_1k["VmRSS"]
    return {
        "machine": machine(),
        "calls": calls,
        "errors": errors,
        "idle_kib": idle,
        "idle_real_api_kib": _idle_real(),
        "samples": samples,
        "rss_1k_kib": at_1k["VmRSS"],
        "rss_last_kib": last["VmRSS"],
        "peak_last_kib": last["VmHWM"],
        "growth_1k_to_last_kib": growth,
        "leak_suspected": growth > max(NOISE_KIB, NOISE_FRACTION * at_1k["VmRSS"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(json.dumps(run(args.quick, args.calls), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
