"""Cold start: spawn → `initialize` answered → `tools/list` answered, for dversum-mcp and the floor.

    python bench/bench_startup.py [--runs N]

The floor is `bench/floor_server.py` (the SDK's low-level Server, one tool, stdio). Runs are
interleaved (floor, real, sandbox, floor, …) so machine noise hits every variant alike, and
the medians are compared. Variants:

- real: `DVERSUM_API_TOKEN=dummy`, base URL on a closed loopback port; no request is made;
- real_nocache: the same with an empty cache directory each time (no validated-table cache:
  the first start after installing or upgrading);
- sandbox: no token, an already seeded sandbox directory (the usual second and later start);
- sandbox_seed: no token, an empty directory each time (the first start ever: seeds the demo).

Every child gets its own XDG_CACHE_HOME below a temporary directory, never the user's.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_util import BENCH_DIR, PYTHON, StdioPeer, base_env, machine, summary

__all__ = ["run"]


def server_cmd() -> list[str]:
    script = Path(PYTHON).parent / "dversum-mcp"
    return [str(script)] if script.exists() else [PYTHON, "-m", "dversum_mcp.cli"]


def _once(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int, float]:
    """(ms to initialize answered, ms to tools/list answered, tools listed, CPU ms of the whole child)."""
    peer = StdioPeer(cmd, env)
    try:
        peer.initialize()
        t_init = time.perf_counter()
        tools = peer.request("tools/list", {})
        t_list = time.perf_counter()
    finally:
        peer.close()
    cpu = (peer.cpu_s or 0.0) * 1000
    return (t_init - peer.started) * 1000, (t_list - peer.started) * 1000, len(tools["tools"]), cpu


def run(quick: bool = False, runs: int | None = None) -> dict[str, Any]:
    runs = runs or (3 if quick else 15)
    seed_runs = 1 if quick else 3
    tmp = Path(tempfile.mkdtemp(prefix="dversum-bench-startup-"))
    try:
        warm_dir = tmp / "warm"
        cache = str(tmp / "cache")
        real = {"DVERSUM_API_TOKEN": "dummy", "DVERSUM_BASE_URL": "http://127.0.0.1:9/api/v1"}
        variants: dict[str, tuple[list[str], dict[str, str]]] = {
            "floor": ([PYTHON, str(BENCH_DIR / "floor_server.py")], base_env()),
            "real": (server_cmd(), base_env(XDG_CACHE_HOME=cache, **real)),
            "sandbox": (server_cmd(), base_env(XDG_CACHE_HOME=cache, DVERSUM_SANDBOX_DIR=str(warm_dir))),
        }
        # untimed: seed the warm sandbox, fill the table cache, warm the OS page cache
        for cmd, env in variants.values():
            _once(cmd, env)
        samples: dict[str, list[tuple[float, float, int, float]]] = {name: [] for name in variants}
        samples["real_nocache"] = []
        samples["sandbox_seed"] = []
        for i in range(runs):
            for name, (cmd, env) in variants.items():
                samples[name].append(_once(cmd, env))
            empty_cache = str(tmp / f"cache{i}")
            samples["real_nocache"].append(_once(server_cmd(), base_env(XDG_CACHE_HOME=empty_cache, **real)))
            if i < seed_runs:
                fresh = str(tmp / f"seed{i}")
                samples["sandbox_seed"].append(
                    _once(server_cmd(), base_env(XDG_CACHE_HOME=cache, DVERSUM_SANDBOX_DIR=fresh))
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out: dict[str, Any] = {"runs": runs, "machine": machine(), "variants": {}}
    for name, rows in samples.items():
        out["variants"][name] = {
            "initialize_ms": summary([r[0] for r in rows], 1),
            "tools_list_ms": summary([r[1] for r in rows], 1),
            "cpu_ms": summary([r[3] for r in rows], 1),
            "tools": rows[0][2] if rows else 0,
        }
    floor = out["variants"]["floor"]["tools_list_ms"]["p50"]
    floor_cpu = out["variants"]["floor"]["cpu_ms"]["p50"]
    for name in ("real", "real_nocache", "sandbox", "sandbox_seed"):
        v = out["variants"][name]
        v["ratio_vs_floor"] = round(v["tools_list_ms"]["p50"] / floor, 3)
        v["extra_ms_vs_floor"] = round(v["tools_list_ms"]["p50"] - floor, 1)
        v["cpu_ratio_vs_floor"] = round(v["cpu_ms"]["p50"] / floor_cpu, 3)
    # paired ratios (each run against the floor run just before it) are steadier under noise
    paired = [r[1] / f[1] for r, f in zip(samples["real"], samples["floor"], strict=True)]
    out["variants"]["real"]["paired_ratio_p50"] = round(statistics.median(paired), 3)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(json.dumps(run(args.quick, args.runs), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
